"""Controller-side private CA for TabPy TLS certificates.

Pure logic: standard library + ``cryptography`` only (no pyinfra), so it can be unit tested
without hosts.  Layout under ``pki_dir``::

    ca/root.crt  ca/root.key  ca/intermediate.crt  ca/intermediate.key     the active CA
    ca/next/{root,intermediate}.{crt,key}     a new root staged by rotate-root (trusted, idle)
    ca/previous/root-<sha256>.crt             old roots, still trusted until retire-root
    ca/retired/<role>-<sha256>.crt            no longer trusted: removed from every client
    hosts/<fqdn>/cert.pem  hosts/<fqdn>/key.pem  hosts/<fqdn>/chain.pem

Rotation (see docs/certificates.md): ``rotate_intermediate`` (same root, immediate), and for
the root ``stage_root`` -> (deploy: clients trust both) -> ``activate_root`` -> (deploy: servers get
leaves from the new root) -> ``retire_previous_roots`` -> (deploy: clients drop the old root).

Every folder is 0700 and every file 0600, written atomically (temporary file in the same folder,
then ``os.replace``).  Keys are EC (P-384 for the CA, P-256 for servers): fast to generate and
accepted by Tableau (Java), OpenSSL and Python's ``ssl``.

Re-running is idempotent: an existing CA is loaded, and a server certificate is reused
byte-for-byte while it still fits, so a redeploy does not change files on the hosts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import secrets
import shutil
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    DNSName,
    ExtensionPolicy,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from tabpy_provision.controller.files import ControllerFileError, Staged, writing

__all__ = [
    "CaCert",
    "CertificateAuthority",
    "IssuedLeaf",
    "PkiError",
    "PrivateKey",
    "SuppliedCertificate",
    "activate_root",
    "certificate_summary",
    "chain_problems",
    "ensure_ca",
    "ensure_leaf",
    "key_strength_problem",
    "load_ca",
    "load_supplied_certificate",
    "order_chain",
    "supplied_anchors",
    "read_certificates",
    "retire_previous_roots",
    "rotate_intermediate",
    "stage_root",
    "validate_server_certificate",
]

PrivateKey = CertificateIssuerPrivateKeyTypes

ORGANIZATION = "tabpy-provision"
CA_DIR = "ca"
HOSTS_DIR = "hosts"
ROOT_CERT = "root.crt"
ROOT_KEY = "root.key"
INTERMEDIATE_CERT = "intermediate.crt"
INTERMEDIATE_KEY = "intermediate.key"
LEAF_CERT = "cert.pem"
LEAF_KEY = "key.pem"
LEAF_CHAIN = "chain.pem"
NEXT_DIR = "next"
PREVIOUS_DIR = "previous"
RETIRED_DIR = "retired"
ROOT = "root"
INTERMEDIATE = "intermediate"
#: An intermediate is re-issued by the root this many days before it expires (by ensure_ca).
INTERMEDIATE_RENEW_BEFORE_DAYS = 60
#: A root this close to its end must be rotated (rotate-root): reports flag it.
ROOT_ROTATE_BEFORE_DAYS = 90

#: Certificates are back-dated this much to tolerate clock skew between controller and clients.
BACKDATE = timedelta(minutes=5)
#: A renewal must gain at least this much validity, otherwise the old certificate is kept
#: (prevents a new key on every run when the issuer's own expiry is the limit).
_MIN_GAIN = timedelta(days=1)

_CA_CURVE = ec.SECP384R1()
_LEAF_CURVE = ec.SECP256R1()
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class PkiError(Exception):
    """A PKI problem the user can act on; the message is one line."""


# --------------------------------------------------------------------------------------------
# Certificate authority
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaCert:
    """One certificate of the private CA's registry, as clients and reports see it."""

    role: str  # ROOT or INTERMEDIATE
    state: str  # "active" (signs), "next" (staged root), "previous" (old root), "retired"
    cert: x509.Certificate
    path: Path

    @property
    def trusted(self) -> bool:
        """Clients must trust it (retired ones are removed from them)."""
        return self.state != "retired"


@dataclass(frozen=True)
class CertificateAuthority:
    root_cert: x509.Certificate
    intermediate_cert: x509.Certificate
    intermediate_key: PrivateKey
    root_pem: bytes  # PEM bytes as stored in ca/root.crt
    intermediate_pem: bytes  # PEM bytes as stored in ca/intermediate.crt
    #: What this call did or noticed, for reports ("created root CA", "renewed intermediate CA
    #: (...)", "root CA expires on ..."). Empty when an existing CA was simply loaded.
    notes: tuple[str, ...] = field(default=())
    #: Every certificate of the CA: active, staged, previous and retired (see read_registry).
    registry: tuple[CaCert, ...] = field(default=())

    @property
    def trusted_roots_pem(self) -> bytes:
        """The roots a client must trust now: active, staged and previous (what the health
        check trusts, too)."""
        return b"".join(to_pem(c.cert) for c in self.registry
                        if c.role == ROOT and c.trusted)


def ensure_ca(
    pki_dir: Path,
    *,
    common_name: str = "tabpy-provision",
    root_days: int = 3650,
    intermediate_days: int = 1825,
    intermediate_renew_before_days: int = INTERMEDIATE_RENEW_BEFORE_DAYS,
    now: datetime | None = None,
    files: Staged | None = None,
) -> CertificateAuthority:
    """Load the CA under ``pki_dir/ca``, creating whatever is missing (staged in ``files``:
    nothing is written until the run applies them; None: written at once).

    * no CA files: a new root and intermediate are created (all-or-nothing: built in a
      temporary folder, then moved into place);
    * root present, both intermediate files absent: a new intermediate is signed by the root
      (this is how an intermediate is rotated by hand: delete ``intermediate.*``);
    * all four present: loaded and checked (intermediate signed by root, key matches);
      an intermediate that is expired or expires within ``intermediate_renew_before_days`` is
      re-issued by the root (same root, so clients keep trusting the servers; the old one is
      moved to ``ca/retired``);
    * anything else (a half-present CA): :class:`PkiError` naming the file.

    ``common_name`` only applies to newly created certificates.  The root key is read only
    when the intermediate has to be signed.
    """
    pki_dir = Path(pki_dir)
    now = _now(now)
    _check_positive(root_days=root_days, intermediate_days=intermediate_days)
    if intermediate_renew_before_days < 0:
        raise PkiError("intermediate_renew_before_days must be 0 or more")
    if not 0 < len(common_name) <= 48:
        raise PkiError(f"CA common_name must be 1 to 48 characters, got {common_name!r}")

    with writing(files) as files:
        files.private_folders(pki_dir, pki_dir / CA_DIR)
        return _ensure_ca(files, pki_dir / CA_DIR, common_name, root_days, intermediate_days,
                          intermediate_renew_before_days, now)


def _ensure_ca(files: Staged, ca_dir: Path, common_name: str, root_days: int,
               intermediate_days: int, intermediate_renew_before_days: int,
               now: datetime) -> CertificateAuthority:
    paths = {name: ca_dir / name for name in (ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT,
                                              INTERMEDIATE_KEY)}
    present = {name: files.exists(path) for name, path in paths.items()}

    if not any(present.values()):
        _create_ca(files, ca_dir, common_name, root_days, intermediate_days, now,
                   what=f"create a new private CA in {ca_dir}")
        ca = _load_ca(files, ca_dir, now)
        return _finish(files, ca, ca_dir, now, "created root CA", "created intermediate CA")

    if present[ROOT_CERT] and present[ROOT_KEY] and not (
        present[INTERMEDIATE_CERT] or present[INTERMEDIATE_KEY]
    ):
        root_cert, root_pem = _load_cert_file(files, paths[ROOT_CERT])
        _check_root(root_cert, paths[ROOT_CERT], ca_dir, now)
        _issue_intermediate(files, ca_dir, root_cert, common_name, intermediate_days, now)
        ca = _load_ca(files, ca_dir, now)
        return _finish(files, ca, ca_dir, now, "created intermediate CA")

    missing = [name for name, ok in present.items() if not ok]
    if missing:
        have = ", ".join(name for name, ok in present.items() if ok)
        raise PkiError(
            f"incomplete CA in {ca_dir}: {paths[missing[0]]} is missing (present: {have}); "
            f"restore it from backup, or move {ca_dir} aside to create a new CA "
            "(Tableau must then trust the new root)"
        )

    ca = _load_ca(files, ca_dir, now)
    notes: list[str] = []
    inter_after = ca.intermediate_cert.not_valid_after_utc
    if inter_after - now <= timedelta(days=intermediate_renew_before_days):
        new_after = min(now + timedelta(days=intermediate_days), ca.root_cert.not_valid_after_utc)
        if new_after - inter_after >= _MIN_GAIN:
            _replace_intermediate(files, ca_dir, ca, common_name, intermediate_days, now)
            ca = _load_ca(files, ca_dir, now)
            notes.append(f"renewed intermediate CA ({_expiry_phrase(inter_after, now)})")
    return _finish(files, ca, ca_dir, now, *notes)


def _finish(files: Staged, ca: CertificateAuthority, ca_dir: Path, now: datetime,
            *notes: str) -> CertificateAuthority:
    """The loaded CA with what this call did, any root expiry warning and the registry."""
    registry = (CaCert(ROOT, "active", ca.root_cert, ca_dir / ROOT_CERT),
                CaCert(INTERMEDIATE, "active", ca.intermediate_cert, ca_dir / INTERMEDIATE_CERT),
                *_registry_extras(files, ca_dir, now))
    staged = any(c.state == "next" for c in registry)
    return dataclasses.replace(ca, notes=(*notes, *_root_expiry_notes(ca, now, staged)),
                               registry=registry)


def _root_expiry_notes(ca: CertificateAuthority, now: datetime, staged: bool) -> list[str]:
    root_after = ca.root_cert.not_valid_after_utc
    if staged or root_after - now > timedelta(days=ROOT_ROTATE_BEFORE_DAYS):
        return []
    return [f"root CA expires on {_day(root_after)}: rotate it before then "
            "(python -m tabpy_provision.ca INVENTORY rotate-root, see docs/certificates.md)"]


def _create_ca(
    files: Staged, ca_dir: Path, common_name: str, root_days: int, intermediate_days: int,
    now: datetime, *, what: str, generation: tuple[int, int] = (1, 1),
) -> None:
    root_key = ec.generate_private_key(_CA_CURVE)
    root_name = _name(_ca_name(common_name, "Root", generation[0]))
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=root_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, _hash_for(root_key))
    )
    inter_key = ec.generate_private_key(_CA_CURVE)
    inter_cert = _build_intermediate(root_cert, root_key, inter_key,
                                     _ca_name(common_name, "Intermediate", generation[1]),
                                     intermediate_days, now)

    # A new folder is built aside and renamed into place when the staging is applied, so an
    # interrupted first run never leaves half a CA behind.
    for name, data in ((ROOT_KEY, _key_pem(root_key)), (ROOT_CERT, to_pem(root_cert)),
                       (INTERMEDIATE_KEY, _key_pem(inter_key)),
                       (INTERMEDIATE_CERT, to_pem(inter_cert))):
        files.write_private(ca_dir / name, data, what)


def _ca_name(common_name: str, kind: str, generation: int) -> str:
    """"tabpy-provision Root CA", then "tabpy-provision Root CA G2" for its successor..."""
    return f"{common_name} {kind} CA" + (f" G{generation}" if generation > 1 else "")


def _build_intermediate(
    root_cert: x509.Certificate,
    root_key: PrivateKey,
    inter_key: PrivateKey,
    subject_cn: str,
    days: int,
    now: datetime,
) -> x509.Certificate:
    not_after = min(now + timedelta(days=days), root_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(root_cert.subject)
        .public_key(inter_key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()),
                       critical=False)
        .add_extension(_aki_from(root_cert), critical=False)
        .sign(root_key, _hash_for(root_key))
    )


def _issue_intermediate(
    files: Staged, ca_dir: Path, root_cert: x509.Certificate, common_name: str, days: int,
    now: datetime
) -> None:
    root_key_path = ca_dir / ROOT_KEY
    root_key = _load_key_file(files, root_key_path)
    if not _same_public_key(root_key, root_cert):
        raise PkiError(f"{root_key_path} does not match {ca_dir / ROOT_CERT}; restore the "
                       "matching key from backup")
    inter_key = ec.generate_private_key(_CA_CURVE)
    known = sum(1 for c in _registry_extras(files, ca_dir, now) if c.role == INTERMEDIATE)
    subject_cn = _ca_name(common_name, "Intermediate", known + 1)
    inter_cert = _build_intermediate(root_cert, root_key, inter_key, subject_cn, days, now)
    # Key first: an interruption leaves a key/cert mismatch that is reported, never a
    # certificate whose key is lost.
    what = f"issue a new intermediate CA in {ca_dir}"
    files.write_private(ca_dir / INTERMEDIATE_KEY, _key_pem(inter_key), what)
    files.write_private(ca_dir / INTERMEDIATE_CERT, to_pem(inter_cert), what)


def _load_ca(files: Staged, ca_dir: Path, now: datetime) -> CertificateAuthority:
    root_path = ca_dir / ROOT_CERT
    inter_path = ca_dir / INTERMEDIATE_CERT
    key_path = ca_dir / INTERMEDIATE_KEY
    root_cert, root_pem = _load_cert_file(files, root_path)
    _check_root(root_cert, root_path, ca_dir, now)
    inter_cert, inter_pem = _load_cert_file(files, inter_path)
    if not _is_ca(inter_cert):
        raise PkiError(f"{inter_path} is not a CA certificate; restore it from backup")
    if not _signed_by(inter_cert, root_cert):
        raise PkiError(
            f"{inter_path} is not signed by {root_path}; restore the matching files, or delete "
            "intermediate.crt and intermediate.key to issue a new intermediate"
        )
    inter_key = _load_key_file(files, key_path)
    if not _same_public_key(inter_key, inter_cert):
        raise PkiError(
            f"{key_path} does not match {inter_path}; restore the matching key, or delete "
            "intermediate.crt and intermediate.key to issue a new intermediate"
        )
    for path in (root_path, ca_dir / ROOT_KEY, inter_path, key_path):
        files.tighten(path)
    return CertificateAuthority(
        root_cert=root_cert,
        intermediate_cert=inter_cert,
        intermediate_key=inter_key,
        root_pem=root_pem,
        intermediate_pem=inter_pem,
    )


def _check_root(cert: x509.Certificate, path: Path, ca_dir: Path, now: datetime) -> None:
    if not (_is_ca(cert) and _signed_by(cert, cert)):
        raise PkiError(f"{path} is not a self-signed CA certificate; restore it from backup")
    if cert.not_valid_after_utc <= now:
        raise PkiError(
            f"root CA {path} expired on {_day(cert.not_valid_after_utc)}; move {ca_dir} aside "
            "to create a new CA (Tableau must then trust the new root)"
        )
    if cert.not_valid_before_utc > now:
        raise PkiError(
            f"root CA {path} is not valid until {_day(cert.not_valid_before_utc)}; "
            "check the controller clock"
        )


# --------------------------------------------------------------------------------------------
# Registry and rotation
# --------------------------------------------------------------------------------------------


def load_ca(pki_dir: Path, *, now: datetime | None = None,
            files: Staged | None = None) -> CertificateAuthority:
    """The existing CA and its registry, creating and renewing nothing (for reports and the
    rotation commands)."""
    ca_dir = Path(pki_dir) / CA_DIR
    now = _now(now)
    files = files or Staged()  # only read: nothing to apply
    if not files.exists(ca_dir / ROOT_CERT):
        raise PkiError(f"no private CA in {ca_dir} (a deploy creates it)")
    return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now)


def rotate_intermediate(pki_dir: Path, *, common_name: str = "tabpy-provision",
                        intermediate_days: int = 1825,
                        now: datetime | None = None) -> CertificateAuthority:
    """A new intermediate under the same root, effective at once; the old one is retired.

    The next deploy re-issues every leaf (TabPy restarts once). Clients that trust the root
    keep working throughout: leaves still served from the old intermediate stay valid, since
    each server sends its own chain and both intermediates are signed by the same root."""
    now = _now(now)
    ca_dir = Path(pki_dir) / CA_DIR
    _check_positive(intermediate_days=intermediate_days)
    with writing(None) as files:
        ca = load_ca(pki_dir, now=now, files=files)
        _replace_intermediate(files, ca_dir, ca, common_name, intermediate_days, now)
        return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now,
                       "rotated the intermediate CA")


def _replace_intermediate(files: Staged, ca_dir: Path, ca: CertificateAuthority,
                          common_name: str, days: int, now: datetime) -> None:
    _archive(files, ca_dir / RETIRED_DIR, INTERMEDIATE, ca.intermediate_cert)
    _issue_intermediate(files, ca_dir, ca.root_cert, common_name, days, now)


def stage_root(pki_dir: Path, *, common_name: str = "tabpy-provision", root_days: int = 3650,
               intermediate_days: int = 1825,
               now: datetime | None = None) -> CertificateAuthority:
    """Step 1 of a root rotation: a new root and intermediate in ca/next. Clients are given
    the new root by the next deploy; nothing is signed with it yet."""
    now = _now(now)
    ca_dir = Path(pki_dir) / CA_DIR
    _check_positive(root_days=root_days, intermediate_days=intermediate_days)
    with writing(None) as files:
        ca = load_ca(pki_dir, now=now, files=files)
        if any(c.state == "next" for c in ca.registry):
            raise PkiError(f"a new root is already staged in {ca_dir / NEXT_DIR}: deploy, then "
                           "activate-root")
        roots = sum(1 for c in ca.registry if c.role == ROOT)
        intermediates = sum(1 for c in ca.registry if c.role == INTERMEDIATE)
        _create_ca(files, ca_dir / NEXT_DIR, common_name, root_days, intermediate_days, now,
                   what=f"stage a new root CA in {ca_dir / NEXT_DIR}",
                   generation=(roots + 1, intermediates + 1))
        return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now, "staged a new root CA")


def activate_root(pki_dir: Path, *, now: datetime | None = None) -> CertificateAuthority:
    """Step 2: the staged root signs from now on; the old root stays trusted (ca/previous),
    its intermediate is retired. The next deploy re-issues every leaf from the new root.

    Safe to rerun after an interruption: it completes the switch."""
    now = _now(now)
    ca_dir = Path(pki_dir) / CA_DIR
    next_dir = ca_dir / NEXT_DIR
    if not next_dir.is_dir():
        raise PkiError(f"no staged root in {next_dir}: run rotate-root and deploy first")
    with writing(None) as files:
        staged = _load_ca(files, next_dir, now)
        current_root, _ = _load_cert_file(files, ca_dir / ROOT_CERT)
        if _fingerprint(current_root) != _fingerprint(staged.root_cert):
            _archive(files, ca_dir / PREVIOUS_DIR, ROOT, current_root)
            with suppress(PkiError):  # a half-done earlier run may have replaced it already
                old_intermediate, _ = _load_cert_file(files, ca_dir / INTERMEDIATE_CERT)
                _archive(files, ca_dir / RETIRED_DIR, INTERMEDIATE, old_intermediate)
        # Keys before certificates, as everywhere: an interruption leaves a mismatch that the
        # next load reports and a rerun of activate_root repairs.
        for name in (ROOT_KEY, ROOT_CERT, INTERMEDIATE_KEY, INTERMEDIATE_CERT):
            files.write_private(ca_dir / name, (next_dir / name).read_bytes(),
                                "activate the staged root CA")
    shutil.rmtree(next_dir)
    files = Staged()
    return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now, "activated the new root CA")


def retire_previous_roots(pki_dir: Path, *, now: datetime | None = None) -> list[CaCert]:
    """Step 3: the old roots are retired; the next deploy removes them from every client.
    Run it once every TabPy server serves a leaf from the new root."""
    now = _now(now)
    with writing(None) as files:
        ca = load_ca(pki_dir, now=now, files=files)
        previous = [c for c in ca.registry if c.state == "previous"]
        if not previous:
            raise PkiError(f"no previous root in {Path(pki_dir) / CA_DIR / PREVIOUS_DIR} to "
                           "retire (retire-root follows activate-root)")
        retired = []
        for entry in previous:
            path = _archive(files, Path(pki_dir) / CA_DIR / RETIRED_DIR, entry.role, entry.cert)
            files.remove(entry.path, "retire the previous root CA")
            retired.append(CaCert(entry.role, "retired", entry.cert, path))
        return retired


def _registry_extras(files: Staged, ca_dir: Path, now: datetime) -> list[CaCert]:
    """Staged, previous and retired certificates (the active pair is loaded by _load_ca)."""
    extras = []
    next_dir = ca_dir / NEXT_DIR
    if files.exists(next_dir):
        for name in (ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT, INTERMEDIATE_KEY):
            if not files.exists(next_dir / name):
                raise PkiError(f"incomplete staged root in {next_dir}: {name} is missing; "
                               f"remove {next_dir} and run rotate-root again")
        staged = _load_ca(files, next_dir, now)
        extras += [CaCert(ROOT, "next", staged.root_cert, next_dir / ROOT_CERT),
                   CaCert(INTERMEDIATE, "next", staged.intermediate_cert,
                          next_dir / INTERMEDIATE_CERT)]
    for state, folder in (("previous", PREVIOUS_DIR), ("retired", RETIRED_DIR)):
        for path in files.glob(ca_dir / folder, "*.crt"):
            role = path.name.split("-", 1)[0]
            if role not in (ROOT, INTERMEDIATE):
                raise PkiError(f"{path}: unexpected file name (root-*.crt or "
                               "intermediate-*.crt)")
            extras.append(CaCert(role, state, _load_cert_file(files, path)[0], path))
    return extras


def _archive(files: Staged, folder: Path, role: str, cert: x509.Certificate) -> Path:
    path = folder / f"{role}-{_fingerprint(cert)[:16]}.crt"
    if not files.exists(path):
        files.write_private(path, to_pem(cert), f"keep the {role} CA certificate in {folder}")
    return path


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# --------------------------------------------------------------------------------------------
# Server (leaf) certificates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedLeaf:
    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes  # leaf + intermediate, leaf first (what TabPy serves)
    root_pem: bytes  # what Tableau must trust
    not_after: datetime
    reissued: bool
    reason: str  # "new", "SANs changed (...)", "expires in 12 days (renewal window 30)", "reused"


def ensure_leaf(
    ca: CertificateAuthority,
    pki_dir: Path,
    fqdn: str,
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    days: int = 397,
    renew_before_days: int = 30,
    now: datetime | None = None,
    files: Staged | None = None,
) -> IssuedLeaf:
    """Return the server certificate for ``fqdn``, reusing the stored one while it fits.

    Reused (byte-identical) when cert and key parse and match, the certificate was signed by
    the current intermediate, its SANs equal the requested ones and it does not expire within
    ``renew_before_days``.  Otherwise a new key and certificate are issued and ``reason`` says
    why.  ``fqdn`` may also be an IP address (then it becomes an IP SAN).
    """
    pki_dir = Path(pki_dir)
    now = _now(now)
    _check_positive(days=days)
    if not 0 <= renew_before_days < days:
        raise PkiError(
            f"renew_before_days ({renew_before_days}) must be between 0 and days ({days}) - 1"
        )
    host = _normalize_host(fqdn)
    want_dns, want_ips = _requested_sans(host, dns_names, ip_addresses)

    with writing(files) as files:
        files.private_folders(pki_dir, pki_dir / HOSTS_DIR, pki_dir / HOSTS_DIR / host)
        return _ensure_leaf(files, ca, pki_dir / HOSTS_DIR / host, host, want_dns, want_ips,
                            days, renew_before_days, now)


def _ensure_leaf(files: Staged, ca: CertificateAuthority, host_dir: Path, host: str,
                 want_dns: list[str], want_ips: list, days: int, renew_before_days: int,
                 now: datetime) -> IssuedLeaf:
    cert_path, key_path, chain_path = (host_dir / n for n in (LEAF_CERT, LEAF_KEY, LEAF_CHAIN))
    inter_pem = to_pem(ca.intermediate_cert)
    new_not_after = min(now + timedelta(days=days), ca.intermediate_cert.not_valid_after_utc)

    reason, existing = _reuse_check(
        files, ca, cert_path, key_path, want_dns, want_ips, renew_before_days, new_not_after, now
    )
    if existing is not None:
        cert, cert_pem, key_pem = existing
        chain_pem = _ensure_newline(cert_pem) + inter_pem
        if files.read(chain_path) != chain_pem:
            files.write_private(chain_path, chain_pem, f"rewrite {chain_path}")
            reason = f"{reason} ({LEAF_CHAIN} rewritten)"
        for path in (cert_path, key_path, chain_path):
            files.tighten(path)
        return IssuedLeaf(
            cert_pem=cert_pem,
            key_pem=key_pem,
            chain_pem=chain_pem,
            root_pem=ca.root_pem,
            not_after=cert.not_valid_after_utc,
            reissued=False,
            reason=reason,
        )

    key = ec.generate_private_key(_LEAF_CURVE)
    cert = _build_leaf(ca, key, host, want_dns, want_ips, new_not_after, now)
    cert_pem, key_pem = to_pem(cert), _key_pem(key)
    chain_pem = cert_pem + inter_pem
    # Key first: an interruption leaves a mismatch that the next run repairs.
    what = f"issue a certificate for {host} ({reason})"
    files.write_private(key_path, key_pem, what)
    files.write_private(cert_path, cert_pem, what)
    files.write_private(chain_path, chain_pem, what)
    return IssuedLeaf(
        cert_pem=cert_pem,
        key_pem=key_pem,
        chain_pem=chain_pem,
        root_pem=ca.root_pem,
        not_after=cert.not_valid_after_utc,
        reissued=True,
        reason=reason,
    )


def _reuse_check(
    files: Staged,
    ca: CertificateAuthority,
    cert_path: Path,
    key_path: Path,
    want_dns: list[str],
    want_ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    renew_before_days: int,
    new_not_after: datetime,
    now: datetime,
) -> tuple[str, tuple[x509.Certificate, bytes, bytes] | None]:
    """(reason, (cert, cert_pem, key_pem) if the stored certificate can be reused)."""
    cert_pem = _read_optional(files, cert_path)
    key_pem = _read_optional(files, key_path)
    if cert_pem is None and key_pem is None:
        return "new", None
    if cert_pem is None:
        return f"{LEAF_CERT} missing", None
    if key_pem is None:
        return f"{LEAF_KEY} missing", None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return f"{LEAF_CERT} does not parse", None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return f"{LEAF_KEY} does not parse", None
    if not _same_public_key(key, cert):
        return "key does not match certificate", None
    if not _signed_by(cert, ca.intermediate_cert):
        return "issued by a different intermediate CA", None
    have_dns, have_ips = _cert_sans(cert)
    if set(have_dns) != set(want_dns) or set(have_ips) != set(want_ips):
        return _san_change(have_dns + [str(i) for i in have_ips],
                           want_dns + [str(i) for i in want_ips]), None
    if not _allows_server_auth(cert):
        return "extended key usage does not allow serverAuth", None
    if cert.not_valid_before_utc > now:
        return f"not valid until {_day(cert.not_valid_before_utc)}", None
    not_after = cert.not_valid_after_utc
    if not_after - now <= timedelta(days=renew_before_days):
        phrase = _expiry_phrase(not_after, now)
        if not_after > now:
            phrase += f" (renewal window {renew_before_days})"
        if new_not_after - not_after >= _MIN_GAIN:
            return phrase, None
        # A new certificate would not last longer: the intermediate's expiry is the limit.
        return (
            f"reused; {phrase} but the intermediate CA expires on {_day(new_not_after)}",
            (cert, cert_pem, key_pem),
        )
    return "reused", (cert, cert_pem, key_pem)


def _build_leaf(
    ca: CertificateAuthority,
    key: PrivateKey,
    host: str,
    dns: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    not_after: datetime,
    now: datetime,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(i) for i in ips]
    # CN is limited to 64 characters; clients match on the SAN anyway.
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, host)] if len(host) <= 64 else []
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.intermediate_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(_aki_from(ca.intermediate_cert), critical=False)
        .sign(ca.intermediate_key, _hash_for(ca.intermediate_key))
    )


def _normalize_host(fqdn: str) -> str:
    host = fqdn.strip().lower().rstrip(".")
    if _parse_ip(host) is not None:
        return str(_parse_ip(host))
    if not _valid_dns(host, wildcard=False):
        raise PkiError(f"invalid host name {fqdn!r} for a certificate")
    return host


def _requested_sans(
    host: str, dns_names: Iterable[str], ip_addresses: Iterable[str]
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    if isinstance(dns_names, str) or isinstance(ip_addresses, str):
        raise PkiError("dns_names and ip_addresses must be lists, not a single string")
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    host_ip = _parse_ip(host)
    if host_ip is not None:
        ips.add(host_ip)
    for raw in ip_addresses:
        ip = _parse_ip(str(raw).strip())
        if ip is None:
            raise PkiError(f"invalid IP address {raw!r} in ip_addresses")
        ips.add(ip)
    extra: set[str] = set()
    for raw in dns_names:
        name = str(raw).strip().lower().rstrip(".")
        if _parse_ip(name) is not None:
            raise PkiError(f"{raw!r} in dns_names is an IP address; list it in ip_addresses")
        if not _valid_dns(name, wildcard=True):
            raise PkiError(f"invalid DNS name {raw!r} in dns_names")
        extra.add(name)
    dns = [] if host_ip is not None else [host]
    dns += sorted(extra - set(dns))
    return dns, sorted(ips, key=lambda i: (i.version, int(i)))


def _valid_dns(name: str, *, wildcard: bool) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if wildcard and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    return all(_LABEL.match(label) for label in labels)


def _san_change(have: list[str], want: list[str]) -> str:
    added = [n for n in want if n not in have]
    removed = [n for n in have if n not in want]
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return f"SANs changed ({'; '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Validation of user-supplied (or issued) certificates
# --------------------------------------------------------------------------------------------


def validate_server_certificate(
    chain_pem: bytes,
    key_pem: bytes,
    fqdn: str,
    *,
    now: datetime | None = None,
    trusted_roots_pem: bytes | None = None,
) -> list[str]:
    """Problems that would stop TabPy serving ``fqdn`` over TLS; ``[]`` means OK.

    ``chain_pem`` is the certificate file TabPy loads (server certificate first, then
    intermediates), ``key_pem`` its key file.  Each problem is a short phrase without the host
    name; the caller adds host and setting.  With ``trusted_roots_pem``, the chain is also
    path-validated to one of those roots for ``fqdn`` (as Tableau does).
    """
    now = _now(now)
    problems: list[str] = []
    chain, cert_problem = _parse_cert_list(chain_pem, "certificate")
    key, key_problem = _parse_key(key_pem)
    if cert_problem:
        problems.append(cert_problem)
    if key_problem:
        problems.append(key_problem)
    if not chain:
        return problems
    if key is not None and not _same_public_key(key, chain[0]):
        problems.append("private key does not match the certificate")
    roots = None
    if trusted_roots_pem is not None:
        roots, roots_problem = _parse_cert_list(trusted_roots_pem, "trusted root")
        if roots_problem:
            problems.append(roots_problem)
    return problems + chain_problems(chain, fqdn, now=now, trusted_roots=roots)


def chain_problems(
    chain: Sequence[x509.Certificate],
    fqdn: str,
    *,
    now: datetime | None = None,
    trusted_roots: Sequence[x509.Certificate] | None = None,
) -> list[str]:
    """Problems of a chain (server certificate first) a client would meet connecting to
    ``fqdn``: order, validity, names, usages, links and, given ``trusted_roots``, the path to
    one of them. For files to serve and for chains read from a server alike."""
    now = _now(now)
    problems: list[str] = []
    leaf = chain[0]
    if _is_ca(leaf):
        problems.append(
            "first certificate is a CA certificate; the server certificate must come first"
        )
    for index, cert in enumerate(chain, start=1):
        what = _position(index, cert)
        if cert.not_valid_after_utc < now:
            problems.append(f"{what} expired on {_day(cert.not_valid_after_utc)}")
        if cert.not_valid_before_utc > now:
            problems.append(f"{what} not valid until {_day(cert.not_valid_before_utc)}")

    host = fqdn.strip().lower().rstrip(".")
    have_dns, have_ips = _cert_sans(leaf)
    host_ip = _parse_ip(host)
    if not have_dns and not have_ips:
        problems.append(
            "certificate has no subjectAltName (clients ignore the common name); "
            f"it must list {host}"
        )
    elif not (
        host_ip in have_ips if host_ip is not None else any(_dns_match(p, host) for p in have_dns)
    ):
        listed = ", ".join(have_dns + [str(i) for i in have_ips])
        problems.append(f"SANs ({listed}) do not cover {host}")
    if not _allows_server_auth(leaf):
        problems.append("extended key usage does not allow serverAuth")
    ku = _extension(leaf, x509.KeyUsage)
    if ku is not None and not ku.digital_signature and not ku.key_encipherment:
        problems.append("key usage allows neither digitalSignature nor keyEncipherment")

    for index in range(1, len(chain)):
        if not _signed_by(chain[index - 1], chain[index]):
            problems.append(
                f"chain does not link: certificate {index + 1} did not sign certificate {index}"
            )

    if trusted_roots:
        top = chain[-1]
        if not any(anchored_at(chain, root) for root in trusted_roots):
            roots = ", ".join(str(subject_cn(root)) for root in trusted_roots)
            problems.append(f"does not chain to the trusted root(s) ({roots}): the chain ends at "
                            f"{subject_cn(top)}, issued by {subject_cn(top, issuer=True)}")
        else:
            error = _path_validation_error(list(chain), list(trusted_roots), host, now)
            if error:
                problems.append(f"does not verify against the trusted root(s): {error}")
    return problems


def _path_validation_error(
    chain: list[x509.Certificate], roots: list[x509.Certificate], host: str, now: datetime
) -> str | None:
    host_ip = _parse_ip(host)
    subject = IPAddress(host_ip) if host_ip is not None else DNSName(host)
    # The Web PKI profile, except that the authority key identifier may be absent: Java (what
    # Tableau runs on) and OpenSSL build chains without it, and company CAs do omit it.
    aki_optional = (Criticality.AGNOSTIC, None)
    try:
        verifier = (
            PolicyBuilder().store(Store(roots)).time(now)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(
                    x509.AuthorityKeyIdentifier, *aki_optional),
                ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(
                    x509.AuthorityKeyIdentifier, *aki_optional))
            .build_server_verifier(subject)
        )
        verifier.verify(chain[0], chain[1:])
    except (VerificationError, ValueError) as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _parse_cert_list(data: bytes, what: str) -> tuple[list[x509.Certificate], str | None]:
    data = _as_bytes(data)
    if not data.strip():
        return [], f"no {what} found (empty file)"
    if b"-----BEGIN" not in data:
        if _looks_like_der_cert(data):
            return [], f"{what} is a DER file, TabPy reads PEM only"
        return [], f"no {what} found (not PEM)"
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return [], f"no {what} found (the PEM holds no CERTIFICATE block)"
    try:
        return x509.load_pem_x509_certificates(data), None
    except ValueError:
        return [], f"{what} PEM is damaged and does not parse"


def _looks_like_der_cert(data: bytes) -> bool:
    if data[:1] != b"\x30":
        return False
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return False
    return True


def _parse_key(data: bytes) -> tuple[PrivateKeyTypes | None, str | None]:
    data = _as_bytes(data)
    if not data.strip():
        return None, "no private key found (empty file)"
    if b"-----BEGIN" not in data:
        with suppress(ValueError, TypeError, UnsupportedAlgorithm):
            serialization.load_der_private_key(data, password=None)
            return None, "private key is a DER file, TabPy reads PEM only"
        return None, "private key is not PEM or is encrypted (TabPy has no passphrase option)"
    if b"ENCRYPTED" in data:
        return None, "private key is encrypted (TabPy has no passphrase option)"
    try:
        return serialization.load_pem_private_key(data, password=None), None
    except TypeError:  # "Password was not given but private key is encrypted"
        return None, "private key is encrypted (TabPy has no passphrase option)"
    except (ValueError, UnsupportedAlgorithm):
        return None, "private key is not PEM or is encrypted (TabPy has no passphrase option)"


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return False


# --------------------------------------------------------------------------------------------
# Supplied (enterprise) certificates
# --------------------------------------------------------------------------------------------

#: Which input a problem of load_supplied_certificate is about.
CERTIFICATE_INPUT, KEY_INPUT, PASSPHRASE_INPUT, CA_INPUT = "certificate", "key", "passphrase", "ca"
ACCEPTED_CURVES = ("secp256r1", "secp384r1")
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class SuppliedCertificate:
    chain_pem: bytes  # leaf first, each certificate signed by the next: what TabPy serves
    key_pem: bytes  # unencrypted PKCS#8 PEM (TabPy has no passphrase option)
    chain: tuple[x509.Certificate, ...]
    #: What clients must trust: the CA file's certificates, else the chain's own self-signed
    #: root; empty when neither is known (then it is the OS trust store's business).
    anchors: tuple[x509.Certificate, ...]
    notes: tuple[str, ...]  # e.g. "chain put in order (leaf first)", "key decrypted"


def load_supplied_certificate(
    cert_data: bytes,
    key_data: bytes,
    fqdn: str,
    *,
    passphrase: str | None = None,
    ca_data: bytes | None = None,
    renew_before_days: int = 0,
    now: datetime | None = None,
) -> tuple[SuppliedCertificate | None, list[tuple[str, str]]]:
    """A certificate, chain and key issued by a company CA, made ready for TabPy.

    Accepts PEM, DER or PKCS#7 certificates in any order (put in order, leaf first) and a PEM
    or DER key, encrypted or not (decrypted with ``passphrase``). Refuses two server
    certificates in one file, a chain that does not sign the server certificate, a key that
    does not match or is weak (RSA below 2048 bits, EC other than P-256/P-384), a certificate
    that is expired or expires within ``renew_before_days``, and everything
    :func:`chain_problems` finds. Returns (result, []) or (None, [(input, problem), ...]) where
    input is one of CERTIFICATE_INPUT, KEY_INPUT, PASSPHRASE_INPUT, CA_INPUT.
    """
    now = _now(now)
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    certs, cert_format, problem = read_certificates(cert_data)
    if problem:
        problems.append((CERTIFICATE_INPUT, problem))
    elif cert_format != "PEM":
        notes.append(f"certificate converted from {cert_format}")
    key, key_problem = _read_supplied_key(key_data, passphrase, notes)
    if key_problem:
        problems.append(key_problem)
    anchors: list[x509.Certificate] = []
    if ca_data is not None:
        anchors, _, problem = read_certificates(ca_data)
        if problem:
            problems.append((CA_INPUT, problem))
        problems += [(CA_INPUT, f"certificate {i} ({subject_cn(c)}) is not a CA certificate")
                     for i, c in enumerate(anchors, start=1) if not _is_ca(c)]
    if not certs:
        return None, problems
    chain, problem = order_chain(certs)
    if problem:
        return None, [*problems, (CERTIFICATE_INPUT, problem)]
    if chain != certs:
        notes.append("chain put in order (leaf first)")
    leaf = chain[0]
    if key is not None:
        if not _same_public_key(key, leaf):
            problems.append((KEY_INPUT, "does not match the certificate"))
        strength = key_strength_problem(key.public_key())
        if strength:
            problems.append((KEY_INPUT, strength))
    anchors = supplied_anchors(chain, anchors if ca_data is not None else None)
    problems += [(CERTIFICATE_INPUT, p)
                 for p in chain_problems(chain, fqdn, now=now, trusted_roots=anchors or None)]
    for index, cert in enumerate(chain, start=1):
        not_after = cert.not_valid_after_utc
        if now < not_after <= now + timedelta(days=renew_before_days):
            what = _position(index, cert)
            problems.append((CERTIFICATE_INPUT,
                             f"{what} {_expiry_phrase(not_after, now)} ({_day(not_after)}), "
                             f"inside the renewal window of {renew_before_days} days "
                             "(pki_renew_before_days): get a new one from your CA"))
    if problems:
        return None, problems
    return SuppliedCertificate(
        chain_pem=b"".join(to_pem(c) for c in chain),
        key_pem=_key_pem(key),
        chain=tuple(chain),
        anchors=tuple(anchors),
        notes=tuple(notes),
    ), []


def supplied_anchors(chain: Sequence[x509.Certificate],
                     ca_file: Sequence[x509.Certificate] | None) -> list[x509.Certificate]:
    """What a supplied chain is trusted through: the CA file's certificates, else the chain's
    own self-signed root; [] when neither (then it is the OS trust store's business)."""
    if ca_file is not None:
        return list(ca_file)
    return [chain[-1]] if is_self_signed_ca(chain[-1]) else []


def read_certificates(data: bytes) -> tuple[list[x509.Certificate], str, str | None]:
    """(certificates, format, problem) of a PEM (one or more), DER or PKCS#7 file."""
    data = _as_bytes(data)
    if not data.strip():
        return [], "", "no certificate found (empty file)"
    try:
        if b"-----BEGIN PKCS7-----" in data:
            return pkcs7.load_pem_pkcs7_certificates(data), "PKCS#7", None
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data), "PEM", None
    except ValueError:
        return [], "", "PEM is damaged and does not parse"
    if b"-----BEGIN" in data:
        return [], "", "no certificate found (the PEM holds no CERTIFICATE block)"
    with suppress(ValueError):
        return [x509.load_der_x509_certificate(data)], "DER", None
    with suppress(ValueError):
        return pkcs7.load_der_pkcs7_certificates(data), "PKCS#7", None
    return [], "", "not a certificate (neither PEM, DER nor PKCS#7)"


def order_chain(certs: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], str | None]:
    """The server certificate first, then each certificate's issuer; (chain, problem)."""
    unique = list({c.fingerprint(hashes.SHA256()): c for c in certs}.values())
    leaves = [c for c in unique if not _is_ca(c)]
    if len(leaves) > 1:
        names = ", ".join(str(subject_cn(c)) for c in leaves)
        return [], (f"holds {len(leaves)} server certificates ({names}); a file holds one "
                    "server certificate and its chain")
    if not leaves:
        names = ", ".join(str(subject_cn(c)) for c in unique)
        return [], f"holds no server certificate, only CA certificates ({names})"
    chain = leaves
    rest = [c for c in unique if c is not leaves[0]]
    while rest and not _signed_by(chain[-1], chain[-1]):
        issuer = next((c for c in rest if _signed_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
    if rest and len(chain) == 1:
        names = ", ".join(str(subject_cn(c)) for c in rest)
        issuer = subject_cn(chain[0], issuer=True)
        return [], (f"the chain does not sign the server certificate: it was issued by "
                    f"{issuer}, and no certificate in the file ({names}) signed it")
    if rest:
        names = ", ".join(str(subject_cn(c)) for c in rest)
        return [], f"holds certificates outside the server certificate's chain ({names})"
    return chain, None


def key_strength_problem(public_key: Any) -> str | None:
    """Why Tableau's clients should not be offered this key, or None (RSA >= 2048 bits, EC
    P-256 or P-384)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            return f"RSA key of {public_key.key_size} bits is too weak ({MIN_RSA_BITS} or more)"
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            return f"EC curve {public_key.curve.name} is not accepted (P-256 or P-384)"
        return None
    return (f"{type(public_key).__name__.removeprefix('_')} keys are not accepted "
            f"(RSA {MIN_RSA_BITS}+ or EC P-256/P-384)")


def _read_supplied_key(data: bytes, passphrase: str | None,
                       notes: list[str]) -> tuple[PrivateKeyTypes | None, tuple[str, str] | None]:
    data = _as_bytes(data)
    if not data.strip():
        return None, (KEY_INPUT, "no private key found (empty file)")
    pem = b"-----BEGIN" in data
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = load(data, password=None)
    except TypeError:  # encrypted
        if passphrase is None:
            return None, (KEY_INPUT, "is passphrase-protected; set tabpy_key_passphrase (a "
                                     "secret reference) and the deploy installs it decrypted")
        try:
            key = load(data, password=passphrase.encode())
        except ValueError:
            return None, (PASSPHRASE_INPUT, "does not decrypt the key (wrong passphrase)")
        notes.append("key decrypted with tabpy_key_passphrase")
    except (ValueError, UnsupportedAlgorithm):
        return None, (KEY_INPUT, "not a private key (neither PEM nor DER)")
    if not pem:
        notes.append("key converted from DER")
    return key, None


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def certificate_summary(pem: bytes) -> dict:
    """Facts about the first certificate in ``pem`` for reports.

    Keys: ``subject_cn``, ``sans`` (list of str), ``issuer_cn``, ``not_before`` and
    ``not_after`` (ISO dates), ``serial`` (hex), ``sha256`` (fingerprint, lower-case hex).
    """
    certs, problem = _parse_cert_list(pem, "certificate")
    if problem:
        raise PkiError(problem)
    cert = certs[0]
    return {
        "subject_cn": subject_cn(cert),
        "sans": san_list(cert),
        "issuer_cn": subject_cn(cert, issuer=True),
        "not_before": _day(cert.not_valid_before_utc),
        "not_after": _day(cert.not_valid_after_utc),
        "serial": format(cert.serial_number, "x"),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise PkiError(f"{name} must be 1 or more, got {value}")


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _expiry_phrase(not_after: datetime, now: datetime) -> str:
    if not_after <= now:
        return f"expired on {_day(not_after)}"
    days = (not_after - now).days
    return f"expires in {days} day{'' if days == 1 else 's'}"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _aki_from(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    if ski is not None:
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())


def _serial() -> int:
    # 159 random bits, top bit set: always positive, always 20 octets or fewer.
    return secrets.randbits(158) | (1 << 158)


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def to_pem(cert: x509.Certificate) -> bytes:
    """PEM of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _same_public_key(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    try:
        return _spki(key.public_key()) == _spki(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _extension(cert: x509.Certificate, ext_type: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _extension(cert, x509.BasicConstraints)
    return bool(bc is not None and bc.ca)


def from_private_ca(cert: x509.Certificate) -> bool:
    """Issued by a private CA of this tool (its subjects carry ORGANIZATION)."""
    return ORGANIZATION in (str(attr.value) for attr in
                            cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer`'s key signed `cert`."""
    return _signed_by(cert, issuer)


def anchored_at(chain: Sequence[x509.Certificate], root: x509.Certificate) -> bool:
    """The chain ends at `root` or at a certificate `root` signed."""
    return chain[-1] == root or _signed_by(chain[-1], root)


def is_self_signed_ca(cert: x509.Certificate) -> bool:
    """A root: a CA certificate that signed itself."""
    return _is_ca(cert) and _signed_by(cert, cert)


def _allows_server_auth(cert: x509.Certificate) -> bool:
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is None:  # no EKU extension: any usage
        return True
    usages = list(eku)
    return (ExtendedKeyUsageOID.SERVER_AUTH in usages
            or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages)


def san_list(cert: x509.Certificate) -> list[str]:
    """The subjectAltName entries, DNS names first (lower-case), then IP addresses."""
    dns, ips = _cert_sans(cert)
    return dns + [str(i) for i in ips]


def _cert_sans(
    cert: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return [], []
    dns = [d.lower() for d in san.get_values_for_type(x509.DNSName)]
    ips = list(san.get_values_for_type(x509.IPAddress))
    return dns, ips


def _position(index: int, cert: x509.Certificate) -> str:
    """How messages name the index-th (from 1) certificate of a chain."""
    return "certificate" if index == 1 else f"chain certificate {index} ({subject_cn(cert)})"


def subject_cn(cert: x509.Certificate, *, issuer: bool = False) -> str | None:
    name = cert.issuer if issuer else cert.subject
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _ensure_newline(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


# ---- files ---------------------------------------------------------------------------------


def _read_optional(files: Staged, path: Path) -> bytes | None:
    try:
        return files.read(path)
    except ControllerFileError as exc:
        raise PkiError(str(exc)) from exc


def _load_cert_file(files: Staged, path: Path) -> tuple[x509.Certificate, bytes]:
    data = _read_optional(files, path)
    if data is None:
        raise PkiError(f"{path} is missing; restore it from backup")
    try:
        return x509.load_pem_x509_certificate(data), data
    except ValueError as exc:
        raise PkiError(f"{path} is not a PEM certificate; restore it from backup") from exc


def _load_key_file(files: Staged, path: Path) -> PrivateKey:
    data = _read_optional(files, path)
    if data is None:
        raise PkiError(f"{path} is missing; restore it from backup")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise PkiError(
            f"{path} is encrypted; store it unencrypted (the folder is 0700) or re-create the CA"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"{path} is not a PEM private key; restore it from backup") from exc
    if not isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise PkiError(f"{path} holds a {type(key).__name__}, which cannot sign certificates")
    return key

"""The private CA on the controller: created, loaded, renewed and rotated.

Layout under ``pki_dir``::

    ca/root.crt  ca/root.key  ca/intermediate.crt  ca/intermediate.key     the active CA
    ca/next/{root,intermediate}.{crt,key}     a new root staged by rotate-root (trusted, idle)
    ca/previous/root-<sha256>.crt             old roots, still trusted until retire-root
    ca/retired/<role>-<sha256>.crt            no longer trusted: removed from every client

Rotation (see docs/certificates.md): ``rotate_intermediate`` (same root, immediate), and for
the root ``stage_root`` -> (deploy: clients trust both) -> ``activate_root`` -> (deploy: servers
get leaves from the new root) -> ``retire_previous_roots`` -> (deploy: clients drop the old
root). Every write goes through the controller's `Staged` files (0600 in 0700 folders, a new
folder renamed into place whole). Keys are EC (P-384 for the CA): fast to generate and accepted
by Tableau (Java), OpenSSL and Python's ``ssl``.

Every root and intermediate made here carries critical name constraints (``Permitted``: the
names the CA issues for, see constraints.py), and the intermediate an extended key usage of
serverAuth alone: a copy of ``pki_dir`` cannot vouch for any other site. An intermediate never
permits more than its root (Java checks only the certificates below the trust anchor).
"""

from __future__ import annotations

import dataclasses
import shutil
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tabpy_provision.controller.files import Staged, writing
from tabpy_provision.pki.certs import (
    BACKDATE,
    CA_CURVE,
    CA_DIR,
    INTERMEDIATE,
    INTERMEDIATE_CERT,
    INTERMEDIATE_KEY,
    INTERMEDIATE_RENEW_BEFORE_DAYS,
    MIN_GAIN,
    NEXT_DIR,
    PREVIOUS_DIR,
    RETIRED_DIR,
    ROOT,
    ROOT_CERT,
    ROOT_KEY,
    ROOT_ROTATE_BEFORE_DAYS,
    PkiError,
    PrivateKey,
    aki_from,
    ca_key_usage,
    check_positive,
    current_time,
    day_text,
    expiry_phrase,
    hash_for,
    is_ca,
    load_cert_file,
    load_key_file,
    private_key_pem,
    random_serial,
    same_public_key,
    signed_by,
    to_pem,
    x509_name,
)
from tabpy_provision.pki.constraints import Permitted, of_certificate

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
    #: What this call noticed, for reports ("the intermediate CA expires in 59 days", "root
    #: CA expires on ..."); never a write: what is created or renewed is a staged change,
    #: said as planned or as done. Empty when an existing CA was simply loaded.
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
    permitted: Permitted,
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
      temporary folder, then moved into place), constrained to ``permitted``;
    * root present, both intermediate files absent: a new intermediate is signed by the root
      (this is how an intermediate is rotated by hand: delete ``intermediate.*``);
    * all four present, or all but the root key (kept off the controller): loaded and checked
      (intermediate signed by root, key matches);
      an intermediate that is expired or expires within ``intermediate_renew_before_days`` is
      re-issued by the root (same root, so clients keep trusting the servers; the old one is
      moved to ``ca/retired``);
    * anything else (a half-present CA): :class:`PkiError` naming the file.

    ``common_name`` and ``permitted`` only apply to newly created certificates (a new
    intermediate permits what both ``permitted`` and its root do).  The root key is read only
    when the intermediate has to be signed.
    """
    pki_dir = Path(pki_dir)
    now = current_time(now)
    check_positive(root_days=root_days, intermediate_days=intermediate_days)
    if intermediate_renew_before_days < 0:
        raise PkiError("intermediate_renew_before_days must be 0 or more")
    if not 0 < len(common_name) <= 48:
        raise PkiError(f"CA common_name must be 1 to 48 characters, got {common_name!r}")

    with writing(files) as files:
        files.private_folders(pki_dir, pki_dir / CA_DIR)
        return _ensure_ca(files, pki_dir / CA_DIR, permitted, common_name, root_days,
                          intermediate_days, intermediate_renew_before_days, now)


def _ensure_ca(files: Staged, ca_dir: Path, permitted: Permitted, common_name: str,
               root_days: int, intermediate_days: int, intermediate_renew_before_days: int,
               now: datetime) -> CertificateAuthority:
    paths = {name: ca_dir / name for name in (ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT,
                                              INTERMEDIATE_KEY)}
    present = {name: files.exists(path) for name, path in paths.items()}

    if not any(present.values()):
        _create_ca(files, ca_dir, permitted, common_name, root_days, intermediate_days, now,
                   what=f"create a new private CA in {ca_dir}")
        ca = _load_ca(files, ca_dir, now)
        return _finish(files, ca, ca_dir, now)

    if present[ROOT_CERT] and present[ROOT_KEY] and not (
        present[INTERMEDIATE_CERT] or present[INTERMEDIATE_KEY]
    ):
        root_cert, root_pem = load_cert_file(files, paths[ROOT_CERT])
        _check_root(root_cert, paths[ROOT_CERT], ca_dir, now)
        _issue_intermediate(files, ca_dir, root_cert, permitted, common_name,
                            intermediate_days, now)
        ca = _load_ca(files, ca_dir, now)
        return _finish(files, ca, ca_dir, now)

    # The root key may be kept off the controller: it only ever signs intermediates, and
    # whoever holds it can sign one without constraints that Java (Tableau) accepts.
    missing = [name for name, ok in present.items() if not ok and name != ROOT_KEY]
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
    new_after = min(now + timedelta(days=intermediate_days), ca.root_cert.not_valid_after_utc)
    if inter_after - now <= timedelta(days=intermediate_renew_before_days) and \
            new_after - inter_after >= MIN_GAIN:
        wanted = (f"put the root key back in {paths[ROOT_KEY]} (kept off the controller) to "
                  "renew it")
        if present[ROOT_KEY]:
            _replace_intermediate(files, ca_dir, ca, permitted, common_name, intermediate_days,
                                  now)
            ca = _load_ca(files, ca_dir, now)
            notes.append(f"the intermediate CA {expiry_phrase(inter_after, now)}")
        elif inter_after <= now:
            raise PkiError(f"the intermediate CA {paths[INTERMEDIATE_CERT]} "
                           f"{expiry_phrase(inter_after, now)}: {wanted}")
        else:
            notes.append(f"the intermediate CA {expiry_phrase(inter_after, now)}: {wanted}")
    return _finish(files, ca, ca_dir, now, *notes)


def _finish(files: Staged, ca: CertificateAuthority, ca_dir: Path, now: datetime,
            *notes: str) -> CertificateAuthority:
    """The loaded CA with what this call did, any root expiry warning and the registry."""
    registry = (CaCert(ROOT, "active", ca.root_cert, ca_dir / ROOT_CERT),
                CaCert(INTERMEDIATE, "active", ca.intermediate_cert, ca_dir / INTERMEDIATE_CERT),
                *_registry_extras(files, ca_dir, now))
    staged = any(c.state == "next" for c in registry)
    return dataclasses.replace(ca, notes=(*notes, *_root_expiry_notes(ca, now, staged),
                                          *_constraint_notes(ca, ca_dir, registry)),
                               registry=registry)


def _root_expiry_notes(ca: CertificateAuthority, now: datetime, staged: bool) -> list[str]:
    root_after = ca.root_cert.not_valid_after_utc
    if staged or root_after - now > timedelta(days=ROOT_ROTATE_BEFORE_DAYS):
        return []
    return [f"root CA expires on {day_text(root_after)}: rotate it before then "
            "(tabpy-provision ca rotate-root, see docs/certificates.md)"]


def _constraint_notes(ca: CertificateAuthority, ca_dir: Path,
                      registry: tuple[CaCert, ...]) -> list[str]:
    """How a CA made before name constraints moves to a constrained one (said on every run
    until it did; a constrained root staged is that move under way)."""
    if of_certificate(ca.root_cert) is None:
        if any(c.state == "next" and of_certificate(c.cert) for c in registry):
            return []
        return [f"the private CA in {ca_dir} has no name constraints: whoever copies it can "
                "issue certificates its clients trust for any site; move to a constrained root: "
                "tabpy-provision ca rotate-root, deploy, ca activate-root, deploy, ca retire-root, "
                "deploy (docs/certificates.md)"]
    if of_certificate(ca.intermediate_cert) is None:
        return [f"the intermediate CA in {ca_dir} has no name constraints: "
                "tabpy-provision ca rotate-intermediate, then deploy"]
    return []


def _create_ca(
    files: Staged, ca_dir: Path, permitted: Permitted, common_name: str, root_days: int,
    intermediate_days: int, now: datetime, *, what: str, generation: tuple[int, int] = (1, 1),
) -> None:
    root_key = ec.generate_private_key(CA_CURVE)
    root_name = x509_name(_ca_name(common_name, "Root", generation[0]))
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=root_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(permitted.extension(), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hash_for(root_key))
    )
    inter_key = ec.generate_private_key(CA_CURVE)
    inter_cert = _build_intermediate(root_cert, root_key, inter_key, permitted,
                                     _ca_name(common_name, "Intermediate", generation[1]),
                                     intermediate_days, now)

    # A new folder is built aside and renamed into place when the staging is applied, so an
    # interrupted first run never leaves half a CA behind.
    for name, data in ((ROOT_KEY, private_key_pem(root_key)), (ROOT_CERT, to_pem(root_cert)),
                       (INTERMEDIATE_KEY, private_key_pem(inter_key)),
                       (INTERMEDIATE_CERT, to_pem(inter_cert))):
        files.write_private(ca_dir / name, data, what)


def _ca_name(common_name: str, kind: str, generation: int) -> str:
    """"tabpy-provision Root CA", then "tabpy-provision Root CA G2" for its successor..."""
    return f"{common_name} {kind} CA" + (f" G{generation}" if generation > 1 else "")


def _build_intermediate(
    root_cert: x509.Certificate,
    root_key: PrivateKey,
    inter_key: PrivateKey,
    permitted: Permitted,
    subject_cn: str,
    days: int,
    now: datetime,
) -> x509.Certificate:
    not_after = min(now + timedelta(days=days), root_cert.not_valid_after_utc)
    # Never wider than the root: a verifier that ignores the root's constraints (Java) still
    # holds the intermediate to what the root allows.
    permitted = permitted.within(of_certificate(root_cert))
    return (
        x509.CertificateBuilder()
        .subject_name(x509_name(subject_cn))
        .issuer_name(root_cert.subject)
        .public_key(inter_key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(permitted.extension(), critical=True)
        # TLS servers only: OpenSSL, Windows and macOS hold the chain to it.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()),
                       critical=False)
        .add_extension(aki_from(root_cert), critical=False)
        .sign(root_key, hash_for(root_key))
    )


def _issue_intermediate(
    files: Staged, ca_dir: Path, root_cert: x509.Certificate, permitted: Permitted,
    common_name: str, days: int, now: datetime
) -> None:
    root_key_path = ca_dir / ROOT_KEY
    root_key = load_key_file(files, root_key_path)
    if not same_public_key(root_key, root_cert):
        raise PkiError(f"{root_key_path} does not match {ca_dir / ROOT_CERT}; restore the "
                       "matching key from backup")
    inter_key = ec.generate_private_key(CA_CURVE)
    known = sum(1 for c in _registry_extras(files, ca_dir, now) if c.role == INTERMEDIATE)
    subject_cn = _ca_name(common_name, "Intermediate", known + 1)
    inter_cert = _build_intermediate(root_cert, root_key, inter_key, permitted, subject_cn,
                                     days, now)
    # Key first: an interruption leaves a key/cert mismatch that is reported, never a
    # certificate whose key is lost.
    what = f"issue a new intermediate CA in {ca_dir}"
    files.write_private(ca_dir / INTERMEDIATE_KEY, private_key_pem(inter_key), what)
    files.write_private(ca_dir / INTERMEDIATE_CERT, to_pem(inter_cert), what)


def _load_ca(files: Staged, ca_dir: Path, now: datetime) -> CertificateAuthority:
    root_path = ca_dir / ROOT_CERT
    inter_path = ca_dir / INTERMEDIATE_CERT
    key_path = ca_dir / INTERMEDIATE_KEY
    root_cert, root_pem = load_cert_file(files, root_path)
    _check_root(root_cert, root_path, ca_dir, now)
    inter_cert, inter_pem = load_cert_file(files, inter_path)
    if not is_ca(inter_cert):
        raise PkiError(f"{inter_path} is not a CA certificate; restore it from backup")
    if not signed_by(inter_cert, root_cert):
        raise PkiError(
            f"{inter_path} is not signed by {root_path}; restore the matching files, or delete "
            "intermediate.crt and intermediate.key to issue a new intermediate"
        )
    inter_key = load_key_file(files, key_path)
    if not same_public_key(inter_key, inter_cert):
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
    if not (is_ca(cert) and signed_by(cert, cert)):
        raise PkiError(f"{path} is not a self-signed CA certificate; restore it from backup")
    if cert.not_valid_after_utc <= now:
        raise PkiError(
            f"root CA {path} expired on {day_text(cert.not_valid_after_utc)}; move {ca_dir} aside "
            "to create a new CA (Tableau must then trust the new root)"
        )
    if cert.not_valid_before_utc > now:
        raise PkiError(
            f"root CA {path} is not valid until {day_text(cert.not_valid_before_utc)}; "
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
    now = current_time(now)
    files = files or Staged()  # only read: nothing to apply
    if not files.exists(ca_dir / ROOT_CERT):
        raise PkiError(f"no private CA in {ca_dir} (a deploy creates it)")
    return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now)


def rotate_intermediate(pki_dir: Path, *, permitted: Permitted,
                        common_name: str = "tabpy-provision", intermediate_days: int = 1825,
                        now: datetime | None = None) -> CertificateAuthority:
    """A new intermediate under the same root, effective at once, constrained to what both
    ``permitted`` and the root allow; the old one is retired.

    The next deploy re-issues every leaf (TabPy restarts once). Clients that trust the root
    keep working throughout: leaves still served from the old intermediate stay valid, since
    each server sends its own chain and both intermediates are signed by the same root."""
    now = current_time(now)
    ca_dir = Path(pki_dir) / CA_DIR
    check_positive(intermediate_days=intermediate_days)
    with writing(None) as files:
        ca = load_ca(pki_dir, now=now, files=files)
        _replace_intermediate(files, ca_dir, ca, permitted, common_name, intermediate_days, now)
        return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now,
                       "rotated the intermediate CA")


def _replace_intermediate(files: Staged, ca_dir: Path, ca: CertificateAuthority,
                          permitted: Permitted, common_name: str, days: int,
                          now: datetime) -> None:
    _archive(files, ca_dir / RETIRED_DIR, INTERMEDIATE, ca.intermediate_cert)
    _issue_intermediate(files, ca_dir, ca.root_cert, permitted, common_name, days, now)


def stage_root(pki_dir: Path, *, permitted: Permitted, common_name: str = "tabpy-provision",
               root_days: int = 3650, intermediate_days: int = 1825,
               now: datetime | None = None) -> CertificateAuthority:
    """Step 1 of a root rotation: a new root and intermediate in ca/next, constrained to
    ``permitted`` (also how a CA made before name constraints moves to constrained ones).
    Clients are given the new root by the next deploy; nothing is signed with it yet."""
    now = current_time(now)
    ca_dir = Path(pki_dir) / CA_DIR
    check_positive(root_days=root_days, intermediate_days=intermediate_days)
    with writing(None) as files:
        ca = load_ca(pki_dir, now=now, files=files)
        if any(c.state == "next" for c in ca.registry):
            raise PkiError(f"a new root is already staged in {ca_dir / NEXT_DIR}: deploy, then "
                           "activate-root")
        roots = sum(1 for c in ca.registry if c.role == ROOT)
        intermediates = sum(1 for c in ca.registry if c.role == INTERMEDIATE)
        _create_ca(files, ca_dir / NEXT_DIR, permitted, common_name, root_days,
                   intermediate_days, now,
                   what=f"stage a new root CA in {ca_dir / NEXT_DIR}",
                   generation=(roots + 1, intermediates + 1))
        return _finish(files, _load_ca(files, ca_dir, now), ca_dir, now, "staged a new root CA")


def activate_root(pki_dir: Path, *, now: datetime | None = None) -> CertificateAuthority:
    """Step 2: the staged root signs from now on; the old root stays trusted (ca/previous),
    its intermediate is retired. The next deploy re-issues every leaf from the new root.

    Safe to rerun after an interruption: it completes the switch."""
    now = current_time(now)
    ca_dir = Path(pki_dir) / CA_DIR
    next_dir = ca_dir / NEXT_DIR
    if not next_dir.is_dir():
        raise PkiError(f"no staged root in {next_dir}: run rotate-root and deploy first")
    with writing(None) as files:
        staged = _load_ca(files, next_dir, now)
        current_root, _ = load_cert_file(files, ca_dir / ROOT_CERT)
        if _fingerprint(current_root) != _fingerprint(staged.root_cert):
            _archive(files, ca_dir / PREVIOUS_DIR, ROOT, current_root)
            with suppress(PkiError):  # a half-done earlier run may have replaced it already
                old_intermediate, _ = load_cert_file(files, ca_dir / INTERMEDIATE_CERT)
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
    now = current_time(now)
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
            extras.append(CaCert(role, state, load_cert_file(files, path)[0], path))
    return extras


def _archive(files: Staged, folder: Path, role: str, cert: x509.Certificate) -> Path:
    path = folder / f"{role}-{_fingerprint(cert)[:16]}.crt"
    if not files.exists(path):
        files.write_private(path, to_pem(cert), f"keep the {role} CA certificate in {folder}")
    return path


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()

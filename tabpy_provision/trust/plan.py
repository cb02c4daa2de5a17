"""Which CA certificates a machine must trust to reach the TabPy servers, and how, per OS.

Tableau (Desktop and Server) trusts TabPy's certificate only through the OPERATING SYSTEM's
trust store. This module decides, for each client or Tableau node, what goes into that store
(the TabPy servers' roots, optionally intermediates) and what must leave it (retired CAs), and
renders what Windows and macOS fleets need: .cer files with an idempotent PowerShell script,
and a .mobileconfig profile for MDM. Pure: no pyinfra import.

What each platform treats as "ours" (so that a retired or no longer used CA is removed), per
SCOPE - the environment of the inventory's TabPy servers, so that the inventories of two
environments (staging, production) never remove each other's CAs from a machine they share:
- Linux: files named ``tabpy-provision-<scope>-*`` in the anchor folder (exactly the wanted
  set stays);
- macOS: the certificates recorded in ``/var/db/tabpy-provision/trusted-<scope>.pem`` (what an
  earlier run trusted) and retired CAs, unless another scope's record still wants them;
- Windows: certificates tagged (FriendlyName) ``tabpy-provision <scope> ...``, and retired CAs.
"""

from __future__ import annotations

import hashlib
import plistlib
import re
import shlex
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.groups import CLIENTS, TABLEAU
from tabpy_provision.settings.value_checks import TRUST_OS_FAMILIES

MANAGED_PREFIX = "tabpy-provision-"
SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
#: Root-only folder of the records (PEM) of what the macOS deploy made trusted, per scope.
MACOS_RECORDS = "/var/db/tabpy-provision"
#: The authorization right `security add-trusted-cert -d` needs (see docs/facts-tableau.md).
TRUST_SETTINGS_RIGHT = "com.apple.trust-settings.admin"
WINDOWS_SCRIPT = "Install-TabPyTrust.ps1"
MOBILECONFIG = "tabpy-provision-ca.mobileconfig"
TRUST_GROUPS = (CLIENTS, TABLEAU)
#: What Windows keeps as a certificate's extended key usage property in its store (the value
#: of an EKU extension, DER): the Windows script limits what it imports to TLS servers with it.
SERVER_AUTH_ONLY = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]).public_bytes()


@dataclass(frozen=True)
class TrustCert:
    """A CA certificate as trust stores see it: its bytes, fingerprints and a stable name."""

    role: str  # pki.ROOT or pki.INTERMEDIATE
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return pki.to_pem(self.cert)

    @property
    def sha1(self) -> str:
        """Upper-case hex, as `security find-certificate -Z` and Windows thumbprints print it."""
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - an identifier

    @property
    def sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()

    @property
    def subject(self) -> str:
        names = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.cert.subject.rfc4514_string()

    @property
    def slug(self) -> str:
        """The subject, safe in file names."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.subject.lower()).strip("-")
        return slug.removeprefix(MANAGED_PREFIX)[:40]

    @property
    def label(self) -> str:
        """<subject>-<sha256 prefix>: unique per certificate, safe in file names."""
        return f"{self.slug}-{self.sha256[:12]}"

    @property
    def name(self) -> str:
        """File stem of the artifacts: tabpy-provision-<label>."""
        return f"{MANAGED_PREFIX}{self.label}"

    @property
    def windows_store(self) -> str:
        return "Root" if self.role == pki.ROOT else "CA"


@dataclass(frozen=True)
class TrustSet:
    install: tuple[TrustCert, ...]  # roots first
    retire: tuple[TrustCert, ...]  # known to us but not to be trusted: removed where found


def trust_set(cas: Iterable[pki.CaCert], roles: Sequence[str], *,
              now: datetime | None = None) -> TrustSet:
    """From the CA certificates behind the TabPy servers: what to install (the chosen roles,
    neither retired nor expired) and what to remove (every other one we know of)."""
    now = now or datetime.now(UTC)
    install: dict[str, TrustCert] = {}
    known: dict[str, TrustCert] = {}
    for ca in cas:
        entry = TrustCert(ca.role, ca.cert)
        known[entry.sha256] = entry
        if ca.trusted and ca.role in roles and ca.cert.not_valid_after_utc > now:
            install[entry.sha256] = entry
    order = {pki.ROOT: 0, pki.INTERMEDIATE: 1}

    def ordered(entries: Iterable[TrustCert]) -> tuple[TrustCert, ...]:
        return tuple(sorted(entries, key=lambda c: (order[c.role], c.subject, c.sha256)))

    return TrustSet(ordered(install.values()),
                    ordered(c for key, c in known.items() if key not in install))


# --- Linux and macOS hosts -----------------------------------------------------------------------


@dataclass(frozen=True)
class LinuxStore:
    family: str
    anchor_dir: str
    extension: str
    update: str  # after adding
    refresh: str  # after removing


LINUX_STORES = {
    "debian": LinuxStore("debian", "/usr/local/share/ca-certificates", ".crt",
                         "update-ca-certificates", "update-ca-certificates --fresh"),
    "rhel": LinuxStore("rhel", "/etc/pki/ca-trust/source/anchors", ".pem",
                       "update-ca-trust extract", "update-ca-trust extract"),
    "suse": LinuxStore("suse", "/etc/pki/trust/anchors", ".pem",
                       "update-ca-certificates", "update-ca-certificates"),
}
_DISTRIBUTION_IDS = {
    "debian": {"debian", "ubuntu", "raspbian", "linuxmint", "pop", "kali"},
    "rhel": {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "scientific"},
    "suse": {"suse", "sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed"},
}


def os_family(kernel: str | None, release_meta: Mapping[str, Any] | None) -> str | None:
    """debian, rhel, suse or macos from `uname -s` and /etc/os-release (ID, then ID_LIKE)."""
    if kernel == "Darwin":
        return "macos"
    if kernel != "Linux":
        return None
    meta = release_meta or {}
    for candidate in [meta.get("ID", ""), *str(meta.get("ID_LIKE", "")).split()]:
        for family, ids in _DISTRIBUTION_IDS.items():
            if str(candidate).strip('"').lower() in ids:
                return family
    return None


def scope_of(environments: Iterable[str]) -> str:
    """The namespace of an inventory's trust on a machine: its TabPy servers' environment
    (`environment` setting; several are joined with '+')."""
    return "+".join(sorted(set(environments))) or "default"


@dataclass(frozen=True)
class ClientTrustPlan:
    host: str
    family: str  # a key of LINUX_STORES, or "macos"
    scope: str  # see scope_of
    install: tuple[TrustCert, ...]
    retire: tuple[TrustCert, ...]

    @property
    def linux_store(self) -> LinuxStore | None:
        return LINUX_STORES.get(self.family)

    @property
    def managed_prefix(self) -> str:
        return f"{MANAGED_PREFIX}{self.scope}-"

    def linux_path(self, cert: TrustCert) -> str:
        store = self.linux_store
        return f"{store.anchor_dir}/{self.managed_prefix}{cert.label}{store.extension}"

    def stale_files(self, present: Iterable[str]) -> list[str]:
        """Files of this scope in the anchor folder that are not wanted any more (Linux)."""
        wanted = {self.linux_path(cert).rsplit("/", 1)[1] for cert in self.install}
        return sorted(f"{self.linux_store.anchor_dir}/{name}" for name in present
                      if name.startswith(self.managed_prefix) and name not in wanted)

    @property
    def macos_record_path(self) -> str:
        return f"{MACOS_RECORDS}/trusted-{self.scope}.pem"

    def macos_changes(self, present_sha1s: Iterable[str], recorded: Iterable[TrustCert],
                      wanted_elsewhere: Iterable[TrustCert] = ()
                      ) -> tuple[list[TrustCert], list[TrustCert]]:
        """(certificates to add, certificates to delete) given the SHA-1s in the keychain, the
        record of what an earlier run of this scope trusted and what other scopes' records
        still want (never deleted)."""
        present = {s.upper() for s in present_sha1s}
        keep = {cert.sha1 for cert in (*self.install, *wanted_elsewhere)}
        ours = {cert.sha1: cert for cert in (*recorded, *self.retire)}
        return ([cert for cert in self.install if cert.sha1 not in present],
                [cert for sha1, cert in sorted(ours.items())
                 if sha1 not in keep and sha1 in present])

    @property
    def macos_record(self) -> bytes:
        return b"".join(cert.pem for cert in self.install)


def read_record(lines: Iterable[str] | None) -> list[TrustCert]:
    """The certificates of a macOS record file (its lines; None: no file)."""
    data = "\n".join(lines or ()).encode()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    return [TrustCert(pki.ROOT if pki.is_self_signed_ca(cert) else pki.INTERMEDIATE, cert)
            for cert in x509.load_pem_x509_certificates(data)]


def plan_client_trust(host: str, data: Mapping[str, Any], cas: Iterable[pki.CaCert], *,
                      scope: str, detected_family: str | None, os_description: str,
                      now: datetime | None = None) -> ClientTrustPlan:
    """Check one client's inputs; raise SettingsError with `host: field: problem` lines."""
    problems = settings.check_values(host, data)
    if problems:
        raise settings.SettingsError(problems)
    values = settings.with_defaults(data)
    family = values["trust_os_family"] or detected_family
    if family is None:
        raise settings.SettingsError([
            f"{host}: trust_os_family: cannot tell the trust store of {os_description}; set it "
            f"to one of {', '.join(TRUST_OS_FAMILIES)}"])
    selected = trust_set(cas, values["trust_ca_certificates"], now=now)
    return ClientTrustPlan(host, family, scope, selected.install, selected.retire)


def macos_trust_command(adds: Sequence[tuple[TrustCert, str]],
                        deletes: Sequence[tuple[TrustCert, str]],
                        keychain: str = SYSTEM_KEYCHAIN) -> str:
    """One shell command that adds and deletes (certificate, uploaded PEM file) in the keychain.

    Roots get admin trust settings for TLS only (`add-trusted-cert -d -r trustRoot -p ssl`:
    never for code signing, mail or anything else), intermediates are only made available
    (`add-certificates`). A deleted root loses its trust settings
    (`remove-trusted-cert -d`) before the certificate goes (`delete-certificate -Z SHA1 -t`).
    Over SSH, changing admin trust settings is refused without user interaction unless the
    right allows it: the right is saved, set to allow, and ALWAYS restored (exit trap, also
    after a failed step or a signal); a failure to restore fails loudly, naming the saved copy.
    """
    right = shlex.quote(TRUST_SETTINGS_RIGHT)
    chain = shlex.quote(keychain)
    steps = []
    for cert, path in adds:
        if cert.role == pki.ROOT:
            steps.append(f"security add-trusted-cert -d -r trustRoot -p ssl -k {chain} "
                         f"{shlex.quote(path)}")
        else:
            steps.append(f"security add-certificates -k {chain} {shlex.quote(path)}")
    for cert, path in deletes:
        if cert.role == pki.ROOT:
            steps.append(f"security remove-trusted-cert -d {shlex.quote(path)}")
        steps.append(f"security delete-certificate -Z {cert.sha1} -t {chain}")
    uploaded = " ".join(shlex.quote(path) for _, path in (*adds, *deletes))
    cleanup = f"rm -f {uploaded}; " if uploaded else ""
    lines = [
        'saved=$(mktemp) || exit 1',
        f'security authorizationdb read {right} > "$saved" || {{ rm -f "$saved"; exit 1; }}',
        f'restore() {{ if security authorizationdb write {right} < "$saved"; then '
        f'rm -f "$saved"; else echo "could not restore {TRUST_SETTINGS_RIGHT}; the saved rule '
        f'is in $saved" >&2; exit 70; fi; }}',
        f"trap 'status=$?; restore; {cleanup}exit $status' EXIT",
        "trap 'exit 129' HUP INT TERM",
        f"security authorizationdb write {right} allow || exit 1",
        "status=0",
        *(f"{step} || status=1" for step in steps),
        "exit $status",
    ]
    return "\n".join(lines)


# --- artifacts for machines pyinfra cannot reach (Windows) or that MDM manages (macOS) ---------


def artifact_stems(certs: Sequence[TrustCert]) -> dict[str, str]:
    """sha256 -> the file stem of each certificate's artifacts: tabpy-provision-<subject>, known
    before a new CA's key is (a preview names the files the run writes); the fingerprint's
    prefix is added only where two of them share a subject."""
    shared = Counter(cert.slug for cert in certs)
    return {cert.sha256: MANAGED_PREFIX + (cert.label if shared[cert.slug] > 1 else cert.slug)
            for cert in certs}


def mobileconfig(roots: Sequence[TrustCert], *, identifier: str, organization: str) -> bytes:
    """A configuration profile with one com.apple.security.root payload per root (the CA's
    DER bytes), for MDM (Jamf, Intune, Kandji). Deterministic: same roots, same bytes; the
    same identifier, so MDM replaces the previous version (a retired root leaves with it)."""
    stems = artifact_stems(roots)
    content = [{
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.{cert.sha256[:16]}",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{identifier}.{cert.sha256}")).upper(),
        "PayloadDisplayName": cert.subject,
        "PayloadCertificateFileName": f"{stems[cert.sha256]}.cer",
        "PayloadContent": cert.der,
    } for cert in roots if cert.role == pki.ROOT]
    digest = hashlib.sha256("".join(c.sha256 for c in roots).encode()).hexdigest()
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{identifier}.{digest}")).upper(),
        "PayloadDisplayName": f"{organization}: CA certificates for TabPy",
        "PayloadDescription": "Makes this Mac trust the certificate authorities of the TabPy "
                              "servers, so Tableau can connect to them over HTTPS.",
        "PayloadOrganization": organization,
        "PayloadScope": "System",
        "PayloadContent": content,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def profile_identifier(folder: Path) -> str:
    """The .mobileconfig identifier of an artifacts folder: stable, so MDM replaces the
    profile it pushed before."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-") or "default"
    return f"org.tabpy-provision.ca-trust.{slug}"


def artifact_files(selected: TrustSet, windows_script: str, *,
                   identifier: str, organization: str) -> dict[str, bytes]:
    """Relative path -> content of every artifact: windows/<name>.cer (DER) and the script,
    macos/<profile>.mobileconfig."""
    stems = artifact_stems(selected.install)
    files = {f"windows/{stems[cert.sha256]}.cer": cert.der for cert in selected.install}
    files[f"windows/{WINDOWS_SCRIPT}"] = windows_script.encode()
    files[f"macos/{MOBILECONFIG}"] = mobileconfig(selected.install, identifier=identifier,
                                                  organization=organization)
    return files


def stage_artifacts(folder: Path, wanted: Mapping[str, bytes], files: Staged) -> list[str]:
    """Stage what differs and the removal of managed files no longer wanted; return what
    changes."""
    changed = []
    for relative, content in wanted.items():
        path = folder / relative
        if files.read(path) == content:
            continue
        files.write_public(path, content, f"write the trust artifact {path}")
        changed.append(relative)
    for sub in ("windows", "macos"):
        for path in files.glob(folder / sub, f"{MANAGED_PREFIX}*"):
            if f"{sub}/{path.name}" not in wanted:
                files.remove(path, f"remove the trust artifact {path}")
                changed.append(f"{sub}/{path.name} (removed)")
    return changed

"""The status of every certificate an inventory uses, for the certificate report
(cert_report.py, which reads the hosts): rows of CA certificates with the trust stores holding
them, and of the leaves TabPy servers serve, each OK, RENEW or BROKEN. Pure: no pyinfra.

Renewal windows: pki_renew_before_days for leaves and supplied CA certificates; for the private
CA, the intermediate's automatic renewal (60 days) and the root's rotation warning (90 days).
Nothing here creates or renews anything: the private CA and leaves are only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.controller.files import project_path, site_folder
from tabpy_provision.pki import acme as pki_acme
from tabpy_provision.rserve.plan import endpoint as rserve_endpoint
from tabpy_provision.server.plan import endpoint
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.typed import for_role, host_settings
from tabpy_provision.settings.values import CertificatesSettings
from tabpy_provision.trust import plan as trust

OK, RENEW, BROKEN = "OK", "RENEW", "BROKEN"
STATE_LABELS = {"active": "", "next": " (staged)", "previous": " (previous)",
                "retired": " (retired)"}


@dataclass(frozen=True)
class Row:
    host: str
    role: str
    cert: x509.Certificate | None
    trusted_on: str
    status: str
    detail: str = ""

    def cells(self, now: datetime) -> dict[str, str]:
        cert = self.cert
        return {
            "host": self.host,
            "role": self.role,
            "subject": (pki.subject_cn(cert) or "-") if cert else "-",
            "SANs": (", ".join(pki.san_list(cert)) if cert else "") or "-",
            "issuer": (pki.subject_cn(cert, issuer=True) or "-") if cert else "-",
            "not after": cert.not_valid_after_utc.date().isoformat() if cert else "-",
            "days": str((cert.not_valid_after_utc - now).days) if cert else "-",
            "trusted on": self.trusted_on or "-",
            "status": f"{self.status}{': ' + self.detail if self.detail else ''}",
        }


@dataclass
class ServerCerts:
    """What the inventory says one TabPy server serves, read without changing anything."""

    host: str
    fqdn: str
    address: str
    port: int
    window: int  # pki_renew_before_days
    source: str  # where its certificates come from, for the host column of CA rows
    private: bool
    artifacts: Path
    expected_leaf: x509.Certificate | None = None
    cas: list[pki.CaCert] = field(default_factory=list)
    problem: str | None = None  # why the expectation could not be read
    acme: bool = False  # ordered from an ACME CA by the deploy (renewed by it, too)
    service: str = "TabPy"  # whose certificate: TabPy's (a pool's too) or Rserve's


def expected_certs(name: str, data: Mapping) -> ServerCerts | None:
    """None for a server without TLS."""
    given = host_settings(settings.with_defaults(data))
    if given.tabpy.tabpy_transfer_protocol != "https":
        return None
    certificates = given.certificates
    where = endpoint(name, data)
    common = dict(host=name, fqdn=where.fqdn, address=where.address, port=where.port,
                  window=certificates.pki_renew_before_days,
                  artifacts=project_path(certificates.trust_artifacts_dir))
    if certificates.acme_directory_url is not None:
        return _expected_acme_certs(certificates, where.fqdn, common)
    if certificates.tabpy_certificate_file is None:
        folder = project_path(certificates.pki_dir)
        server = ServerCerts(source=_shown(folder), private=True, **common)
        try:
            server.cas = list(pki.load_ca(folder).registry)
            leaf_path = folder / pki.HOSTS_DIR / where.fqdn / pki.LEAF_CERT
            server.expected_leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
        except (pki.PkiError, OSError, ValueError) as error:
            server.problem = str(error)
        return server
    cert_path = project_path(certificates.tabpy_certificate_file)
    server = ServerCerts(source=_shown(cert_path), private=False, **common)
    try:
        certs, _, problem = pki.read_certificates(cert_path.read_bytes())
        chain, problem = (certs, problem) if problem else pki.order_chain(certs)
        if problem:
            raise ValueError(f"{cert_path}: {problem}")
        ca_file = None
        if certificates.tabpy_ca_file is not None:
            ca_file = pki.read_certificates(
                project_path(certificates.tabpy_ca_file).read_bytes())[0]
    except (OSError, ValueError) as error:
        server.problem = str(error)
        return server
    anchors = pki.supplied_anchors(chain, ca_file)
    server.expected_leaf = chain[0]
    server.cas = [pki.CaCert(pki.ROOT, "active", c, cert_path) for c in anchors]
    server.cas += [pki.CaCert(pki.INTERMEDIATE, "active", c, cert_path) for c in chain[1:]
                   if c not in anchors]
    return server


def _expected_acme_certs(certificates: CertificatesSettings, fqdn: str,
                         common: dict) -> ServerCerts:
    """The certificate the deploy last ordered for this name, and the root it leads to."""
    ca_file = certificates.tabpy_ca_file
    ca_path = project_path(ca_file) if ca_file else None
    server = ServerCerts(source=_shown(ca_path) if ca_path else certificates.acme_directory_url,
                         private=False, acme=True, **common)
    folder = pki_acme.certificate_folder(project_path(certificates.pki_dir), fqdn)
    try:
        chain = pki.read_certificates((folder / pki_acme.CHAIN_FILE).read_bytes())[0]
        server.expected_leaf = chain[0] if chain else None
        if ca_path is not None:
            server.cas = [pki.CaCert(pki.ROOT, "active", cert, ca_path)
                          for cert in pki.read_certificates(ca_path.read_bytes())[0]]
    except OSError as error:
        server.problem = f"{error.filename}: {error.strerror} (not ordered yet?)"
    return server


def expected_pool_certs(name: str, data: Mapping) -> ServerCerts | None:
    """What a pool balancer serves: the certificate of its lb_service_name on lb_port, from
    the same PKI settings as a TabPy server's (None without a service name)."""
    pool = for_role("pool", settings.with_defaults(data))
    if pool.lb_service_name is None:
        return None
    # Its data as a TabPy server's that answers on the service name and port.
    return expected_certs(name, {**data, "tabpy_fqdn": pool.lb_service_name,
                                 "tabpy_port": pool.lb_port})


def expected_rserve_certs(name: str, data: Mapping) -> ServerCerts | None:
    """What an Rserve server serves (always over TLS): its rserve_fqdn's certificate on
    rserve_port, from the same PKI settings as a TabPy server's."""
    rserve = for_role("rserve", settings.with_defaults(data))
    fqdn, address = rserve_endpoint(name, data)
    server = expected_certs(name, {**data, "tabpy_fqdn": fqdn, "tabpy_connect_address": address,
                                   "tabpy_port": rserve.rserve_port,
                                   "tabpy_transfer_protocol": "https"})
    if server is not None:
        server.service = "Rserve"
    return server


def artifact_contents(folder: Path) -> frozenset[bytes]:
    """The certificates (DER) of an artifacts folder's Windows files: matched by content, not
    by name (trust/plan.artifact_stems)."""
    return frozenset(path.read_bytes() for path in (folder / "windows").glob("*.cer"))


def _shown(path: Path) -> str:
    site = site_folder()
    return str(path.relative_to(site)) if path.is_relative_to(site) else str(path)


@dataclass(frozen=True)
class TrustHost:
    """A client or Tableau node: what its store should hold and what it holds (SHA-256s)."""

    name: str
    expected: frozenset[str]
    held: frozenset[str] | None  # None: could not be read
    problem: str = ""


def ca_rows(servers: Sequence[ServerCerts], hosts: Sequence[TrustHost],
            now: datetime) -> list[Row]:
    rows = []
    seen: set[str] = set()
    for server in servers:
        for ca in server.cas:
            entry = trust.TrustCert(ca.role, ca.cert)
            if entry.sha256 in seen:
                continue
            seen.add(entry.sha256)
            holders = [h.name for h in hosts if h.held and entry.sha256 in h.held]
            if ca.state == "retired" and not holders:
                continue
            missing = [h.name for h in hosts if h.held is not None
                       and entry.sha256 in h.expected and entry.sha256 not in h.held]
            in_artifacts = entry.der in artifact_contents(server.artifacts)
            trusted_on = ", ".join(holders + (["artifacts"] if in_artifacts else []))
            status, detail = _ca_status(ca, server, holders, missing, now)
            rows.append(Row(server.source, f"{ca.role} CA{STATE_LABELS[ca.state]}", ca.cert,
                            trusted_on, status, detail))
    return rows


def _ca_status(ca: pki.CaCert, server: ServerCerts, holders: list[str], missing: list[str],
               now: datetime) -> tuple[str, str]:
    left = (ca.cert.not_valid_after_utc - now).days
    if ca.state == "retired":
        return BROKEN, (f"retired, still trusted on {', '.join(holders)}: run tabpy-provision "
                        "deploy trust")
    if ca.cert.not_valid_after_utc <= now:
        return BROKEN, "expired"
    if missing:
        return BROKEN, f"not trusted on {', '.join(missing)}: run tabpy-provision deploy trust"
    if server.private and ca.role == pki.ROOT and left <= pki.ROOT_ROTATE_BEFORE_DAYS:
        return RENEW, "rotate it (tabpy-provision ca rotate-root)"
    if server.private and ca.role == pki.INTERMEDIATE and ca.state == "active" and \
            left <= pki.INTERMEDIATE_RENEW_BEFORE_DAYS:
        return RENEW, "the next deploy renews it"
    if not server.private and left <= server.window:
        return RENEW, "inside the renewal window: get a new one from your CA"
    return OK, ""


def leaf_row(server: ServerCerts, served: Sequence[x509.Certificate] | str,
             hosts: Sequence[TrustHost], now: datetime) -> Row:
    """The served leaf of one server (or why it could not be read) against the inventory."""
    role = f"{server.service} leaf (served)"
    if isinstance(served, str):
        return Row(server.host, role, None, "", BROKEN, f"cannot read it over TLS: {served}")
    leaf = served[0]
    roots = [ca.cert for ca in server.cas if ca.role == pki.ROOT and ca.trusted]
    anchor = next((root for root in roots if pki.anchored_at(served, root)), None)
    holders = [h.name for h in hosts if anchor is not None and h.held
               and trust.TrustCert(pki.ROOT, anchor).sha256 in h.held]
    trusted_on = f"via {pki.subject_cn(anchor)}: {', '.join(holders) or 'no host'}" \
        if anchor is not None else ""
    problems = pki.chain_problems(served, server.fqdn, now=now, trusted_roots=roots or None)
    if server.problem:
        status, detail = BROKEN, f"the inventory's certificate cannot be read: {server.problem}"
    elif problems:
        status, detail = BROKEN, problems[0]
    elif server.expected_leaf is None or leaf != server.expected_leaf:
        status, detail = BROKEN, ("not the inventory's certificate (changed by hand, or not "
                                  "deployed yet)")
    elif (leaf.not_valid_after_utc - now).days <= server.window:
        status, detail = RENEW, f"inside the renewal window ({server.window} days)" + (
            ": the next deploy orders a new one" if server.acme else "")
    elif server.acme:
        status, detail = OK, (f"ACME; the deploy renews it from "
                              f"{pki_acme.renewal_date(leaf.not_valid_after_utc, server.window)}")
    else:
        status, detail = OK, ""
    return Row(server.host, role, leaf, trusted_on, status, detail)


def expected_by_host(servers: Sequence[ServerCerts], hosts: Mapping[str, Mapping],
                     now: datetime) -> dict[str, frozenset[str]]:
    """What each trust host's store should hold (SHA-256s), per its trust_ca_certificates."""
    cas = [ca for server in servers for ca in server.cas]
    return {name: frozenset(c.sha256 for c in trust.trust_set(
        cas, for_role("trust", settings.with_defaults(data)).trust_ca_certificates,
        now=now).install)
        for name, data in hosts.items()}


def held_sha256s(held_names: Iterable[str] | None, held_sha1s: Iterable[str] | None,
                 known: Iterable[pki.CaCert]) -> frozenset[str]:
    """SHA-256s of the known CA certificates a store holds: by our file names, whatever their
    scope (Linux), or by SHA-1 (macOS)."""
    stems = {name.rsplit(".", 1)[0] for name in held_names or ()}
    sha1s = {s.upper() for s in held_sha1s or ()}
    found = set()
    for ca in known:
        entry = trust.TrustCert(ca.role, ca.cert)
        if any(stem.endswith(f"-{entry.label}") for stem in stems) or entry.sha1 in sha1s:
            found.add(entry.sha256)
    return frozenset(found)


def table(rows: Sequence[Row], now: datetime) -> str:
    cells = [row.cells(now) for row in rows]
    columns = list(cells[0]) if cells else ["host", "status"]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in cells]
    return "\n".join(lines)

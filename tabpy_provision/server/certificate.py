"""The certificate a TabPy server or pool balancer serves, planned: ordered from an ACME CA,
issued by the private CA, or supplied by the company (a chain put in order, a key decrypted).
Whatever the controller would have to write is staged in the run's `Staged` files. Pure: no
pyinfra import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tabpy_provision import pki
from tabpy_provision.controller.files import ControllerFileError, Staged, project_path
from tabpy_provision.pki import acme as pki_acme
from tabpy_provision.settings.secret_refs import SecretError, describe, resolve, secret_store
from tabpy_provision.settings.values import CertificatesSettings, Settings


@dataclass(frozen=True)
class Tls:
    chain_pem: bytes  # leaf first, as TabPy serves it
    key_pem: bytes = field(repr=False)
    ca_pem: bytes | None  # what the health check trusts; None: the controller's OS store
    summary: str  # e.g. "issued by the private CA (reused)"
    #: The CA certificates behind the chain, for the client trust deploy and the reports:
    #: the private CA's registry, or a supplied chain's anchors and intermediates.
    cas: tuple[pki.CaCert, ...] = ()
    #: What the run should say: intermediate or root near its end, chain put in order, key
    #: decrypted... (a certificate to issue is a staged change, said as planned or as done)
    notes: tuple[str, ...] = ()
    #: A certificate still to order from an ACME CA (the chain and key above are placeholders
    #: until the run orders it, after every check passed).
    acme_order: pki_acme.AcmeOrder | None = None
    #: Why the ACME order failed, while the current certificate keeps serving.
    acme_error: str | None = None



def ca_common_name(given: Settings) -> str:
    """The name a new private CA gets: pki_common_name, else one naming the environment, so a
    message quoting a CA's subject says whose it is."""
    return given.certificates.pki_common_name or f"tabpy-provision {given.backup.environment}"


def acme_problems(host: str, certificates: CertificatesSettings) -> list[str]:
    """ACME settings that cannot work together (TabPy servers and balancers alike)."""
    if certificates.acme_directory_url is None:
        return []
    problems = []
    if certificates.tabpy_certificate_file is not None:
        problems.append(f"{host}: acme_directory_url: the certificate comes either from ACME or "
                        "from tabpy_certificate_file, not both")
    if certificates.acme_challenge == "dns-01" and certificates.acme_dns_hook is None:
        problems.append(f"{host}: acme_dns_hook: required with acme_challenge dns-01 (the "
                        "challenge is answered by publishing a TXT record)")
    if certificates.tabpy_cert_ip_addresses:
        problems.append(f"{host}: tabpy_cert_ip_addresses: the deploy orders DNS names only "
                        "from an ACME CA: use DNS names")
    return problems


def certificate_names(fqdn: str, certificates: CertificatesSettings,
                      field: str = "tabpy_fqdn") -> list[tuple[str, str]]:
    """(setting, name) of every name a private CA's certificate for `fqdn` carries."""
    return [(field, fqdn.lower()),
            *(("tabpy_cert_dns_aliases", str(alias).lower().rstrip("."))
              for alias in certificates.tabpy_cert_dns_aliases),
            *(("tabpy_cert_ip_addresses", str(address))
              for address in certificates.tabpy_cert_ip_addresses)]


def plan_tls(host: str, fqdn: str, given: Settings, problems: list[str],
             now: datetime | None, files: Staged, *, renew: Any = None,
             permitted: Mapping[Path, pki.Permitted] | None = None,
             name_field: str = "tabpy_fqdn") -> Tls | None:
    """The certificate a host serves: from an ACME CA, the private CA or supplied files.
    `renew`: the run's acme_renew option; `permitted`: see plan_tabpy_server; `name_field`:
    the setting `fqdn` comes from."""
    certificates = given.certificates
    if certificates.acme_directory_url is not None:
        return _plan_acme_tls(host, fqdn, certificates, problems, now, files, renew)
    if certificates.tabpy_certificate_file is None:
        names = certificate_names(fqdn, certificates, name_field)
        try:
            pki_dir = project_path(certificates.pki_dir)
            wanted = (permitted or {}).get(pki_dir) or pki.permitted_for(
                [name for _, name in names], certificates.pki_permitted_names)
            ca = pki.ensure_ca(pki_dir, permitted=wanted, common_name=ca_common_name(given),
                               now=now, files=files)
            outside = [f"{host}: {problem}" for field, name in names if (problem := (
                pki.coverage_problem(field, name, ca.root_cert, ca.intermediate_cert)))]
            if outside:  # nothing is issued that clients would refuse
                problems += outside
                return None
            leaf = pki.ensure_leaf(
                ca, pki_dir, fqdn, dns_names=certificates.tabpy_cert_dns_aliases,
                ip_addresses=certificates.tabpy_cert_ip_addresses,
                days=certificates.pki_leaf_days,
                renew_before_days=certificates.pki_renew_before_days, now=now, files=files)
        except (pki.PkiError, ControllerFileError) as error:
            problems.append(f"{host}: pki_dir: {error}")
            return None
        return Tls(leaf.chain_pem, leaf.key_pem, ca.trusted_roots_pem,
                   f"private CA, {leaf.reason}", ca.registry, ca.notes)
    return _plan_supplied_tls(host, fqdn, given, problems, now, files)


def acme_renewal_asked(asked: Any, names: Sequence[str]) -> bool:
    """`--data acme_renew=all`, or a list naming one of these names."""
    asked = asked or ()
    if isinstance(asked, str):
        asked = asked.split(",")
    asked = {str(name).strip().lower() for name in asked}
    return "all" in asked or bool(asked & set(names))


def _plan_acme_tls(host: str, fqdn: str, certificates: CertificatesSettings,
                   problems: list[str], now: datetime | None, files: Staged,
                   renew: Any) -> Tls | None:
    """The stored ACME certificate while it fits; else an order, placed by the run once every
    check passed (pki/acme.py)."""
    found = acme_problems(host, certificates)
    if found:
        problems += found
        return None
    names = tuple(dict.fromkeys([fqdn, *certificates.tabpy_cert_dns_aliases]))
    pki_dir = project_path(certificates.pki_dir)
    url = certificates.acme_directory_url
    paths = _given_paths(tabpy_ca_file=certificates.tabpy_ca_file,
                         acme_server_ca_file=certificates.acme_server_ca_file)
    ca_data, unread = None, False
    for name, path in paths.items():
        try:
            data = path.read_bytes()
        except OSError as error:
            problems.append(f"{host}: {name}: {path}: {error.strerror}")
            unread = True
            continue
        if name == "tabpy_ca_file":
            ca_data = data
    if unread:
        return None
    anchors: list = []
    if ca_data is not None:
        anchors, _, problem = pki.read_certificates(ca_data)
        if problem:
            problems.append(f"{host}: tabpy_ca_file: {paths['tabpy_ca_file']}: {problem}")
            return None
    folder = pki_acme.certificate_folder(pki_dir, fqdn)
    try:
        current, reason = pki_acme.stored_certificate(
            files, folder, names, url, ca_data=ca_data,
            renew_before_days=certificates.pki_renew_before_days,
            renew=acme_renewal_asked(renew, names), now=now)
    except ControllerFileError as error:
        problems.append(f"{host}: pki_dir: {error}")
        return None
    cas = tuple(pki.CaCert(pki.ROOT, "active", cert, paths["tabpy_ca_file"]) for cert in anchors)
    ca_pem = b"".join(pki.to_pem(cert) for cert in anchors) or None
    if reason is None:
        return Tls(current.chain_pem, current.key_pem, ca_pem, f"ACME {url}, reused", cas)
    order = pki_acme.AcmeOrder(
        names=names, directory_url=url, challenge=certificates.acme_challenge, folder=folder,
        account_key=pki_acme.account_key_path(pki_dir, url),
        dns_hook=certificates.acme_dns_hook or (), server_ca=paths.get("acme_server_ca_file"),
        email=certificates.acme_email, timeout=int(certificates.acme_timeout), reason=reason,
        current=current)
    return Tls(pki_acme.PENDING_PEM, pki_acme.PENDING_PEM, ca_pem, f"ACME {url}, {reason}", cas,
               acme_order=order)


_SUPPLIED_INPUTS = {pki.CERTIFICATE_INPUT: "tabpy_certificate_file",
                    pki.KEY_INPUT: "tabpy_key_file", pki.CA_INPUT: "tabpy_ca_file"}


def _given_paths(**paths: str | None) -> dict[str, Path]:
    """Setting name -> controller path of the file settings that are set."""
    return {name: project_path(path) for name, path in paths.items() if path is not None}


def _plan_supplied_tls(host: str, fqdn: str, given: Settings, problems: list[str],
                       now: datetime | None, files: Staged) -> Tls | None:
    """A company CA's certificate: read, put in order, decrypted, checked (see pki)."""
    certificates, secrets = given.certificates, given.secrets
    paths = _given_paths(tabpy_certificate_file=certificates.tabpy_certificate_file,
                         tabpy_key_file=certificates.tabpy_key_file,
                         tabpy_ca_file=certificates.tabpy_ca_file)
    contents = {}
    for name, path in paths.items():
        try:
            contents[name] = path.read_bytes()
        except OSError as error:
            problems.append(f"{host}: {name}: {path}: {error.strerror}")
    reference = certificates.tabpy_key_passphrase
    passphrase = None
    if reference is not None:
        try:
            passphrase = resolve(reference, store=secret_store(
                project_path(secrets.secrets_dir), secrets.secrets_vault_path, "tls", files),
                store_key="tabpy_key_passphrase",
                allow_plaintext=secrets.allow_plaintext_secrets)
        except SecretError as error:
            problems.append(f"{host}: tabpy_key_passphrase ({describe(reference)}): {error}")
            return None
    if len(contents) < len(paths):
        return None
    supplied, found = pki.load_supplied_certificate(
        contents["tabpy_certificate_file"], contents["tabpy_key_file"], fqdn,
        passphrase=passphrase, ca_data=contents.get("tabpy_ca_file"),
        renew_before_days=certificates.pki_renew_before_days, now=now)
    for what, problem in found:
        if what == pki.PASSPHRASE_INPUT:
            problems.append(f"{host}: tabpy_key_passphrase ({describe(reference)}): {problem} "
                            f"{paths['tabpy_key_file']}")
        else:
            name = _SUPPLIED_INPUTS[what]
            problems.append(f"{host}: {name}: {paths[name]}: {problem}")
    if supplied is None:
        return None
    cert_path = paths["tabpy_certificate_file"]
    anchor_path = paths.get("tabpy_ca_file", cert_path)
    cas = tuple(pki.CaCert(pki.ROOT, "active", cert, anchor_path) for cert in supplied.anchors)
    cas += tuple(pki.CaCert(pki.INTERMEDIATE, "active", cert, cert_path)
                 for cert in supplied.chain[1:] if cert not in supplied.anchors)
    anchors_pem = b"".join(pki.to_pem(cert) for cert in supplied.anchors) or None
    summary = ", ".join((f"supplied {cert_path.name}", *supplied.notes))
    return Tls(supplied.chain_pem, supplied.key_pem, anchors_pem, summary, cas, supplied.notes)

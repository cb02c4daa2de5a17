"""Tableau Cloud: the TabPy connection of each Cloud site, set through the sites' REST API from
the controller (group tableau_cloud, host @local). Pure: no pyinfra import.

What differs from Tableau Server's REST path (docs/facts-tableau.md#tableau-cloud): a pod URL,
a site contentUrl always (Cloud has no Default site), one personal access token per site (a
Cloud token reaches its own site only), no server-level settings, SSL and authentication
required. And Tableau Cloud connects only to a TabPy whose chain verifies against a public
trust store: a private CA or a self-signed certificate is refused ("PKIX path building
failed"), so the deploy refuses that connection before any change.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from tabpy_provision import pki
from tabpy_provision.server import verify
from tabpy_provision.server.certificate import Tls
from tabpy_provision.server.plan import TabpyServerPlan, project_path
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.groups import CLOUD as GROUP  # noqa: F401  (tableau_cloud.GROUP)
from tabpy_provision.settings.typed import host_settings
from tabpy_provision.settings.values import CloudSettings, Settings
from tabpy_provision.tableau import plan as server_plan
from tabpy_provision.tableau.connection import Connection, RestTarget

CLOUD = server_plan.CLOUD
#: Tableau Server's settings a Cloud site has no use for (said as ignored, not refused).
SERVER_ONLY = ("tableau_version", "tableau_connect_timeout_ms", "tableau_restart_on_trust_change",
               "tableau_rest_url", "tableau_rest_token_name", "tableau_rest_token_secret",
               "tableau_rest_token_site", "tableau_rest_sites", "tableau_tsm_run_as",
               "tableau_tsm_login_user", "tableau_tsm_login_password")
#: Where a REST error of a Cloud site points (RestError.setting is Tableau Server's name).
SETTING_FOR = {"tableau_rest_url": "tableau_cloud_url",
               "tableau_rest_token_secret": "tableau_cloud_sites",
               "tableau_rest_sites": "tableau_cloud_sites"}


def plan_tableau_cloud(host: str, data: Mapping[str, Any], tabpy_plans: Sequence[TabpyServerPlan],
                       pools: Mapping[str, tuple[int, frozenset[str]]] | None = None
                       ) -> server_plan.TableauPlan:
    """Check one tableau_cloud entry; raise SettingsError with `host: field: problem` lines."""
    problems = settings.check_values(host, data)
    if problems:
        raise settings.SettingsError(problems)
    values = settings.with_defaults(data)
    given = host_settings(values)
    cloud, tableau = given.cloud, given.tableau
    for name, value in (("tableau_cloud_url", cloud.tableau_cloud_url),
                        ("tableau_tabpy_host", tableau.tableau_tabpy_host)):
        if value is None:
            problems.append(f"{host}: {name}: required for Tableau Cloud")
    if not cloud.tableau_cloud_sites:
        problems.append(f"{host}: tableau_cloud_sites: required: each site's contentUrl and "
                        "its personal access token")
    if not tableau.tableau_tabpy_ssl:
        problems.append(f"{host}: tableau_tabpy_ssl: Tableau Cloud connects to TabPy only over "
                        "SSL")
    connection = None
    if tableau.tableau_tabpy_host is not None:
        connection = server_plan.connect_to(host, tableau, tabpy_plans, problems, pools or {})
    if connection is not None and connection.user is None and not any(
            p.startswith(f"{host}: tableau_tabpy_user") for p in problems):
        problems.append(f"{host}: tableau_tabpy_user: Tableau Cloud requires authentication: "
                        "TabPy must use it (tabpy_auth_enabled) and Tableau sign in")
    target = _rest_target(host, given, problems)
    if problems:
        raise settings.SettingsError(problems)
    ignored = tuple(f"{name} (Tableau Server only)" for name in SERVER_ONLY if name in data)
    return server_plan.TableauPlan(host, values, None, CLOUD, connection, None, target, ignored)


def _rest_target(host: str, given: Settings, problems: list[str]) -> RestTarget | None:
    tableau, sites = given.tableau, given.cloud.tableau_cloud_sites
    url = given.cloud.tableau_cloud_url
    if url is None:
        return None
    url = url.rstrip("/")
    parts = urlsplit(url)
    ca_pem = server_plan.rest_ca(host, tableau, problems)
    tokens = {}
    for site, token in sites.items():
        secret = server_plan.resolve_secret(host, f"tableau_cloud_sites.{site}.token_secret",
                                            token["token_secret"], given.secrets, problems)
        if secret is not None:
            tokens[site] = (token["token_name"], secret)
    absent = tableau.tableau_rest_absent_connections
    if not tokens or len(tokens) < len(sites):
        return None
    first = next(iter(tokens))
    return RestTarget(url, parts.hostname or "", tableau.tableau_rest_connect_address or
                      parts.hostname or "", parts.port or 443, ca_pem, tokens[first][0],
                      tokens[first][1], first, tuple(tokens), absent, cloud=True,
                      site_tokens=tokens)


def public_roots(cloud: CloudSettings) -> tuple[list[x509.Certificate], str]:
    """The roots Tableau Cloud is taken to trust, and where they were read from: the
    tableau_cloud_public_roots file, else the controller's OS trust store."""
    configured = cloud.tableau_cloud_public_roots
    paths = ssl.get_default_verify_paths()
    path = project_path(configured) if configured else Path(paths.cafile or
                                                            paths.openssl_cafile)
    return _each_certificate(path.read_bytes()), str(path)


def _each_certificate(bundle: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle, one by one: an OS store holds a few that break the
    rules (a negative serial), which `cryptography` warns of and will refuse; they are left
    out rather than losing the whole store."""
    found = []
    for block in bundle.split(b"-----END CERTIFICATE-----")[:-1]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            try:
                found.append(x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----"))
            except (ValueError, CryptographyDeprecationWarning):
                continue
    return found


def served_at(name: str, plans: Iterable, pools: Iterable) -> list:
    """Where TabPy answers a connection's name: the pool balancers of that service name, else
    the TabPy servers with that name or alias (their plans)."""
    pools = [pool for pool in pools if pool.service_name == name]
    return pools or [plan for plan in plans if name in (
        plan.fqdn, *(alias.lower() for alias in plan.settings.certificates.tabpy_cert_dns_aliases))]


def chain_problems(tableau_plans: Mapping[str, server_plan.TableauPlan], plans: Iterable,
                   pools: Iterable) -> list[str]:
    """Tableau Cloud connections to a TabPy whose chain (as this run will serve it) does not
    verify against the public roots: refused before any change."""
    problems = []
    for name, plan in tableau_plans.items():
        if plan.mechanism != CLOUD:
            continue
        try:
            roots, where = public_roots(plan.settings.cloud)
        except OSError as error:
            problems.append(f"{name}: tableau_cloud_public_roots: {error.filename}: "
                            f"{error.strerror}")
            continue
        served = [found.tls for found in served_at(plan.connection.host, plans, pools)
                  if found.tls is not None]
        refusal = chain_refusal(name, plan.connection, served, roots, where)
        problems += [refusal] if refusal else []
    return problems


def test_connection(plan: server_plan.TableauPlan, plans: Iterable, pools: Iterable
                    ) -> verify.CheckResult:
    """Tableau Cloud's Test Connection, from the controller: TLS verified against the public
    roots only, basic auth, /evaluate answering."""
    c = plan.connection
    try:
        roots, _ = public_roots(plan.settings.cloud)
    except OSError as error:
        return verify.CheckResult(False, f"tableau_cloud_public_roots: {error}")
    found = served_at(c.host, list(plans), list(pools))
    address = found[0].connect_address if found else c.host
    return verify.check_tabpy(fqdn=c.host, address=address, port=c.port, https=True,
                              ca_pem=b"".join(pki.to_pem(root) for root in roots),
                              credentials=(c.user, c.password))


def chain_refusal(host: str, connection: Connection, served: Sequence[Tls],
                  roots: Sequence[x509.Certificate], where: str) -> str | None:
    """Why Tableau Cloud would refuse the chains TabPy serves at the connection's name (one
    line), or None."""
    for tls in served:
        if tls.acme_order is not None:  # not ordered yet (--dry): a real run checks it ordered
            continue
        chain = pki.read_certificates(tls.chain_pem)[0]
        problems = pki.chain_problems(chain, connection.host, trusted_roots=roots)
        if problems:
            issuer = pki.subject_cn(chain[0], issuer=True)
            return (f"{host}: tableau_tabpy_host: Tableau Cloud would refuse "
                    f"{connection.host}: its chain (issued by {issuer!r}) {problems[0]}; Cloud "
                    f"accepts only a publicly trusted CA ({where}), never a private or "
                    "self-signed one: order it from a public ACME CA (acme_directory_url) or "
                    "supply a public CA's certificate")
    return None

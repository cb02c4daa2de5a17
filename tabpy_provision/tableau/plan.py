"""Tableau Server's side of TabPy: which mechanism sets its analytics-extension connection (by
version) and what that connection must be, checked against the TabPy servers' plans. Pure: no
pyinfra import (the pyinfra side is tableau/deploy.py and tableau/operations.py).

    2018.2 - 2018.3  tsm configuration set -k vizqlserver.extsvc.host/port (no TLS, no user)
    2019.1 - 2020.1  tsm security vizql-extsvc-ssl enable (TLS, user and password)
    2020.2 and later per site, through the REST API, from the controller (tableau/rest.py)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from tabpy_provision.controller.files import Staged
from tabpy_provision.server.plan import TabpyServerPlan, project_path
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.secret_refs import SecretError, describe, resolve, secret_store
from tabpy_provision.settings.typed import WithSettings, for_role, host_settings
from tabpy_provision.settings.values import SecretsSettings, Settings, TableauSettings
from tabpy_provision.tableau.connection import Connection, RestTarget, Version

TSM_PACKAGES = "/opt/tableau/tableau_server/packages"
TSM_GLOB = f"{TSM_PACKAGES}/customer-bin.*/tsm"
TSM_CONFIGURATION = "tsm configuration"  # 2018.2 - 2018.3
TSM_EXTSVC_SSL = "tsm security vizql-extsvc-ssl"  # 2019.1 - 2020.1
REST = "REST API"  # 2020.2 and later
CLOUD = "Tableau Cloud REST API"  # a Tableau Cloud site (tableau/cloud.py)
#: Salted verifiers of the credentials this deploy gave Tableau (Tableau never shows a stored
#: password back): root-only, on the Tableau node. A missing entry means "set it again".
RECORD = "/var/lib/tabpy-provision/tableau-connections.json"
TSM_RECORD_KEY = "tsm"
CLOUD_RECORD = "tableau-cloud-connections.json"  # in secrets_dir
CONNECTION_TYPE = "tabpy"  # tsm --connection-type for TabPy (seen in use, docs/facts-tableau.md)
KEY_PREFIX = "vizqlserver.extsvc."
HOST_KEY, PORT_KEY = f"{KEY_PREFIX}host", f"{KEY_PREFIX}port"
TIMEOUT_KEY = f"{KEY_PREFIX}connect_timeout_ms"
NO_PENDING = "no pending changes"  # what `tsm pending-changes list` says when there are none



# --- versions ----------------------------------------------------------------------------------


def parse_version(text: str) -> Version:
    """"2019.4" or "2019.4.2" -> (2019, 4)."""
    year, release = text.split(".")[:2]
    return int(year), int(release)


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def mechanism(version: Version) -> str:
    """How Tableau Server of this version is given its TabPy connection."""
    if version < (2018, 2):
        raise ValueError(f"Tableau Server {version_text(version)} is configured with tabadmin, "
                         "without TLS: not supported (2018.2 or later is)")
    if version < (2019, 1):
        return TSM_CONFIGURATION
    if version < (2020, 2):
        return TSM_EXTSVC_SSL
    return REST


_CUSTOMER_BIN = re.compile(r"/customer-bin\.(20\d\d)(\d)\.[^/]*/tsm$")


def tsm_version(path: str) -> Version | None:
    """The version in a tsm path: customer-bin.20194.19.1105.1444/tsm -> (2019, 4)."""
    match = _CUSTOMER_BIN.search(path)
    return (int(match.group(1)), int(match.group(2))) if match else None


def pick_tsm(paths: Iterable[str]) -> tuple[str, Version | None] | None:
    """The tsm to use among those found: the newest customer-bin.<version> (old ones stay
    after an upgrade), else one found on PATH."""
    found = sorted({(tsm_version(p) or (0, 0), p) for p in paths if p}, reverse=True)
    if not found:
        return None
    version, path = found[0]
    return path, version if version != (0, 0) else None


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tsm:
    path: str
    version: Version | None
    run_as: str | None  # a member of the TSM-authorized group: no login needed
    login_user: str | None
    login_password: str | None = field(repr=False)


@dataclass(frozen=True)
class TableauPlan(WithSettings):
    host: str
    #: Every setting, defaults filled in, checked (the code reads `settings`).
    values: Mapping[str, Any]
    version: Version | None
    mechanism: str | None  # None: the connection is not managed here (trust only)
    connection: Connection | None
    tsm: Tsm | None
    rest: RestTarget | None
    #: Settings given that this node's mechanism does not read (a warning, not a problem).
    ignored: tuple[str, ...] = ()

    @property
    def record_path(self) -> str:
        """Where the record of the passwords Tableau was given is kept: on the node, or, for
        a Tableau Cloud site, with the controller's generated secrets."""
        if self.mechanism == CLOUD:
            return str(project_path(self.settings.secrets.secrets_dir) / CLOUD_RECORD)
        return RECORD

    @property
    def summary(self) -> str:
        if self.mechanism == CLOUD:
            return f"Tableau Cloud {self.rest.url}"
        version = version_text(self.version) if self.version else "?"
        return f"Tableau Server {version}, {self.mechanism}"


def plan_tableau_server(host: str, data: Mapping[str, Any],
                        tabpy_plans: Sequence[TabpyServerPlan],
                        tsm_programs: Sequence[str],
                        pools: Mapping[str, tuple[int, frozenset[str]]] | None = None
                        ) -> TableauPlan:
    """Check one Tableau Server node's inputs against the TabPy servers' plans; raise
    SettingsError with `host: field: problem` lines. `tsm_programs`: tsm paths found on it.
    `pools`: each pool balancer's service name -> (its port, the TabPy hosts behind it)."""
    problems = settings.check_values(host, data)
    if problems:
        raise settings.SettingsError(problems)
    values = settings.with_defaults(data)
    given = host_settings(values)
    tableau = given.tableau
    connection = connect_to(host, tableau, tabpy_plans, problems, pools or {})
    managed = tableau.tableau_tabpy_host is not None
    found = pick_tsm(tsm_programs)
    version = _plan_version(host, tableau, found, managed, problems)
    how = None
    if managed and version:
        try:
            how = mechanism(version)
        except ValueError as error:
            problems.append(f"{host}: tableau_version: {error}")
    if connection and how:
        problems += _mechanism_problems(host, tableau, how, version)
    tsm = None
    if how in (TSM_CONFIGURATION, TSM_EXTSVC_SSL) or tableau.tableau_restart_on_trust_change:
        tsm = _plan_tsm(host, given, found, how, problems)
    rest = _plan_rest(host, data, given, problems, version) if how == REST else None
    if problems:
        raise settings.SettingsError(problems)
    return TableauPlan(host, values, version, how, connection, tsm, rest,
                       _ignored(data, how, tsm is not None))


_REST_ONLY = ("tableau_connection_name",)


def _ignored(data: Mapping[str, Any], how: str | None, uses_tsm: bool) -> tuple[str, ...]:
    """`setting (why)` for each REST setting on a tsm node and tsm setting on a REST node (or
    either where the connection is not managed)."""
    rest = how == REST
    lines = []
    for name in sorted(data):
        if name.startswith("tableau_rest_") or name in _REST_ONLY:
            if not rest:
                lines.append(f"{name} (REST API only; this node: {how or 'connection unmanaged'})")
        elif name.startswith("tableau_tsm_") and not uses_tsm:
            lines.append(f"{name} (tsm only; this node: {how or 'connection unmanaged'})")
    return tuple(lines)


def plan_connection(host: str, data: Mapping[str, Any], tabpy_plans: Sequence[TabpyServerPlan],
                    pools: Mapping[str, tuple[int, frozenset[str]]]) -> Connection | None:
    """Only the connection of a Tableau node (what Tableau's Test Connection needs); None when
    it is not managed; SettingsError on bad inputs. `pools`: as for plan_tableau_server."""
    problems = settings.check_values(host, data)
    connection = None if problems else connect_to(
        host, for_role("tableau", settings.with_defaults(data)), tabpy_plans, problems, pools)
    if problems:
        raise settings.SettingsError(problems)
    return connection


def _plan_version(host: str, tableau: TableauSettings,
                  found: tuple[str, Version | None] | None, managed: bool,
                  problems: list[str]) -> Version | None:
    declared = tableau.tableau_version
    if declared is not None:
        version = parse_version(declared)
        if found and found[1] and found[1] != version:
            problems.append(f"{host}: tableau_version: {declared} declared, but the tsm on the "
                            f"host is {version_text(found[1])} ({found[0]})")
        return version
    if found and found[1]:
        return found[1]
    if managed:
        where = f"tsm at {found[0]} does not tell its version" if found else \
            f"no tsm found on the host ({TSM_GLOB} or PATH)"
        problems.append(f"{host}: tableau_version: not set, and {where}: set it")
    return None


def _servers_behind(endpoint: str, tabpy_plans: Sequence[TabpyServerPlan]
                    ) -> list[TabpyServerPlan]:
    """The TabPy servers Tableau reaches at `endpoint`: the one with that name, else those
    with it as an alias (a balancer or service name), else all of them (a balancer name the
    inventory does not list)."""
    return ([p for p in tabpy_plans if p.fqdn == endpoint]
            or [p for p in tabpy_plans if endpoint in
                (alias.lower() for alias in p.settings.certificates.tabpy_cert_dns_aliases)]
            or list(tabpy_plans))


def connect_to(host: str, tableau: TableauSettings,
                     tabpy_plans: Sequence[TabpyServerPlan], problems: list[str],
                     pools: Mapping[str, tuple[int, frozenset[str]]]) -> Connection | None:
    if tableau.tableau_tabpy_host is None:
        return None
    endpoint = tableau.tableau_tabpy_host.lower()
    pool = pools.get(endpoint)
    behind = [p for p in tabpy_plans if p.host in pool[1]] if pool else \
        _servers_behind(endpoint, tabpy_plans)
    if not behind:
        problems.append(f"{host}: tableau_tabpy_host: the inventory has no TabPy server "
                        "(group tabpy_servers)")
        return None
    names = ", ".join(p.host for p in behind)
    ports = [pool[0]] if pool else sorted({p.settings.tabpy.tabpy_port for p in behind})
    port = tableau.tableau_tabpy_port or ports[0]
    if tableau.tableau_tabpy_port is None and len(ports) > 1:
        problems.append(f"{host}: tableau_tabpy_port: TabPy on {names} listens on ports "
                        f"{', '.join(map(str, ports))}: set it")
    ssl = tableau.tableau_tabpy_ssl
    mismatched = [p.host for p in behind if p.https != ssl]
    if mismatched:
        problems.append(f"{host}: tableau_tabpy_ssl: {str(ssl).lower()}, but TabPy on "
                        f"{', '.join(mismatched)} serves {'http' if ssl else 'https'}")
    user, password = tableau.tableau_tabpy_user, None
    if any(p.settings.tabpy.tabpy_auth_enabled for p in behind):
        if user is None:
            problems.append(f"{host}: tableau_tabpy_user: required: TabPy on {names} uses "
                            "authentication")
        else:
            password = _shared_password(host, user, behind, problems)
    elif user is not None:
        problems.append(f"{host}: tableau_tabpy_user: TabPy on {names} has no authentication; "
                        "leave it unset")
    return Connection(endpoint, port, ssl, user.lower() if user else None, password,
                      tableau.tableau_connect_timeout_ms, tableau.tableau_connection_name,
                      tuple(p.host for p in behind))


def _shared_password(host: str, user: str, behind: Sequence[TabpyServerPlan],
                     problems: list[str]) -> str | None:
    """The user's password, the same on every server behind the endpoint (Tableau holds one)."""
    key = user.lower()
    missing = [p.host for p in behind if key not in p.passwords]
    if missing:
        problems.append(f"{host}: tableau_tabpy_user: {user!r} is not in tabpy_users of "
                        f"{', '.join(missing)}")
        return None
    if len({p.passwords[key] for p in behind}) > 1:
        references = sorted({describe(ref) for p in behind
                             for name, ref in p.settings.tabpy.tabpy_users.items()
                             if name.lower() == key})
        problems.append(f"{host}: tableau_tabpy_user: {user!r} has different passwords on "
                        f"{', '.join(p.host for p in behind)} ({', '.join(references)}); "
                        "Tableau holds one: give them the same secret reference")
        return None
    return behind[0].passwords[key]


def _mechanism_problems(host: str, tableau: TableauSettings, how: str, version: Version
                        ) -> list[str]:
    if how == TSM_CONFIGURATION and tableau.tableau_tabpy_ssl:
        return [f"{host}: tableau_tabpy_ssl: Tableau Server {version_text(version)} ({how}: "
                "keys host and port "
                "only) connects without TLS or credentials; TabPy must serve http without "
                "authentication for it (better: upgrade Tableau Server to 2019.1 or later)"]
    if how == TSM_EXTSVC_SSL and not tableau.tableau_tabpy_ssl:
        return [f"{host}: tableau_tabpy_ssl: false is not supported with {how} (2019.1-2020.1); "
                "TabPy is connected over TLS"]
    if how == REST and tableau.tableau_connect_timeout_ms is not None:
        return [f"{host}: tableau_connect_timeout_ms: Tableau Server 2020.2+ connections (REST "
                "API) have no timeout field; leave it unset"]
    return []


def _plan_tsm(host: str, given: Settings, found: tuple[str, Version | None] | None,
              how: str | None, problems: list[str]) -> Tsm | None:
    why = f"{how} needs it" if how in (TSM_CONFIGURATION, TSM_EXTSVC_SSL) else \
        "tableau_restart_on_trust_change needs it"
    if found is None:
        problems.append(f"{host}: tsm: not found on the host ({TSM_GLOB} or PATH); {why}")
        return None
    tableau = given.tableau
    run_as, login_user = tableau.tableau_tsm_run_as, tableau.tableau_tsm_login_user
    reference = tableau.tableau_tsm_login_password
    if run_as and login_user:
        problems.append(f"{host}: tableau_tsm_login_user: set tableau_tsm_run_as or tsm login "
                        "credentials, not both")
    elif not (run_as or login_user):
        problems.append(f"{host}: tableau_tsm_run_as: tsm needs credentials: a member of the "
                        "TSM-authorized group (tableau_tsm_run_as), or tableau_tsm_login_user "
                        "and tableau_tsm_login_password")
    password = None
    if login_user and reference is None:
        problems.append(f"{host}: tableau_tsm_login_password: required with "
                        "tableau_tsm_login_user")
    elif login_user:
        password = resolve_secret(host, "tableau_tsm_login_password", reference, given.secrets,
                                  problems)
    return Tsm(found[0], found[1], run_as, login_user, password)


def resolve_secret(host: str, name: str, reference: str, secrets: SecretsSettings,
                   problems: list[str]) -> str | None:
    """A secret issued elsewhere (a password, a token), from its reference (the settings
    refuse `generate` for these: the store is never written); `name` is said in problems."""
    store = secret_store(project_path(secrets.secrets_dir), secrets.secrets_vault_path,
                         "tableau", Staged())
    try:
        value = resolve(reference, store=store, store_key=name,
                        allow_plaintext=secrets.allow_plaintext_secrets)
    except SecretError as error:
        problems.append(f"{host}: {name} ({describe(reference)}): {error}")
        return None
    if not value:
        problems.append(f"{host}: {name} ({describe(reference)}): empty")
        return None
    return value


def rest_ca(host: str, tableau: TableauSettings, problems: list[str]) -> bytes | None:
    """tableau_rest_ca_file's certificates (PEM), or None: the controller's OS trust store."""
    if tableau.tableau_rest_ca_file is None:
        return None
    path = project_path(tableau.tableau_rest_ca_file)
    try:
        ca_pem = path.read_bytes()
        x509.load_pem_x509_certificates(ca_pem)
        return ca_pem
    except OSError as error:
        problems.append(f"{host}: tableau_rest_ca_file: {path}: {error.strerror}")
    except ValueError:
        problems.append(f"{host}: tableau_rest_ca_file: {path}: not PEM certificates")
    return None


def _plan_rest(host: str, data: Mapping[str, Any], given: Settings,
               problems: list[str], version: Version) -> RestTarget | None:
    tableau = given.tableau
    url = (tableau.tableau_rest_url or f"https://{host}").rstrip("/")
    parts = urlsplit(url)
    fqdn = parts.hostname or ""
    address = tableau.tableau_rest_connect_address or (
        data.get("ssh_hostname") if fqdn == host.lower() else None) or fqdn
    ca_pem = rest_ca(host, tableau, problems)
    for name, value in (("tableau_rest_token_name", tableau.tableau_rest_token_name),
                        ("tableau_rest_token_secret", tableau.tableau_rest_token_secret)):
        if value is None:
            problems.append(f"{host}: {name}: required for the REST API (Tableau Server "
                            "2020.2+): a server administrator's personal access token")
    secret = None
    if tableau.tableau_rest_token_secret is not None:
        secret = resolve_secret(host, "tableau_rest_token_secret",
                                tableau.tableau_rest_token_secret, given.secrets, problems)
    absent = tableau.tableau_rest_absent_connections
    if tableau.tableau_connection_name in absent:
        problems.append(f"{host}: tableau_rest_absent_connections: holds "
                        f"{tableau.tableau_connection_name!r}, the connection to keep")
    if secret is None or tableau.tableau_rest_token_name is None:
        return None
    return RestTarget(url, fqdn, address, parts.port or 443, ca_pem,
                      tableau.tableau_rest_token_name, secret,
                      tableau.tableau_rest_token_site or "",
                      tableau.tableau_rest_sites or ("",), absent,
                      one_connection_per_site=version < (2021, 2))


# --- tsm: commands and their output ------------------------------------------------------------

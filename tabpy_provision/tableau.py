"""Tableau Server's side of TabPy: which mechanism sets its analytics-extension connection (by
version), what that connection must be, tsm's commands and output, and Tableau's own "Test
Connection" run from a Tableau node. Pure: no pyinfra import (the pyinfra side is
deploys/tableau_server.py and operations.py; the REST API is tableau_rest.py).

    2018.2 - 2018.3  tsm configuration set -k vizqlserver.extsvc.host/port (no TLS, no user)
    2019.1 - 2020.1  tsm security vizql-extsvc-ssl enable (TLS, user and password)
    2020.2 and later per site, through the REST API, from the controller

tsm's output is not documented (docs/facts-tableau.md): the parsers here are the one place to adapt.
Passwords never go on a command line of ours: a command that needs one reads it from stdin into
a shell variable and `exec`s tsm, so only tsm's own arguments hold it, for as long as it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from tabpy_provision import settings, verify
from tabpy_provision.controller.files import Staged
from tabpy_provision.plan import TabpyServerPlan, project_path
from tabpy_provision.secret_refs import SecretError, describe, resolve, secret_store
from tabpy_provision.tableau_rest import RestTarget

GROUP = "tableau_servers"
TSM_PACKAGES = "/opt/tableau/tableau_server/packages"
TSM_GLOB = f"{TSM_PACKAGES}/customer-bin.*/tsm"
TSM_CONFIGURATION = "tsm configuration"  # 2018.2 - 2018.3
TSM_EXTSVC_SSL = "tsm security vizql-extsvc-ssl"  # 2019.1 - 2020.1
REST = "REST API"  # 2020.2 and later
#: Salted verifiers of the credentials this deploy gave Tableau (Tableau never shows a stored
#: password back): root-only, on the Tableau node. A missing entry means "set it again".
RECORD = "/var/lib/tabpy-provision/tableau-connections.json"
TSM_RECORD_KEY = "tsm"
CONNECTION_TYPE = "tabpy"  # tsm --connection-type for TabPy (seen in use, docs/facts-tableau.md)
KEY_PREFIX = "vizqlserver.extsvc."
HOST_KEY, PORT_KEY = f"{KEY_PREFIX}host", f"{KEY_PREFIX}port"
TIMEOUT_KEY = f"{KEY_PREFIX}connect_timeout_ms"
NO_PENDING = "no pending changes"  # what `tsm pending-changes list` says when there are none
_VERIFIER_ROUNDS = 200_000

Version = tuple[int, int]


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
class Connection:
    """What Tableau Server must hold for TabPy (Tableau's "analytics extension connection")."""

    host: str  # the name Tableau connects to (the TabPy certificate must cover it)
    port: int
    ssl: bool
    user: str | None  # None: TabPy without authentication
    password: str | None = field(repr=False)
    timeout_ms: int | None
    name: str  # REST: the connection's name on each site
    servers: tuple[str, ...] = ()  # the TabPy servers (inventory names) behind `host`

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Tsm:
    path: str
    version: Version | None
    run_as: str | None  # a member of the TSM-authorized group: no login needed
    login_user: str | None
    login_password: str | None = field(repr=False)


@dataclass(frozen=True)
class TableauPlan:
    host: str
    values: Mapping[str, Any]
    version: Version | None
    mechanism: str | None  # None: the connection is not managed here (trust only)
    connection: Connection | None
    tsm: Tsm | None
    rest: RestTarget | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def summary(self) -> str:
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
    connection = _plan_connection(host, values, tabpy_plans, problems, pools or {})
    managed = values["tableau_tabpy_host"] is not None
    found = pick_tsm(tsm_programs)
    version = _plan_version(host, values, found, managed, problems)
    how = None
    if managed and version:
        try:
            how = mechanism(version)
        except ValueError as error:
            problems.append(f"{host}: tableau_version: {error}")
    if connection and how:
        problems += _mechanism_problems(host, values, how, version)
    tsm = None
    if how in (TSM_CONFIGURATION, TSM_EXTSVC_SSL) or values["tableau_restart_on_trust_change"]:
        tsm = _plan_tsm(host, values, found, how, problems)
    rest = _plan_rest(host, data, values, problems) if how == REST else None
    if problems:
        raise settings.SettingsError(problems)
    return TableauPlan(host, values, version, how, connection, tsm, rest)


def plan_connection(host: str, data: Mapping[str, Any], tabpy_plans: Sequence[TabpyServerPlan],
                    pools: Mapping[str, tuple[int, frozenset[str]]]) -> Connection | None:
    """Only the connection of a Tableau node (what Tableau's Test Connection needs); None when
    it is not managed; SettingsError on bad inputs. `pools`: as for plan_tableau_server."""
    problems = settings.check_values(host, data)
    connection = None if problems else _plan_connection(
        host, settings.with_defaults(data), tabpy_plans, problems, pools)
    if problems:
        raise settings.SettingsError(problems)
    return connection


def _plan_version(host: str, values: Mapping[str, Any], found: tuple[str, Version | None] | None,
                  managed: bool, problems: list[str]) -> Version | None:
    declared = values["tableau_version"]
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
                (alias.lower() for alias in p["tabpy_cert_dns_aliases"])]
            or list(tabpy_plans))


def _plan_connection(host: str, values: Mapping[str, Any],
                     tabpy_plans: Sequence[TabpyServerPlan], problems: list[str],
                     pools: Mapping[str, tuple[int, frozenset[str]]]) -> Connection | None:
    if values["tableau_tabpy_host"] is None:
        return None
    endpoint = values["tableau_tabpy_host"].lower()
    pool = pools.get(endpoint)
    behind = [p for p in tabpy_plans if p.host in pool[1]] if pool else \
        _servers_behind(endpoint, tabpy_plans)
    if not behind:
        problems.append(f"{host}: tableau_tabpy_host: the inventory has no TabPy server "
                        "(group tabpy_servers)")
        return None
    names = ", ".join(p.host for p in behind)
    ports = [pool[0]] if pool else sorted({p["tabpy_port"] for p in behind})
    port = values["tableau_tabpy_port"] or ports[0]
    if values["tableau_tabpy_port"] is None and len(ports) > 1:
        problems.append(f"{host}: tableau_tabpy_port: TabPy on {names} listens on ports "
                        f"{', '.join(map(str, ports))}: set it")
    ssl = values["tableau_tabpy_ssl"]
    mismatched = [p.host for p in behind if p.https != ssl]
    if mismatched:
        problems.append(f"{host}: tableau_tabpy_ssl: {str(ssl).lower()}, but TabPy on "
                        f"{', '.join(mismatched)} serves {'http' if ssl else 'https'}")
    user, password = values["tableau_tabpy_user"], None
    if any(p["tabpy_auth_enabled"] for p in behind):
        if user is None:
            problems.append(f"{host}: tableau_tabpy_user: required: TabPy on {names} uses "
                            "authentication")
        else:
            password = _shared_password(host, user, behind, problems)
    elif user is not None:
        problems.append(f"{host}: tableau_tabpy_user: TabPy on {names} has no authentication; "
                        "leave it unset")
    return Connection(endpoint, port, ssl, user.lower() if user else None, password,
                      values["tableau_connect_timeout_ms"], values["tableau_connection_name"],
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
                             for name, ref in p["tabpy_users"].items() if name.lower() == key})
        problems.append(f"{host}: tableau_tabpy_user: {user!r} has different passwords on "
                        f"{', '.join(p.host for p in behind)} ({', '.join(references)}); "
                        "Tableau holds one: give them the same secret reference")
        return None
    return behind[0].passwords[key]


def _mechanism_problems(host: str, values: Mapping[str, Any], how: str, version: Version
                        ) -> list[str]:
    if how == TSM_CONFIGURATION and values["tableau_tabpy_ssl"]:
        return [f"{host}: tableau_tabpy_ssl: Tableau Server {version_text(version)} ({how}: "
                "keys host and port "
                "only) connects without TLS or credentials; TabPy must serve http without "
                "authentication for it (better: upgrade Tableau Server to 2019.1 or later)"]
    if how == TSM_EXTSVC_SSL and not values["tableau_tabpy_ssl"]:
        return [f"{host}: tableau_tabpy_ssl: false is not supported with {how} (2019.1-2020.1); "
                "TabPy is connected over TLS"]
    if how == REST and values["tableau_connect_timeout_ms"] is not None:
        return [f"{host}: tableau_connect_timeout_ms: Tableau Server 2020.2+ connections (REST "
                "API) have no timeout field; leave it unset"]
    return []


def _plan_tsm(host: str, values: Mapping[str, Any], found: tuple[str, Version | None] | None,
              how: str | None, problems: list[str]) -> Tsm | None:
    why = f"{how} needs it" if how in (TSM_CONFIGURATION, TSM_EXTSVC_SSL) else \
        "tableau_restart_on_trust_change needs it"
    if found is None:
        problems.append(f"{host}: tsm: not found on the host ({TSM_GLOB} or PATH); {why}")
        return None
    run_as, login_user = values["tableau_tsm_run_as"], values["tableau_tsm_login_user"]
    reference = values["tableau_tsm_login_password"]
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
        password = _resolve(host, "tableau_tsm_login_password", values, problems)
    return Tsm(found[0], found[1], run_as, login_user, password)


def _resolve(host: str, name: str, values: Mapping[str, Any], problems: list[str]) -> str | None:
    """A secret issued elsewhere (a password, a token), from its reference (the settings
    refuse `generate` for these: the store is never written)."""
    reference = values[name]
    store = secret_store(project_path(values["secrets_dir"]), values["secrets_vault_path"],
                         "tableau", Staged())
    try:
        value = resolve(reference, store=store, store_key=name,
                        allow_plaintext=values["allow_plaintext_secrets"])
    except SecretError as error:
        problems.append(f"{host}: {name} ({describe(reference)}): {error}")
        return None
    if not value:
        problems.append(f"{host}: {name} ({describe(reference)}): empty")
        return None
    return value


def _plan_rest(host: str, data: Mapping[str, Any], values: Mapping[str, Any],
               problems: list[str]) -> RestTarget | None:
    url = (values["tableau_rest_url"] or f"https://{host}").rstrip("/")
    parts = urlsplit(url)
    fqdn = parts.hostname or ""
    address = values["tableau_rest_connect_address"] or (
        data.get("ssh_hostname") if fqdn == host.lower() else None) or fqdn
    ca_pem = None
    if values["tableau_rest_ca_file"] is not None:
        path = project_path(values["tableau_rest_ca_file"])
        try:
            ca_pem = path.read_bytes()
            x509.load_pem_x509_certificates(ca_pem)
        except OSError as error:
            problems.append(f"{host}: tableau_rest_ca_file: {path}: {error.strerror}")
        except ValueError:
            problems.append(f"{host}: tableau_rest_ca_file: {path}: not PEM certificates")
    for name in ("tableau_rest_token_name", "tableau_rest_token_secret"):
        if values[name] is None:
            problems.append(f"{host}: {name}: required for the REST API (Tableau Server "
                            "2020.2+): a server administrator's personal access token")
    secret = None
    if values["tableau_rest_token_secret"] is not None:
        secret = _resolve(host, "tableau_rest_token_secret", values, problems)
    absent = tuple(values["tableau_rest_absent_connections"])
    if values["tableau_connection_name"] in absent:
        problems.append(f"{host}: tableau_rest_absent_connections: holds "
                        f"{values['tableau_connection_name']!r}, the connection to keep")
    if secret is None or values["tableau_rest_token_name"] is None:
        return None
    return RestTarget(url, fqdn, address, parts.port or 443, ca_pem,
                      values["tableau_rest_token_name"], secret,
                      values["tableau_rest_token_site"] or "",
                      tuple(values["tableau_rest_sites"] or [""]), absent)


# --- tsm: commands and their output ------------------------------------------------------------

SECRET = object()  # stands for the secret read from stdin in a command's arguments


def tsm_command(tsm: Tsm, *args: object) -> str:
    """A shell command running tsm (as tableau_tsm_run_as when set); SECRET becomes "$secret"."""
    prefix = ("runuser", "-u", tsm.run_as, "--") if tsm.run_as else ()
    return " ".join('"$secret"' if arg is SECRET else shlex.quote(str(arg))
                    for arg in (*prefix, tsm.path, *args))


def with_secret(command: str) -> str:
    """Read the secret from stdin, then become `command` (so no shell keeps it around)."""
    return f"IFS= read -r secret && exec {command}"


def login_command(tsm: Tsm) -> str:
    """`tsm login`, the password on stdin (login mode only)."""
    return with_secret(tsm_command(tsm, "login", "-u", tsm.login_user, "-p", SECRET))


def read_command(plan: TableauPlan) -> str:
    """One command printing what the deploy compares: pending changes, then the current
    setting, each after a `### name` line (logs in first in login mode: password on stdin)."""
    tsm = plan.tsm
    steps = ["echo '### pending'", tsm_command(tsm, "pending-changes", "list")]
    if plan.mechanism == TSM_EXTSVC_SSL:
        steps += ["echo '### list'", tsm_command(tsm, "security", "vizql-extsvc-ssl", "list")]
    for key in _read_keys(plan):
        steps += [f"echo '### {key}'", tsm_command(tsm, "configuration", "get", "-k", key)]
    reads = " && ".join(steps)
    if tsm.login_user:
        login = tsm_command(tsm, "login", "-u", tsm.login_user, "-p", SECRET)
        return f"IFS= read -r secret && {login} >/dev/null && unset secret && {reads}"
    return reads


def _read_keys(plan: TableauPlan) -> list[str]:
    keys = [HOST_KEY, PORT_KEY] if plan.mechanism == TSM_CONFIGURATION else []
    return keys + ([TIMEOUT_KEY] if plan.connection.timeout_ms is not None else [])


class TsmError(Exception):
    """tsm could not be read (login refused, tsm failing); the message quotes tsm."""


@dataclass(frozen=True)
class TsmState:
    pending: Mapping[str, str]  # key -> value as `pending-changes list` shows it
    current: Mapping[str, str]  # field -> value (host, port, username, ...; keys for config)


def parse_read_output(lines: Sequence[str]) -> TsmState:
    sections: dict[str, list[str]] = {}
    name = None
    for line in lines:
        if line.startswith("### "):
            name = line[4:].strip()
            sections[name] = []
        elif name is not None:
            sections[name].append(line)
    current = parse_extsvc_list(sections.pop("list", []))
    pending = parse_pending(sections.pop("pending", []))
    current.update({key: "\n".join(value).strip() for key, value in sections.items()})
    return TsmState(pending, current)


def parse_pending(lines: Sequence[str]) -> dict[str, str]:
    """`tsm pending-changes list`: {} when it says there are none, else its `key: value`
    lines (UNVERIFIED format: one change per line)."""
    if any(NO_PENDING in line.lower() for line in lines):
        return {}
    found = {}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep and "." in key and " " not in key:
            found[key] = value.strip()
    return found


_LIST_FIELDS = {"connection type": "connection_type", "host": "host", "port": "port",
                "username": "username", "ssl enabled": "ssl"}


def parse_extsvc_list(lines: Sequence[str]) -> dict[str, str]:
    """`tsm security vizql-extsvc-ssl list`: `Label: value` lines (UNVERIFIED format)."""
    found = {}
    for line in lines:
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() in _LIST_FIELDS:
            found[_LIST_FIELDS[label.strip().lower()]] = value.strip()
    return found


def foreign_pending(pending: Mapping[str, str]) -> list[str]:
    """Pending changes this deploy did not make (keys outside vizqlserver.extsvc.*): applying
    would apply them too, so the deploy stops instead."""
    return sorted(key for key in pending if not key.startswith(KEY_PREFIX))


def desired_tsm(plan: TableauPlan) -> dict[str, str]:
    """The settings tsm should show, as strings in the fields `read_command` reads."""
    c = plan.connection
    wanted = {HOST_KEY: c.host, PORT_KEY: str(c.port)} if plan.mechanism == TSM_CONFIGURATION \
        else {"connection_type": CONNECTION_TYPE, "host": c.host, "port": str(c.port),
              "username": c.user or "", "ssl": "true"}
    if c.timeout_ms is not None:
        wanted[TIMEOUT_KEY] = str(c.timeout_ms)
    return wanted


def tsm_differences(plan: TableauPlan, state: TsmState, record: Mapping[str, str]) -> list[str]:
    """What differs between tsm's current setting and the plan, one phrase each (no secret)."""
    wanted = desired_tsm(plan)
    found = [f"{key}: {state.current.get(key) or '(unset)'} -> {value}"
             for key, value in wanted.items() if state.current.get(key, "") != value]
    c = plan.connection
    if c.user and not verifier_matches(record.get(TSM_RECORD_KEY), c.user, c.password):
        found.append("password: " + ("changed" if TSM_RECORD_KEY in record else
                                     "not set by this deploy yet"))
    return found


def set_commands(plan: TableauPlan, state: TsmState, differences: Sequence[str]
                 ) -> list[tuple[str, str | None]]:
    """(command, secret for its stdin) that make tsm's pending setting the plan's."""
    tsm, c = plan.tsm, plan.connection
    changed = {phrase.split(":")[0] for phrase in differences}
    commands: list[tuple[str, str | None]] = []
    if plan.mechanism == TSM_EXTSVC_SSL and changed - {TIMEOUT_KEY}:
        args: list[object] = ["security", "vizql-extsvc-ssl", "enable", "--connection-type",
                              CONNECTION_TYPE, "--extsvc-host", c.host, "--extsvc-port", c.port]
        if c.user:
            args += ["--extsvc-username", c.user, "--extsvc-password", SECRET]
            commands.append((with_secret(tsm_command(tsm, *args)), c.password))
        else:
            commands.append((tsm_command(tsm, *args), None))
    wanted = desired_tsm(plan)
    for key in (HOST_KEY, PORT_KEY, TIMEOUT_KEY):
        if key in changed:
            commands.append((tsm_command(tsm, "configuration", "set", "-k", key, "-v",
                                         wanted[key]), None))
    return commands


def apply_command(tsm: Tsm) -> str:
    """Apply only when `tsm pending-changes list` shows changes (an apply may restart Tableau
    Server for every user); fails when the list cannot be read."""
    listing = tsm_command(tsm, "pending-changes", "list")
    apply = tsm_command(tsm, "pending-changes", "apply", "--ignore-prompt")
    return (f"changes=$({listing}) && {{ printf '%s\\n' \"$changes\" | grep -qi "
            f"{shlex.quote(NO_PENDING)} || {apply}; }}")


# --- the record of what this deploy gave Tableau ----------------------------------------------


def rest_record_key(site: str, name: str) -> str:
    return f"rest:{site}:{name}"


def verifier(user: str, password: str, *, salt: bytes | None = None) -> str:
    """A salted, slow verifier of (user, password): tells whether Tableau was given them,
    without keeping them."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", f"{user}\0{password}".encode(), salt,
                                 _VERIFIER_ROUNDS)
    return f"pbkdf2-sha256${_VERIFIER_ROUNDS}${salt.hex()}${digest.hex()}"


def verifier_matches(value: str | None, user: str, password: str | None) -> bool:
    try:
        scheme, rounds, salt, digest = (value or "").split("$")
        fresh = hashlib.pbkdf2_hmac("sha256", f"{user}\0{password}".encode(),
                                    bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return scheme == "pbkdf2-sha256" and hmac.compare_digest(fresh.hex(), digest)


def parse_record(lines: Sequence[str] | None) -> dict[str, str]:
    """The record file (FileContents lines; None: absent); unreadable counts as empty."""
    try:
        data = json.loads("\n".join(lines or ()) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def rest_record(record: Mapping[str, str], plan: TableauPlan, saved: Iterable[str]
                ) -> dict[str, str]:
    """The record after a REST run: a fresh verifier for each site whose connection was saved
    with the password; entries of sites or names no longer declared dropped."""
    c = plan.connection
    keep = {TSM_RECORD_KEY, *(rest_record_key(site, c.name) for site in plan.rest.sites)}
    updated = {key: value for key, value in record.items() if key in keep}
    if c.user:
        updated.update({rest_record_key(site, c.name): verifier(c.user, c.password)
                        for site in saved})
    return updated


def render_record(record: Mapping[str, str]) -> bytes:
    return (json.dumps(dict(sorted(record.items())), indent=1) + "\n").encode()


# --- Tableau's "Test Connection", run on a Tableau node ----------------------------------------

# Runs verify.py (stdlib only) with the node's python3: its OS trust store, Tableau's view.
# Source and credentials come on stdin, one JSON line: nothing secret on the command line.
_REMOTE_CHECK = """
import json, sys, types
payload = json.loads(sys.stdin.readline())
module = types.ModuleType("tabpy_provision_verify")
sys.modules[module.__name__] = module
exec(compile(payload["source"], "verify.py", "exec"), module.__dict__)
result = module.check_tabpy(**payload["args"])
print(json.dumps({"ok": result.ok, "detail": result.detail}))
"""


def remote_check_command() -> str:
    return f"python3 -c {shlex.quote(_REMOTE_CHECK)}"


def remote_check_input(connection: Connection) -> str:
    """The stdin of remote_check_command: what Tableau uses to connect, no CA of ours."""
    credentials = [connection.user, connection.password] if connection.user else None
    timeout = connection.timeout_ms / 1000 if connection.timeout_ms else 10
    args = dict(fqdn=connection.host, address=connection.host, port=connection.port,
                https=connection.ssl, ca_pem=None, credentials=credentials, timeout=timeout)
    return json.dumps({"source": Path(verify.__file__).read_text(), "args": args})


def remote_check_result(host: str, ran: bool, stdout: Sequence[str], stderr: Sequence[str]
                        ) -> verify.CheckResult:
    """Parse what remote_check_command printed on `host` (its last line is JSON)."""
    try:
        answer = json.loads(stdout[-1])
        return verify.CheckResult(bool(answer["ok"]) and ran,
                                  f"from {host} (its OS trust store): {answer['detail']}")
    except (IndexError, ValueError, KeyError, TypeError):
        said = " / ".join(line.strip() for line in [*stdout, *stderr][-3:]) or "no output"
        return verify.CheckResult(False, f"from {host}: the check did not run: {said}")

"""Every setting of tabpy-provision: name, role, default, one line of meaning, and its check.

This is the one list. The settings reference (docs/settings.md, kept equal by a test), the
refusal of unknown keys and the validation that runs before any host is touched all come
from `SETTINGS`. No pyinfra import here: this module is pure and unit-tested in milliseconds.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    check: Check
    role: str = ""


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    #: Inventory groups whose hosts read these settings (None: every host).
    groups: tuple[str, ...] | None


TABPY_SERVERS, POOL, CLIENTS, TABLEAU = "tabpy_servers", "tabpy_lb", "clients", "tableau_servers"
ROLES: tuple[Role, ...] = (
    Role("tabpy", "TabPy server", (TABPY_SERVERS,)),
    Role("certificates", "Certificates (private CA or supplied)", (TABPY_SERVERS, POOL)),
    Role("secrets", "Secrets and checks", (TABPY_SERVERS, POOL, TABLEAU)),
    Role("pool", "Pool balancer (and a host's own HAProxy)", (POOL, TABPY_SERVERS)),
    Role("backup", "Backups and the environment", None),
    Role("trust", "Client trust", (CLIENTS, TABLEAU)),
    Role("tableau", "Tableau Server node", (TABLEAU,)),
)
ROLE_BY_NAME = {role.name: role for role in ROLES}


def _in_role(role: str, *settings: Setting) -> tuple[Setting, ...]:
    return tuple(replace(setting, role=role) for setting in settings)


class SettingsError(Exception):
    """Bad inputs; `problems` holds one line per problem, each naming host and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- checks: each returns None when the value is fine, else a short phrase -----------------


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _int_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}, got {value!r}"
        return None

    return check


def _positive_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return f"must be a number above 0, got {value!r}"
    return None


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, got {value!r}"
        return None

    return check


def _absolute_path(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") != value:
        return f"must be an absolute path without a trailing slash, got {value!r}"
    if any(c.isspace() for c in value) or "%" in value:
        return f"must not contain whitespace or '%', got {value!r}"
    return None


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or "\n" in value:
        return f"must be a single-line string, got {value!r}"
    return None


def _non_empty_text(value: Any) -> str | None:
    return _text(value) or (None if value.strip() else "must not be empty")


_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _unix_name(value: Any) -> str | None:
    if not isinstance(value, str) or not _NAME.match(value):
        return f"must be a lower-case Unix name, got {value!r}"
    return None


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def dns_name_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _DNS_NAME.match(value.lower()):
        return f"must be a DNS name, got {value!r}"
    return None


def _dns_names(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of DNS names, got {value!r}"
    return next((p for p in map(dns_name_problem, value) if p), None)


def _ip_address(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address"
    return None


def _ip_addresses(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of IP addresses, got {value!r}"
    return next((p for p in map(_ip_address, value) if p), None)


def _mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else f"must be a mapping, got {value!r}"


def _version(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
        return f"must be a release like 2.16.0, got {value!r}"
    return None


_OAUTH_SCOPE = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")


def _oauth_scope(value: Any) -> str | None:
    if not isinstance(value, str) or not _OAUTH_SCOPE.match(value):
        return f"must be an OAuth scope token, got {value!r}"
    return None


def _given_secret(what: str) -> Check:
    """A secret reference to a value issued elsewhere (a passphrase, a token): not `generate`."""
    def check(value: Any) -> str | None:
        if value == "generate":
            return f"{what} cannot be generated; use env:, file:, cmd: or vault:"
        return _non_empty_text(value)

    return check


TRUST_OS_FAMILIES = ("debian", "rhel", "suse", "macos")
TRUST_ROLES = ("root", "intermediate")


def _trust_selection(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or any(item not in TRUST_ROLES for item in value):
        return f"must be a list of {' and '.join(TRUST_ROLES)}, got {value!r}"
    if "root" not in value:
        return "must include root (OpenSSL, curl and Java anchor trust at a root)"
    return None


# Tableau Server checks

_TABLEAU_VERSION = re.compile(r"^20\d\d\.\d+(\.\d+)?$")
_SITE = re.compile(r"^[A-Za-z0-9_-]*$")


def _tableau_version(value: Any) -> str | None:
    if not isinstance(value, str) or not _TABLEAU_VERSION.match(value):
        return f"must be a Tableau Server version like 2019.4 or 2021.1 (a string), got {value!r}"
    return None


def _site_content_url(value: Any) -> str | None:
    if not isinstance(value, str) or not _SITE.match(value):
        return f"must be a site contentUrl (letters, digits, - and _; \"\" for Default), " \
               f"got {value!r}"
    return None


def _site_list(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not value:
        return f"must be a non-empty list of site contentUrls, got {value!r}"
    return next((p for p in map(_site_content_url, value) if p), None)


def _text_list(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of names, got {value!r}"
    return next((p for p in map(_non_empty_text, value) if p), None)


def _https_url(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"https://[^/\s:]+(:\d{1,5})?/?", value):
        return f"must be an https URL without a path, like https://tableau.example.com, " \
               f"got {value!r}"
    return None


def _instance_count(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                           and 1 <= value <= 64):
        return None
    return f"must be an integer from 1 to 64 or auto, got {value!r}"


# --- the list ---------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    *_in_role(
        "tabpy",
        Setting("tabpy_version",
                "2.16.0", "TabPy release to install (a lock file must exist for it).",
                _version),
        Setting("tabpy_fqdn", None,
                "Name Tableau uses for this host; default: the inventory host name.",
                _optional(dns_name_problem)),
        Setting("tabpy_connect_address", None,
                "Address the controller dials for the health check; default: ssh_hostname, "
                "else tabpy_fqdn.", _optional(_non_empty_text)),
        Setting("tabpy_system_user",
                "tabpy", "System user and group TabPy runs as (no login shell).",
                _unix_name),
        Setting("tabpy_service_name", "tabpy", "systemd unit name.", _unix_name),
        Setting("tabpy_install_dir", "/opt/tabpy",
                "Versioned virtualenvs live here; `current` links to the active one.",
                _absolute_path),
        Setting("tabpy_releases_to_keep", 2,
                "Releases (config, users, TLS, venv) kept, the active and previous included; "
                "unused virtualenvs are removed.", _int_between(2, 20)),
        Setting("tabpy_rolling_batch", 1,
                "TabPy hosts restarted at once (each batch verified before the next); set per "
                "group.", _int_between(1, 1000)),
        Setting("tabpy_instances", 1,
                "TabPy processes on this host: a number or `auto` (one per CPU). Above 1, the "
                "host's HAProxy serves tabpy_port and spreads requests over them.",
                _instance_count),
        Setting("tabpy_instance_ports_start", 9101,
                "Port of the first TabPy process when tabpy_instances is above 1 (one port each, "
                "counting up; units tabpy@PORT).", _int_between(1024, 65000)),
        Setting("tabpy_config_dir", "/etc/tabpy",
                "Config, password file and TLS files (root:tabpy 0750).", _absolute_path),
        Setting("tabpy_log_dir", "/var/log/tabpy", "TabPy's own log files.", _absolute_path),
        Setting("tabpy_log_level", "INFO", "Level of TabPy's log (journal and file).",
                _one_of("DEBUG", "INFO", "WARNING", "ERROR")),
        Setting("tabpy_log_max_bytes", 10_000_000, "Size at which tabpy.log rotates.",
                _int_between(100_000, 1_000_000_000)),
        Setting("tabpy_log_backups", 5, "Rotated log files kept.", _int_between(0, 100)),
        Setting("tabpy_port", 9004, "TABPY_PORT: HTTPS port (binds every interface).",
                _int_between(1, 65535)),
        Setting("tabpy_transfer_protocol", "https", "TABPY_TRANSFER_PROTOCOL: https or http.",
                _one_of("https", "http")),
        Setting("tabpy_minimum_tls_version", "TLSv1_2",
                "TABPY_MINIMUM_TLS_VERSION: oldest TLS version TabPy accepts.",
                _one_of("TLSv1_2", "TLSv1_3")),
        Setting("tabpy_auth_enabled", True,
                "Basic auth on (sets TABPY_PWD_FILE); off needs tabpy_allow_no_auth.", _is_bool),
        Setting("tabpy_allow_no_auth", False,
                "Explicitly allow a server without authentication.", _is_bool),
        Setting("tabpy_users", {},
                "TabPy users: name -> secret reference (env:VAR, file:/path, cmd:..., generate).",
                _mapping),
        Setting("tabpy_state_path", "/var/lib/tabpy/state",
                "TABPY_STATE_PATH: state.ini and the deployed models (query_objects/).",
                _absolute_path),
        Setting("tabpy_query_object_path", "/var/lib/tabpy/query_objects",
                "TABPY_QUERY_OBJECT_PATH: created by TabPy (2.16 keeps models in the state path).",
                _absolute_path),
        Setting("tabpy_static_path", None,
                "TABPY_STATIC_PATH: landing page folder; default: TabPy's own.",
                _optional(_absolute_path)),
        Setting("tabpy_log_details", False,
                "TABPY_LOG_DETAILS: log caller, URL and scripts of each request.", _is_bool),
        Setting("tabpy_max_request_size_mb", 100,
                "TABPY_MAX_REQUEST_SIZE_MB: largest request body.",
                _int_between(1, 10_000)),
        Setting("tabpy_evaluate_enable", True,
                "TABPY_EVALUATE_ENABLE: false makes /evaluate 404 (deployed models only).",
                _is_bool),
        Setting("tabpy_evaluate_timeout", 30,
                "TABPY_EVALUATE_TIMEOUT: seconds a script may run (then HTTP 408).",
                _positive_number),
        Setting("tabpy_gzip_enable", True, "TABPY_GZIP_ENABLE: gzip requests and responses.",
                _is_bool),
        Setting("tabpy_arrow_enable", False,
                "TABPY_ARROW_ENABLE: Arrow Flight server (binds 0.0.0.0).", _is_bool),
        Setting("tabpy_arrowflight_port", 13622, "TABPY_ARROWFLIGHT_PORT.", _int_between(1, 65535)),
        Setting("tabpy_oauth_enabled", False, "TABPY_OAUTH_ENABLED: accept JWT bearer tokens.",
                _is_bool),
        Setting("tabpy_oauth_issuer", None, "TABPY_OAUTH_ISSUER: expected `iss` claim.",
                _optional(_non_empty_text)),
        Setting("tabpy_oauth_jwks_uri", None, "TABPY_OAUTH_JWKS_URI: https URL of the IdP's keys.",
                _optional(_non_empty_text)),
        Setting("tabpy_oauth_allow_nonpublic_jwks", False,
                "TABPY_OAUTH_ALLOW_NONPUBLIC_JWKS: JWKS host may resolve to a private address.",
                _is_bool),
        Setting("tabpy_oauth_audience", None, "TABPY_OAUTH_AUDIENCE: expected `aud` claim.",
                _optional(_non_empty_text)),
        Setting("tabpy_oauth_required_scopes", None,
                "TABPY_OAUTH_REQUIRED_SCOPES: comma-separated scopes every request needs.",
                _optional(_non_empty_text)),
        Setting("tabpy_oauth_enforce_endpoint_scopes", False,
                "TABPY_OAUTH_ENFORCE_ENDPOINT_SCOPES: per-endpoint scopes below.", _is_bool),
        Setting("tabpy_oauth_query_scope", "tabpy:query", "TABPY_OAUTH_QUERY_SCOPE.", _oauth_scope),
        Setting("tabpy_oauth_evaluate_scope", "tabpy:evaluate", "TABPY_OAUTH_EVALUATE_SCOPE.",
                _oauth_scope),
        Setting("tabpy_oauth_deploy_scope", "tabpy:deploy", "TABPY_OAUTH_DEPLOY_SCOPE.",
                _oauth_scope),
        Setting("tabpy_oauth_log_user", False, "TABPY_OAUTH_LOG_USER: log the JWT subject.",
                _is_bool),
    ),
    *_in_role(
        "certificates",
        Setting("tabpy_certificate_file", None,
                "Controller path of a PEM chain (leaf first) to serve; default: issue from the "
                "private CA.", _optional(_non_empty_text)),
        Setting("tabpy_key_file", None,
                "Controller path of the PEM key for tabpy_certificate_file.",
                _optional(_non_empty_text)),
        Setting("tabpy_cert_dns_aliases", [],
                "Extra DNS names in the issued certificate (e.g. a service alias).", _dns_names),
        Setting("tabpy_cert_ip_addresses", [], "IP addresses in the issued certificate.",
                _ip_addresses),
        Setting("pki_dir", "pki",
                "Controller folder of the private CA and issued keys (0700, git-ignored); "
                "relative to the project.", _non_empty_text),
        Setting("pki_common_name", "tabpy-provision", "Name in the private CA's subjects.",
                _non_empty_text),
        Setting("pki_leaf_days", 397, "Validity of issued TabPy certificates.",
                _int_between(2, 3650)),
        Setting("pki_renew_before_days", 30,
                "Reissue a certificate this many days before it expires.", _int_between(1, 3649)),
        Setting("tabpy_key_passphrase", None,
                "Secret reference (env:, file:, cmd:, vault:) of the passphrase of tabpy_key_file; "
                "the deploy installs the key decrypted (0600): TabPy has no passphrase option.",
                _optional(_given_secret("a passphrase"))),
        Setting("tabpy_ca_file", None,
                "Controller path of the CA certificate(s) (PEM, DER) tabpy_certificate_file chains "
                "to: checked, trusted by the health check and the report, given to clients; "
                "default: the chain's own root, else the controller's OS trust store.",
                _optional(_non_empty_text)),
        Setting("trust_artifacts_dir", "trust-artifacts",
                "On TabPy servers: controller folder where the trust deploy writes the Windows "
                "(.cer, PowerShell) and macOS (.mobileconfig) artifacts of their CAs; relative to "
                "the project.", _non_empty_text),
    ),
    *_in_role(
        "secrets",
        Setting("secrets_dir", "secrets",
                "Controller folder of generated passwords (0700, git-ignored); relative to the "
                "project.", _non_empty_text),
        Setting("secrets_vault_path", None,
                "Vault KV v2 MOUNT/PATH keeping generated passwords instead of secrets_dir "
                "(needs hvac, VAULT_ADDR, VAULT_TOKEN).", _optional(_non_empty_text)),
        Setting("allow_plaintext_secrets", False,
                "Accept a literal password in inventory (the lab only).", _is_bool),
        Setting("tabpy_health_check_user", None,
                "User the post-deploy check signs in as; default: the first of tabpy_users.",
                _optional(_non_empty_text)),
        Setting("tabpy_health_check_timeout", 90,
                "Seconds the post-deploy check waits for TabPy to answer.", _positive_number),
    ),
    *_in_role(
        "pool",
        Setting("lb_service_name", None,
                "tabpy_lb hosts: the name Tableau uses for the pool (DNS points it at the "
                "balancer); the balancer's certificate is issued for it.",
                _optional(dns_name_problem)),
        Setting("lb_port", 9004, "tabpy_lb hosts: port the balancer serves the pool on.",
                _int_between(1, 65535)),
        Setting("lb_backend_group", "tabpy_servers",
                "tabpy_lb hosts: inventory group whose TabPy processes form the pool.",
                _unix_name),
        Setting("lb_monitor_user", None,
                "User HAProxy's health checks sign in as (GET /info); must be in every backend's "
                "tabpy_users; default: tabpy_health_check_user, else the first user.",
                _optional(_non_empty_text)),
        Setting("lb_check_interval_ms", 1000,
                "Milliseconds between HAProxy's health checks of each TabPy process.",
                _int_between(100, 60_000)),
        Setting("lb_check_fall", 2, "Failed checks that take a TabPy process out of the pool.",
                _int_between(1, 10)),
        Setting("lb_check_rise", 2, "Passed checks that put a TabPy process back.",
                _int_between(1, 10)),
        Setting("lb_drain_timeout", 60,
                "Seconds a drained TabPy process gets to finish its requests before a restart.",
                _positive_number),
        Setting("lb_virtual_address", None,
                "tabpy_lb hosts: an address keepalived (VRRP) keeps on one balancer whose HAProxy "
                "runs (first the group's first host; it moves only when its holder fails); "
                "lb_service_name points at it. Unset: no keepalived.", _optional(_ip_address)),
        Setting("lb_vrrp_router_id", 51,
                "tabpy_lb hosts: VRRP router id of the pool, unique on the network (1-255).",
                _int_between(1, 255)),
        Setting("lb_vrrp_interface", None,
                "tabpy_lb hosts: interface that carries lb_virtual_address; default: the one on "
                "its network.", _optional(_non_empty_text)),
    ),
    *_in_role(
        "backup",
        Setting("environment", "default",
                "Name of this inventory's environment (e.g. production); backups are filed under "
                "it.", _unix_name),
        Setting("backup_dir", "backups",
                "Controller folder of encrypted backups (0700, git-ignored); relative to the "
                "project.", _non_empty_text),
        Setting("backup_key", None,
                "Secret reference of the passphrase that encrypts backups (required to back up or "
                "restore); keep it outside this controller too.", _optional(_non_empty_text)),
        Setting("controller_state_key", None,
                "Secret reference (env:, file:, cmd:, vault:) of the passphrase that encrypts the "
                "controller's state backups (python -m tabpy_provision.controller_state); keep "
                "it off the controller.", _optional(_given_secret("a passphrase"))),
        Setting("backup_keep", 7, "Backups kept per host (older ones removed).",
                _int_between(1, 1000)),
    ),
    *_in_role(
        "trust",
        Setting("trust_ca_certificates", ["root"],
                "On clients and Tableau nodes: which CA certificates of the TabPy servers go into "
                "the OS trust store: `[root]` or `[root, intermediate]`.", _trust_selection),
        Setting("trust_os_family", None,
                "On clients and Tableau nodes: trust store to manage (debian, rhel, suse, macos); "
                "default: detected from the host's facts.", _optional(_one_of(*TRUST_OS_FAMILIES))),
    ),
    *_in_role(
        "tableau",
        Setting("tableau_version", None,
                "On Tableau Server nodes: the version, which picks how the connection is set: "
                "2018.2-2018.3 `tsm configuration`, 2019.1-2020.1 `tsm security vizql-extsvc-ssl`, "
                "2020.2+ REST API; default: read from the installed tsm (customer-bin.<version>).",
                _optional(_tableau_version)),
        Setting("tableau_tabpy_host", None,
                "The TabPy name Tableau connects to: a TabPy server's tabpy_fqdn or alias, or a "
                "balancer name the TabPy certificates cover; unset: the connection is not managed "
                "(trust only).", _optional(dns_name_problem)),
        Setting("tableau_tabpy_port", None,
                "Port Tableau connects to; default: the pool's lb_port when tableau_tabpy_host is "
                "a balancer's lb_service_name, else the TabPy servers' tabpy_port.",
                _optional(_int_between(1, 65535))),
        Setting("tableau_tabpy_ssl", True,
                "Tableau's \"Require SSL\" (must match the TabPy servers' protocol).", _is_bool),
        Setting("tableau_tabpy_user", None,
                "TabPy user Tableau signs in as (one of the TabPy servers' tabpy_users: the "
                "password "
                "comes from the same secret reference); required when TabPy uses authentication.",
                _optional(_non_empty_text)),
        Setting("tableau_connect_timeout_ms", None,
                "tsm versions: vizqlserver.extsvc.connect_timeout_ms; default: Tableau's own.",
                _optional(_int_between(1, 3_600_000))),
        Setting("tableau_connection_name", "TabPy",
                "REST: name of the TABPY connection on each site (existing ones matched by name).",
                _non_empty_text),
        Setting("tableau_tsm_run_as", None,
                "tsm: run tsm as this local member of the TSM-authorized group (tsmadmin); no "
                "login needed.", _optional(_unix_name)),
        Setting("tableau_tsm_login_user", None,
                "tsm: else `tsm login` as this TSM administrator first.",
                _optional(_non_empty_text)),
        Setting("tableau_tsm_login_password", None,
                "tsm: secret reference (env:, file:, cmd:, vault:) of tableau_tsm_login_user's "
                "password.", _optional(_given_secret("a password"))),
        Setting("tableau_restart_on_trust_change", False,
                "Run `tsm restart` when the node's trust store changed; else the run only says "
                "that "
                "Tableau must restart to pick it up.", _is_bool),
        Setting("tableau_rest_url", None,
                "REST (2020.2+): Tableau Server's https URL; default: https://<inventory host>.",
                _optional(_https_url)),
        Setting("tableau_rest_connect_address", None,
                "REST: address the controller dials for tableau_rest_url; default: the host's "
                "ssh_hostname when the URL names this host, else the URL's host.",
                _optional(_non_empty_text)),
        Setting("tableau_rest_ca_file", None,
                "REST: controller path of the CA bundle (PEM) that verifies Tableau Server's own "
                "certificate; default: the controller's OS trust store.",
                _optional(_non_empty_text)),
        Setting("tableau_rest_token_name", None,
                "REST: name of a server administrator's personal access token.",
                _optional(_non_empty_text)),
        Setting("tableau_rest_token_secret", None,
                "REST: secret reference (env:, file:, cmd:, vault:) of the token's secret.",
                _optional(_given_secret("a token"))),
        Setting("tableau_rest_token_site", None,
                "REST: contentUrl of the site the token belongs to; default: the Default site.",
                _optional(_site_content_url)),
        Setting("tableau_rest_sites", None,
                "REST: sites (contentUrl) that get analytics extensions enabled and the "
                "connection; default: the Default site only.", _optional(_site_list)),
        Setting("tableau_rest_absent_connections", [],
                "REST: connection names to remove from those sites (e.g. an old TabPy).",
                _text_list),
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def defaults() -> dict[str, Any]:
    """The data_defaults of the TabPy server @deploy."""
    return {s.name: s.default for s in SETTINGS}


def with_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting's value for one host: declared, else the default."""
    return {s.name: data.get(s.name, s.default) for s in SETTINGS}


def check_values(host: str, data: Mapping[str, Any]) -> list[str]:
    """Check the declared settings of one host; return `host: field: problem` lines."""
    problems = []
    for setting in SETTINGS:
        problem = setting.check(data.get(setting.name, setting.default))
        if problem:
            problems.append(f"{host}: {setting.name}: {problem}")
    return problems


#: Keys a run takes from `--data` that are not settings (what one run should do).
RUN_OPTIONS = {
    "rotate_users": "deploy/rotate.py: the users to rotate (default: every generated one)",
    "restore_from": "deploy/restore.py: the host whose backup is restored",
    "restore_environment": "deploy/restore.py: the environment the backup was filed under",
    "restore_archive": "deploy/restore.py: one archive instead of the newest",
    "new_identity": "give hosts that already serve another CA, or hold users this controller "
                    "has no generated password for, a new CA and new passwords",
}
#: pyinfra's own data: connectors' settings and global arguments (`_sudo`, `_env`, ...).
PYINFRA_PREFIXES = ("ssh_", "winrm_", "docker_", "dockerssh_", "chroot_", "podman_", "local_",
                    "terraform_", "vagrant_", "_")


def unknown_keys(host: str, data: Iterable[str]) -> list[str]:
    """`host: key: unknown setting (did you mean ...?)` for each key no one reads."""
    known = [*BY_NAME, *RUN_OPTIONS]
    problems = []
    for key in sorted(data):
        if key in BY_NAME or key in RUN_OPTIONS or key.startswith(PYINFRA_PREFIXES):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{host}: {key}: unknown setting{hint}")
    return problems


def misplaced_keys(host: str, data: Iterable[str], groups: Iterable[str]) -> list[str]:
    """`host: key: ...` for settings the host's groups do not read (a warning: group data
    shared by several groups may well hold them)."""
    groups = set(groups)
    lines = []
    for key in sorted(data):
        setting = BY_NAME.get(key)
        role = ROLE_BY_NAME[setting.role] if setting else None
        if role and role.groups is not None and not groups & set(role.groups):
            lines.append(f"{host}: {key}: a {role.name} setting, read only on hosts "
                         f"of {', '.join(role.groups)}: ignored here")
    return lines


def markdown_table() -> str:
    """The settings reference (docs/settings.md), one table per role, generated from SETTINGS
    (a test keeps them equal)."""
    sections = []
    for role in ROLES:
        where = "every host" if role.groups is None else ", ".join(f"`{g}`" for g in role.groups)
        lines = [f"### {role.title}", "", f"Read on: {where}.", "",
                 "| setting | default | meaning |", "|---|---|---|"]
        for s in SETTINGS:
            if s.role == role.name:
                default = "(see meaning)" if s.default is None else \
                    f"`{_render_default(s.default)}`"
                lines.append(f"| `{s.name}` | {default} | {s.meaning} |")
        sections.append("\n".join(lines))
    options = ["### Run options (`--data`)", "", "| option | meaning |", "|---|---|",
               *(f"| `{name}` | {meaning} |" for name, meaning in RUN_OPTIONS.items())]
    return "\n\n".join([*sections, "\n".join(options)])


def _render_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return f"[{', '.join(map(str, value))}]"
    return str(value)


REFERENCE = "docs/settings.md"
MARKERS = ("<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->")


def write_reference(path) -> None:
    """Replace the tables between the settings reference's markers."""
    text = path.read_text()
    start, end = MARKERS
    head, rest = text.split(start, 1)
    path.write_text(head + start + markdown_table() + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:] == ["--write-docs"]:
        write_reference(Path(__file__).resolve().parents[1] / REFERENCE)
    else:
        print(markdown_table())

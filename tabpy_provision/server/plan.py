"""Turn one TabPy host's inventory data into a checked plan: every input resolved and validated.

Runs on the controller before any host is touched: settings checks, user names and passwords
(resolved from secret references), the TLS certificate (server/certificate.py),
and the files the host will get, rendered in memory. Whatever the controller would have to
write (a new CA or certificate, a generated password) is staged in the run's `Staged` files,
never written here. No pyinfra import: pure and unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged, project_path
from tabpy_provision.functions import source as functions_source
from tabpy_provision.run import host_claims
from tabpy_provision.server import passwords
from tabpy_provision.server.certificate import Tls, plan_tls
from tabpy_provision.server.limits import Limits, floor_problem, process_limits
from tabpy_provision.server.tls_profile import TlsProfile, host_profile
from tabpy_provision.settings import table
from tabpy_provision.settings.secret_refs import (
    SecretStore,
    describe,
    resolve_users,
    secret_store,
)
from tabpy_provision.settings.typed import WithSettings, for_role, host_settings
from tabpy_provision.settings.value_checks import dns_name_problem
from tabpy_provision.settings.values import (
    AnalyticsSettings,
    SecretsSettings,
    Settings,
    TabpySettings,
)
from tabpy_provision.wheelhouse import nltk_data


@dataclass(frozen=True)
class Instance:
    """One TabPy process of a host: its port, unit, config file and the folders it writes."""
    port: int
    unit: str
    config_name: str  # inside the release folder
    state_path: str
    query_object_path: str
    log_file: str


@dataclass(frozen=True)
class TabpyServerPlan(WithSettings):
    host: str
    fqdn: str
    connect_address: str
    #: Every setting, defaults filled in, checked: what templates read by name (the code reads
    #: `settings`).
    values: Mapping[str, Any]
    tls: Tls | None
    password_file: bytes | None = field(repr=False)
    health_user: str | None
    health_password: str | None = field(repr=False, default=None)
    notes: tuple[str, ...] = ()  # things the run should say (never a secret)
    rotating: frozenset[str] = frozenset()  # user store keys whose pending password is used
    #: Every declared user's password (names lower-cased, as TabPy knows them): what Tableau
    #: Server is given for its connection, from the same references as the password file.
    passwords: Mapping[str, str] = field(repr=False, default_factory=dict)
    #: TabPy processes on the host (tabpy_instances, `auto` resolved to the host's CPUs).
    instance_count: int = 1
    #: Where the generated passwords of its users live (rotation promotes them there).
    secret_store: SecretStore | None = field(repr=False, compare=False, default=None)
    #: What one TabPy process may use of the host (its unit's limits).
    limits: Limits = field(default_factory=lambda: Limits(1 << 30, 512, 100))
    #: The pre-built models and analysts' functions published on every TabPy process.
    functions: tuple[functions_source.Function, ...] = ()

    @property
    def nltk_resources(self) -> tuple[str, ...]:
        """The NLTK data shipped to the host: what it asks for and what its models need."""
        return functions_source.nltk_data_needed(self.settings.analytics.tabpy_nltk_data,
                                                 self.functions)

    @property
    def nltk_folder(self) -> Path | None:
        folder = self.settings.analytics.tabpy_nltk_data_dir
        return project_path(folder) if folder else None

    @property
    def instances(self) -> tuple[Instance, ...]:
        """One process on tabpy_port (unit tabpy.service), or, above one, processes on ports
        from tabpy_instance_ports_start (units tabpy@PORT.service), each writing its own
        folders, behind the host's HAProxy on tabpy_port."""
        tabpy = self.settings.tabpy
        service = tabpy.tabpy_service_name
        if self.instance_count == 1:
            return (Instance(tabpy.tabpy_port, f"{service}.service", "tabpy.conf",
                             tabpy.tabpy_state_path, tabpy.tabpy_query_object_path,
                             f"{tabpy.tabpy_log_dir}/tabpy.log"),)
        start = tabpy.tabpy_instance_ports_start
        return tuple(
            Instance(port, f"{service}@{port}.service", f"instances/{port}.conf",
                     f"{tabpy.tabpy_state_path}/{port}",
                     f"{tabpy.tabpy_query_object_path}/{port}",
                     f"{tabpy.tabpy_log_dir}/tabpy-{port}.log")
            for port in range(start, start + self.instance_count))

    @property
    def arrow_port(self) -> int | None:
        """Arrow Flight's port when it is on (it binds every interface), else None."""
        tabpy = self.settings.tabpy
        return tabpy.tabpy_arrowflight_port if tabpy.tabpy_arrow_enable else None

    @property
    def local_balancer(self) -> bool:
        """Whether the host's own HAProxy serves tabpy_port (more than one TabPy process)."""
        return self.instance_count > 1

    @property
    def unit_file(self) -> str:
        service = self.settings.tabpy.tabpy_service_name
        return f"{service}@.service" if self.local_balancer else f"{service}.service"

    @property
    def user_names(self) -> tuple[str, ...]:
        """Declared TabPy users as TabPy knows them (lower-cased)."""
        return tuple(sorted(user.lower() for user in self.settings.tabpy.tabpy_users))

    def __getitem__(self, name: str) -> Any:
        """A setting by name: no module of the package reads one so any more (they read
        `settings`); the lab suite (tests/integration) still does."""
        return self.values[name]

    @property
    def https(self) -> bool:
        return self.settings.tabpy.tabpy_transfer_protocol == "https"

    @property
    def tls_profile(self) -> TlsProfile:
        """What every TLS listener of the host offers: TabPy's and its own HAProxy's."""
        tabpy = self.settings.tabpy
        return host_profile(tabpy.tabpy_tls_profile, tabpy.tabpy_minimum_tls_version)

    @property
    def config_dir(self) -> str:
        return self.settings.tabpy.tabpy_config_dir

    @property
    def current_dir(self) -> str:
        """Link to the active release (see release.py): every path TabPy reads is under it."""
        return f"{self.config_dir}/current"

    @property
    def releases_dir(self) -> str:
        return f"{self.config_dir}/releases"

    @property
    def config_path(self) -> str:
        return f"{self.current_dir}/tabpy.conf"

    @property
    def password_path(self) -> str:
        return f"{self.current_dir}/passwords"

    @property
    def certificate_path(self) -> str:
        return f"{self.current_dir}/tls/tabpy.crt"

    @property
    def key_path(self) -> str:
        return f"{self.current_dir}/tls/tabpy.key"

    @property
    def endpoint_args(self) -> dict[str, Any]:
        """How Tableau reaches this TabPy: the keyword arguments of verify's requests."""
        return dict(fqdn=self.fqdn, address=self.connect_address,
                    port=self.settings.tabpy.tabpy_port, https=self.https,
                    ca_pem=self.tls.ca_pem if self.tls else None)

    @property
    def health_credentials(self) -> tuple[str, str] | None:
        return (self.health_user, self.health_password) if self.health_user else None

    @property
    def venv_link(self) -> str:
        return f"{self.current_dir}/venv"

    @property
    def ca_path(self) -> str:
        """The CA the certificate chains to (for checks on the host; TabPy does not read it)."""
        return f"{self.config_dir}/ca.crt"


def users_secret_store(secrets: SecretsSettings, files: Staged) -> SecretStore:
    """Where the generated passwords of TabPy users live."""
    return secret_store(project_path(secrets.secrets_dir), secrets.secrets_vault_path,
                        "tabpy_users", files)


@dataclass(frozen=True)
class Endpoint:
    fqdn: str  # the name Tableau uses (and the certificate must cover)
    address: str  # what the controller dials
    port: int


def endpoint(host: str, data: Mapping[str, Any]) -> Endpoint:
    """Where a TabPy server answers, from its checked inventory data alone (nothing
    resolved)."""
    tabpy = for_role("tabpy", table.with_defaults(data))
    fqdn = (tabpy.tabpy_fqdn or host).lower()
    return Endpoint(fqdn, tabpy.tabpy_connect_address or data.get("ssh_hostname") or fqdn,
                    tabpy.tabpy_port)


def plan_tabpy_server(host: str, data: Mapping[str, Any], *, now: datetime | None = None,
                      rotate: frozenset[str] | None = None, cpus: int = 1,
                      memory: int = 4 << 30,
                      pool_monitors: frozenset[str | None] = frozenset(),
                      files: Staged | None = None,
                      permitted: Mapping[Path, pki.Permitted] | None = None) -> TabpyServerPlan:
    """Check every input of one host; raise SettingsError listing `host: field: problem` lines.

    `files`: the run's controller files, where a new CA, certificate or password is staged
    (None: a staging of its own that nothing applies - a check that writes nothing).
    `cpus`, `memory`: the host's CPU count (what tabpy_instances `auto` means) and memory in
    bytes (what a share in tabpy_memory_max is of). `pool_monitors`: the
    lb_monitor_user of each pool balancer (None: the default, this host's health user).
    `permitted`: what each private CA (by pki_dir) may issue for, from every host of the
    inventory that uses it (pki/ca_names.py); a CA to create gets it (default: this host's names).
    `rotate`: users (lower-cased) whose generated password is being rotated: the plan uses the
    pending value from the secret store. An empty set means every generated user."""
    files = files if files is not None else Staged()
    problems = table.check_values(host, data)
    values = table.with_defaults(data)
    if not problems:  # the checks below need well-typed values
        fqdn_problem = dns_name_problem(for_role("tabpy", values).tabpy_fqdn or host)
        if fqdn_problem:
            problems.append(f"{host}: tabpy_fqdn: {fqdn_problem}")
        elif dns_name_problem(host):  # it names the host's folders under backup_dir
            problems.append(f"{host}: inventory name: must be a DNS name or an IPv4 address "
                            "(it names folders on the controller)")
    # Read as the inventory gave it (other settings may have failed their checks), so that a
    # bad user name is reported in the same run.
    if isinstance(declared_users := data.get("tabpy_users", {}), Mapping):
        problems += _user_name_problems(host, declared_users)
    if problems:
        raise table.SettingsError(problems)
    given = host_settings(values)
    tabpy = given.tabpy
    where = endpoint(host, data)
    fqdn = where.fqdn

    problems += _cross_field_problems(host, given)
    problems += host_claims.shape_problems(host, values)
    instance_count = cpus if tabpy.tabpy_instances == "auto" else tabpy.tabpy_instances
    problems += _instance_problems(host, tabpy, instance_count)
    limits = process_limits(given.network, memory, instance_count)
    if (problem := floor_problem(limits)) is not None:
        problems.append(f"{host}: tabpy_memory_max: {problem}")
    health_user = given.secrets.tabpy_health_check_user or next(iter(tabpy.tabpy_users), None)
    # Users a balancer checks this host's processes with: never rotated in a roll.
    monitors = {user for user in pool_monitors if user is not None}
    if health_user and (None in pool_monitors or instance_count > 1):
        monitors.add(health_user)
    rotating = _rotating_users(host, tabpy.tabpy_users, rotate,
                               frozenset(user.lower() for user in monitors), problems)
    notes: list[str] = []
    store = users_secret_store(given.secrets, files)
    users = resolve_users(host, "tabpy_users", tabpy.tabpy_users, store, rotating,
                          given.secrets.allow_plaintext_secrets, passwords.password_problem,
                          problems, notes)
    tls = plan_tls(host, fqdn, given, problems, now, files, renew=data.get("acme_renew"),
                   permitted=permitted) if tabpy.tabpy_transfer_protocol == "https" else None
    analytics = given.analytics
    functions = _declared_functions(host, analytics, problems)
    if analytics.tabpy_nltk_data_dir and (problem := nltk_data.folder_problem(
            project_path(analytics.tabpy_nltk_data_dir),
            resources=functions_source.nltk_data_needed(analytics.tabpy_nltk_data, functions))):
        problems.append(f"{host}: tabpy_nltk_data_dir: {problem}")
    if problems:
        raise table.SettingsError(problems)

    auth = tabpy.tabpy_auth_enabled
    return TabpyServerPlan(
        host=host,
        fqdn=fqdn,
        connect_address=where.address,
        values=values,
        tls=tls,
        password_file=passwords.render_password_file(users) if auth else None,
        health_user=health_user if auth else None,
        health_password=users.get(health_user) if auth else None,
        notes=tuple(notes),
        rotating=rotating,
        passwords={user.lower(): password for user, password in users.items()},
        instance_count=instance_count,
        secret_store=store,
        limits=limits,
        functions=functions,
    )


def _declared_functions(host: str, analytics: AnalyticsSettings,
                        problems: list[str]) -> tuple[functions_source.Function, ...]:
    """The models and function files the host publishes, read (never run) here."""
    folder = analytics.tabpy_functions_dir
    try:
        return functions_source.declared(list(analytics.tabpy_prebuilt_models),
                                         project_path(folder) if folder else None)
    except functions_source.FunctionError as error:
        problems.append(f"{host}: tabpy_functions_dir: {error}")
        return ()


def _instance_problems(host: str, tabpy: TabpySettings, count: int) -> list[str]:
    if count == 1:
        return []
    start = tabpy.tabpy_instance_ports_start
    ports = range(start, start + count)
    problems = []
    if ports[-1] > 65535:
        problems.append(f"{host}: tabpy_instance_ports_start: {count} processes from {start} "
                        "go past port 65535")
    if tabpy.tabpy_port in ports:
        problems.append(f"{host}: tabpy_instance_ports_start: ports {start}-{ports[-1]} of the "
                        f"{count} processes include tabpy_port {tabpy.tabpy_port} (the "
                        "host's HAProxy listens there)")
    if tabpy.tabpy_arrow_enable:
        problems.append(f"{host}: tabpy_arrow_enable: Arrow Flight cannot be balanced: use "
                        "tabpy_instances: 1")
    return problems


def _cross_field_problems(host: str, given: Settings) -> list[str]:
    tabpy, certificates = given.tabpy, given.certificates
    problems = []
    if not tabpy.tabpy_auth_enabled and not tabpy.tabpy_allow_no_auth:
        problems.append(f"{host}: tabpy_auth_enabled: false needs tabpy_allow_no_auth: true "
                        "(anyone who reaches the port could run code)")
    if tabpy.tabpy_auth_enabled and not tabpy.tabpy_users:
        problems.append(f"{host}: tabpy_users: authentication is on but no user is declared")
    if (certificates.tabpy_certificate_file is None) != (certificates.tabpy_key_file is None):
        problems.append(f"{host}: tabpy_key_file: tabpy_certificate_file and tabpy_key_file "
                        "go together")
    if certificates.pki_renew_before_days >= certificates.pki_leaf_days:
        problems.append(f"{host}: pki_renew_before_days: must be below pki_leaf_days "
                        f"({certificates.pki_leaf_days})")
    if tabpy.tabpy_arrow_enable and tabpy.tabpy_arrowflight_port == tabpy.tabpy_port:
        problems.append(f"{host}: tabpy_arrowflight_port: same as tabpy_port")
    minimum = host_profile(tabpy.tabpy_tls_profile, tabpy.tabpy_minimum_tls_version).minimum
    if tabpy.tabpy_arrow_enable and tabpy.tabpy_transfer_protocol == "https" and \
            minimum == "TLSv1_3":
        # gRPC's own TLS, which TabPy gives no minimum: its default, TLS 1.2, holds there.
        problems.append(f"{host}: tabpy_arrow_enable: Arrow Flight accepts TLS 1.2, which "
                        "tabpy_minimum_tls_version or tabpy_tls_profile refuses")
    health_user = given.secrets.tabpy_health_check_user
    if health_user is not None and health_user not in tabpy.tabpy_users:
        problems.append(f"{host}: tabpy_health_check_user: {health_user!r} is not in tabpy_users")
    if tabpy.tabpy_oauth_enabled:
        for name, value in (("tabpy_oauth_issuer", tabpy.tabpy_oauth_issuer),
                            ("tabpy_oauth_jwks_uri", tabpy.tabpy_oauth_jwks_uri)):
            if not value:
                problems.append(f"{host}: {name}: required when tabpy_oauth_enabled is true")
        if not (tabpy.tabpy_oauth_audience or tabpy.tabpy_oauth_required_scopes):
            problems.append(f"{host}: tabpy_oauth_audience: OAuth needs an audience or "
                            "tabpy_oauth_required_scopes (TabPy refuses to start otherwise)")
    return problems


def _user_name_problems(host: str, declared: Mapping[str, Any]) -> list[str]:
    names = [f"{host}: tabpy_users: {problem}" for problem in map(passwords.user_name_problem,
                                                                   declared) if problem]
    if names:  # duplicates are looked for among names only
        return names
    return [f"{host}: tabpy_users: {pair} are the same user to TabPy (names are "
            "case-insensitive)" for pair in passwords.duplicate_users(declared)]


def _rotating_users(host: str, declared: Mapping[str, str], rotate: frozenset[str] | None,
                    monitors: frozenset[str], problems: list[str]) -> frozenset[str]:
    """The users to rotate. A balancer's monitor user is not one: HAProxy checks every TabPy
    process with one password, so rotating it in a roll would take them out one by one."""
    if rotate is None:
        return frozenset()
    generated = {user.lower() for user, ref in declared.items() if ref == "generate"}
    if not rotate:
        return frozenset(generated - monitors)
    for user in sorted(rotate & monitors):
        problems.append(f"{host}: rotate_users: {user!r} is a balancer's lb_monitor_user: "
                        "declare a new monitor user, point lb_monitor_user at it, deploy, then "
                        "remove the old one (docs/pool.md: changing the monitor user)")
    rotate = rotate - monitors
    for user in sorted(rotate - generated):
        reference = {u.lower(): r for u, r in declared.items()}.get(user)
        if reference is None:
            problems.append(f"{host}: rotate_users: {user!r} is not in tabpy_users")
        else:
            problems.append(f"{host}: rotate_users: {user!r} comes from {describe(reference)}: "
                            "change it there and redeploy (only generated passwords rotate here)")
    return frozenset(rotate & generated)

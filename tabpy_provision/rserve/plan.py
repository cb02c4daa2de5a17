"""An Rserve server's plan: every input of one host of rserve_servers checked, its users'
passwords resolved and its certificate planned, before any host is touched. Pure: no pyinfra
import (the deploy: rserve/deploy.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged, project_path
from tabpy_provision.rserve import files as rserve_files
from tabpy_provision.run import host_claims
from tabpy_provision.server.certificate import Tls, plan_tls
from tabpy_provision.settings import table
from tabpy_provision.settings.secret_refs import (
    SecretStore,
    describe,
    resolve_users,
    secret_store,
)
from tabpy_provision.settings.typed import WithSettings, for_role, host_settings
from tabpy_provision.settings.value_checks import dns_name_problem

#: The comment of the account this tool creates for Rserve (how a later run knows it is ours).
ACCOUNT_COMMENT = "tabpy-provision Rserve"
#: Rserve's folders: setting -> whether Rserve's user owns it (else root, group Rserve's).
OWNED_FOLDERS = {"rserve_workdir": True, "rserve_config_dir": False}


@dataclass(frozen=True)
class RservePlan(WithSettings):
    host: str
    fqdn: str
    connect_address: str
    #: Every setting, defaults filled in, checked.
    values: Mapping[str, Any]
    tls: Tls
    #: The users file the login function reads (rserve/files.py), never shown.
    users_file: bytes = field(repr=False)
    check_user: str
    check_password: str = field(repr=False)
    #: Every declared user's password: what Tableau Server is given for its connection.
    passwords: Mapping[str, str] = field(repr=False, default_factory=dict)
    notes: tuple[str, ...] = ()
    #: Users whose pending generated password is deployed (a rotation run).
    rotating: frozenset[str] = frozenset()
    #: Where the generated passwords of its users live (rotation promotes them there).
    secret_store: SecretStore | None = field(repr=False, compare=False, default=None)

    @property
    def config_dir(self) -> str:
        return self.settings.rserve.rserve_config_dir

    @property
    def releases_dir(self) -> str:
        return f"{self.config_dir}/releases"

    @property
    def current_dir(self) -> str:
        return f"{self.config_dir}/current"

    @property
    def unit(self) -> str:
        return f"{self.settings.rserve.rserve_service_name}.service"

    @property
    def port(self) -> int:
        return self.settings.rserve.rserve_port


def endpoint(host: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """(the name Tableau uses, the address the controller dials) from checked data."""
    rserve = for_role("rserve", table.with_defaults(data))
    fqdn = (rserve.rserve_fqdn or host).lower()
    return fqdn, rserve.rserve_connect_address or data.get("ssh_hostname") or fqdn


def plan_rserve(host: str, data: Mapping[str, Any], *, now: datetime | None = None,
                files: Staged | None = None,
                permitted: Mapping[Path, pki.Permitted] | None = None,
                rotate: frozenset[str] | None = None) -> RservePlan:
    """Check every input of one Rserve host; raise SettingsError listing `host: field:
    problem` lines. `files`, `permitted`: as for plan_tabpy_server; `rotate`: the users
    (lower-cased) whose generated password a rotation run rotates (empty: every generated
    one; None: no rotation)."""
    files = files if files is not None else Staged()
    problems = table.check_values(host, data)
    declared = data.get("rserve_users", {})
    if isinstance(declared, Mapping):
        problems += [f"{host}: rserve_users: {problem}" for name in declared
                     if (problem := rserve_files.user_name_problem(name))]
    if problems:
        raise table.SettingsError(problems)
    values = table.with_defaults(data)
    given = host_settings(values)
    rserve = given.rserve
    fqdn, address = endpoint(host, data)
    if (problem := dns_name_problem(fqdn)) is not None:
        problems.append(f"{host}: rserve_fqdn: {problem}")
    problems += shape_problems(host, values)
    if not rserve.rserve_users:
        problems.append(f"{host}: rserve_users: Rserve takes logins only: declare at least one "
                        "user")
    check_user = rserve.rserve_check_user or next(iter(sorted(rserve.rserve_users)), None)
    if check_user is not None and check_user not in rserve.rserve_users:
        problems.append(f"{host}: rserve_check_user: {check_user!r} is not in rserve_users")
    if given.certificates.acme_directory_url is not None:
        problems.append(f"{host}: acme_directory_url: Rserve's certificate comes from the "
                        "private CA or supplied files (ACME is not supported for Rserve yet)")
    if problems:
        raise table.SettingsError(problems)
    notes: list[str] = []
    secrets = given.secrets
    store = secret_store(project_path(secrets.secrets_dir), secrets.secrets_vault_path,
                         "rserve_users", files)
    rotating = rotating_users(host, rserve.rserve_users, rotate, problems)
    # Rserve compares names exactly: the store keeps them as written.
    users = resolve_users(host, "rserve_users", rserve.rserve_users, store, rotating,
                          secrets.allow_plaintext_secrets, rserve_files.password_problem,
                          problems, notes, key=str)
    tls = plan_tls(host, fqdn, given, problems, now, files, permitted=permitted,
                   name_field="rserve_fqdn")
    if problems:
        raise table.SettingsError(problems)
    return RservePlan(host=host, fqdn=fqdn, connect_address=address, values=values, tls=tls,
                      users_file=rserve_files.users_file(users).encode(),
                      check_user=check_user, check_password=users[check_user],
                      passwords=dict(users), notes=tuple(notes), rotating=rotating,
                      secret_store=store)


def rotating_users(host: str, declared: Mapping[str, str], rotate: frozenset[str] | None,
                   problems: list[str]) -> frozenset[str]:
    """The users (as declared) whose generated password rotates: every generated one when
    `rotate` is empty, else those named (lower-cased); a named user whose password is not
    generated is a problem (it changes where it comes from)."""
    generated = {user for user, reference in declared.items() if reference == "generate"}
    if rotate is None:
        return frozenset()
    if not rotate:
        return frozenset(generated)
    by_name = {user.lower(): user for user in declared}
    for name in sorted(rotate):
        user = by_name.get(name)
        if user is None:
            problems.append(f"{host}: rotate_users: {name!r} is not in rserve_users")
        elif user not in generated:
            problems.append(f"{host}: rotate_users: {user!r} comes from "
                            f"{describe(declared[user])}: change it there and redeploy (only "
                            "generated passwords rotate here)")
    return frozenset(by_name[name] for name in rotate if by_name.get(name) in generated)


def shape_problems(host: str, values: Mapping[str, Any]) -> list[str]:
    """System folders, Rserve's folders overlapping (its user would write where its keys
    live), a unit name this tool installs for itself."""
    problems = []
    for name in OWNED_FOLDERS:
        if (problem := host_claims.folder_problem(values[name])) is not None:
            problems.append(f"{host}: {name}: {problem}: give Rserve a folder of its own")
    workdir, config_dir = values["rserve_workdir"], values["rserve_config_dir"]
    if host_claims.inside(workdir, config_dir) or host_claims.inside(config_dir, workdir):
        problems.append(f"{host}: rserve_workdir: {workdir} overlaps rserve_config_dir "
                        f"{config_dir} (R sessions would write where its keys and users live)")
    if values["rserve_service_name"] in host_claims.FIXED_UNITS:
        problems.append(f"{host}: rserve_service_name: {values['rserve_service_name']} is a "
                        "unit this tool installs for itself")
    return problems


def beside_tabpy_problems(host: str, values: Mapping[str, Any], tabpy: Mapping[str, Any],
                          tabpy_ports: Mapping[int, str]) -> list[str]:
    """A host serving TabPy too (`tabpy`: its TabPy values; `tabpy_ports`: port -> setting):
    no account, unit, port or folder may be both services' (one deploy would undo the other's,
    or one service's user would write the other's files)."""
    problems = []
    port = values["rserve_port"]
    if port in tabpy_ports:
        problems.append(f"{host}: rserve_port: {port} is this host's {tabpy_ports[port]}")
    for name, twin in (("rserve_system_user", "tabpy_system_user"),
                       ("rserve_service_name", "tabpy_service_name")):
        if values[name] == tabpy[twin]:
            problems.append(f"{host}: {name}: {values[name]} is this host's {twin}: Rserve "
                            "gets one of its own")
    tabpy_folders = {name: tabpy[name] for name in host_claims.OWNED_FOLDERS}
    if tabpy.get("tabpy_static_path"):
        tabpy_folders["tabpy_static_path"] = tabpy["tabpy_static_path"]
    for name in OWNED_FOLDERS:
        for twin, path in tabpy_folders.items():
            if host_claims.inside(values[name], path) or host_claims.inside(path, values[name]):
                problems.append(f"{host}: {name}: {values[name]} overlaps this host's {twin} "
                                f"{path}: give Rserve a folder of its own")
    return problems

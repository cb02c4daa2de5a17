"""What a value means on the host it lands on: the folders, account, unit and ports TabPy gets
must be TabPy's own - absent, empty, or made by this tool - never something the host already
has for another purpose (a system folder, an existing account or service, a port in use).

Two kinds of check. `shape_problems` needs only the values (a system folder, folders of TabPy
that overlap where that exposes something, a unit name of ours); `host_problems` compares the
values with what the host is (`HostState`, read by facts.HostClaims in one command). Both give
one line per problem, naming host and field. Pure: no pyinfra import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER = "# Managed by tabpy-provision"
#: The comment of the account this tool creates (legacy accounts: home = the state path).
ACCOUNT_COMMENT = "tabpy-provision TabPy"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system", "/run/systemd/generator",
             "/run/systemd/transient")
#: Where this tool writes unit files of its own.
OWN_UNIT_DIR = "/etc/systemd/system"

#: Folders of the system and of every user: none may be TabPy's, nor hold one of them.
SYSTEM_FOLDERS = frozenset({
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
    "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local",
    "/usr/local/bin", "/usr/local/etc", "/usr/local/lib", "/usr/local/sbin",
    "/usr/local/share", "/usr/sbin", "/usr/share", "/usr/src", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt",
    "/var/run", "/var/spool", "/var/tmp", "/var/www", "/etc/ssh", "/etc/ssl", "/etc/pki",
    "/etc/default", "/etc/security", "/etc/pam.d", "/etc/sudoers.d", "/etc/cron.d",
    "/etc/systemd", "/etc/systemd/system", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd",
    "/var/log/journal", "/etc/nftables.d",
})
#: Trees in which no folder of TabPy may live: volatile, shared with every user, or held by
#: this tool and the services it installs (TabPy's user must never write there).
FORBIDDEN_TREES = ("/proc", "/sys", "/dev", "/run", "/var/run", "/tmp", "/var/tmp", "/boot",
                   "/var/lock", "/etc/tabpy-provision", "/var/cache/tabpy-provision",
                   "/etc/haproxy", "/etc/keepalived", "/var/lib/haproxy", "/etc/systemd")
#: Units this tool installs under fixed names: never TabPy's service name.
FIXED_UNITS = frozenset({"tabpy-provision-firewall", "haproxy", "keepalived", "nftables"})

#: TabPy's folders: setting -> whether TabPy's user owns it (else root, group TabPy's).
OWNED_FOLDERS = {"tabpy_state_path": True, "tabpy_query_object_path": True,
                 "tabpy_log_dir": True, "tabpy_config_dir": False, "tabpy_install_dir": False}
#: What an install folder of this tool holds (it is root's: its owner says nothing): the
#: virtualenvs and the functions' publisher (functions/operations.py).
INSTALL_ENTRIES = frozenset({"venvs", "publisher"})
#: A fresh file system's mount point holds this alone: still an empty folder.
EMPTY_ENTRIES = frozenset({"lost+found"})


def inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def folder_problem(path: str) -> str | None:
    """Why `path` can be no folder of TabPy's, whatever the host holds."""
    if path in SYSTEM_FOLDERS or path == "/":
        return f"{path} is a system folder"
    held = sorted(folder for folder in SYSTEM_FOLDERS if inside(folder, path))
    if held:
        return f"{path} holds system folders ({', '.join(held[:3])})"
    tree = next((tree for tree in FORBIDDEN_TREES if inside(path, tree)), None)
    if tree:
        return f"{path} is inside {tree}, which is not TabPy's to use"
    return None


def shape_problems(host: str, values: Mapping[str, Any]) -> list[str]:
    """System folders, TabPy's folders overlapping where that exposes something, a service
    name taken by this tool's fixed units."""
    problems = []
    paths = {name: values[name] for name in OWNED_FOLDERS}
    if values.get("tabpy_static_path"):
        paths["tabpy_static_path"] = values["tabpy_static_path"]
    for name, path in paths.items():
        problem = folder_problem(path)
        if problem:
            problems.append(f"{host}: {name}: {problem}: give TabPy a folder of its own")
    writable = [name for name, owned in OWNED_FOLDERS.items() if owned]
    rooted = [name for name, owned in OWNED_FOLDERS.items() if not owned]
    for name in writable:
        for other in rooted:
            if inside(paths[name], paths[other]) or inside(paths[other], paths[name]):
                problems.append(f"{host}: {name}: {paths[name]} overlaps {other} "
                                f"{paths[other]} (TabPy's user would write where its config, "
                                "keys and code live)")
    if paths["tabpy_config_dir"] == paths["tabpy_install_dir"]:
        problems.append(f"{host}: tabpy_install_dir: the same folder as tabpy_config_dir")
    static = paths.get("tabpy_static_path")
    for name in OWNED_FOLDERS if static else ():
        if inside(static, paths[name]) or inside(paths[name], static):
            problems.append(f"{host}: tabpy_static_path: {static} overlaps {name} "
                            f"{paths[name]} (TabPy serves the static folder to anyone, "
                            "without a login)")
    if values["tabpy_service_name"] in FIXED_UNITS:
        problems.append(f"{host}: tabpy_service_name: {values['tabpy_service_name']} is a unit "
                        "this tool installs for itself")
    return problems


@dataclass(frozen=True)
class Account:
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass(frozen=True)
class Folder:
    kind: str  # dir | link | other
    owner: str = ""
    group: str = ""
    entries: frozenset[str] = frozenset()  # the first few names in it


@dataclass(frozen=True)
class UnitFile:
    path: str
    kind: str  # file | link
    first_line: str


@dataclass(frozen=True)
class Listener:
    port: int
    process: str
    unit: str | None  # the systemd unit of its cgroup, None when it runs in none


@dataclass(frozen=True)
class HostState:
    """What the host has under the names the values give (facts.HostClaims)."""
    account: Account | None = None
    group: tuple[int, tuple[str, ...]] | None = None  # (gid, members) of the same name
    folders: Mapping[str, Folder] = field(default_factory=dict)  # only those that exist
    units: tuple[UnitFile, ...] = ()
    listeners: tuple[Listener, ...] = ()
    #: First line and whether it defines a proxy, of the HAProxy and keepalived configs there.
    configs: Mapping[str, tuple[str, bool]] = field(default_factory=dict)


def account_is_ours(account: Account, state_path: str,
                    comment: str = ACCOUNT_COMMENT) -> bool:
    """This tool's account: its comment, or (a TabPy account made before the comment) the
    state path as home."""
    if account.uid == 0:
        return False
    return account.comment == comment or (comment == ACCOUNT_COMMENT and account.comment == ""
                                          and account.home == state_path)


def account_problems(host: str, name: str, state_path: str, found: HostState,
                     setting: str = "tabpy_system_user", comment: str = ACCOUNT_COMMENT,
                     service: str = "TabPy") -> list[str]:
    field_ = f"{host}: {setting}"
    if found.account is None:
        if found.group is not None:
            return [f"{field_}: {name} is an existing group (gid {found.group[0]}) of this "
                    f"host: {service} gets an account and group of its own"]
        return []
    if account_is_ours(found.account, state_path, comment):
        return []
    account = found.account
    return [f"{field_}: {name} is an existing account of this host (uid {account.uid}, home "
            f"{account.home}) that tabpy-provision did not create: choose another name"]


def folder_problems(host: str, values: Mapping[str, Any], found: HostState,
                    account_ours: bool, owned: Iterable[str] = OWNED_FOLDERS,
                    account_setting: str = "tabpy_system_user",
                    service: str = "TabPy") -> list[str]:
    """`owned`: the settings naming the service's folders; `account_setting`: its account's."""
    problems = []
    account = values[account_setting]
    for name, path in ((name, values[name]) for name in owned):
        folder = found.folders.get(path)
        if folder is None:
            continue
        if folder.kind != "dir":
            what = "symbolic link" if folder.kind == "link" else "file"
            problems.append(f"{host}: {name}: {path} is a {what} on this host: give the real "
                            "folder")
            continue
        entries = folder.entries - EMPTY_ENTRIES
        if not entries:
            continue  # empty, or a fresh file system's mount point
        if account_ours and account in (folder.owner, folder.group):
            continue
        if name == "tabpy_install_dir" and folder.owner == "root" and \
                entries <= INSTALL_ENTRIES:
            continue
        shown = ", ".join(sorted(entries)[:3])
        problems.append(f"{host}: {name}: {path} already holds files that are not "
                        f"{service}'s ({folder.owner}:{folder.group}; {shown}...): give "
                        f"{service} a folder of its own (absent or empty)")
    return problems


def unit_problems(host: str, service: str, found: HostState,
                  setting: str = "tabpy_service_name") -> list[str]:
    foreign = [unit for unit in found.units
               if not (unit.kind == "file" and unit.path.startswith(OWN_UNIT_DIR + "/")
                       and unit.first_line.startswith(MARKER))]
    if not foreign:
        return []
    return [f"{host}: {setting}: {service} is already a unit of this host "
            f"({', '.join(sorted({unit.path for unit in foreign}))}): choose another name"]


def port_problems(host: str, wanted: Mapping[int, str], ours: Iterable[str],
                  found: HostState) -> list[str]:
    """`wanted`: port -> the setting that gives it; `ours`: units whose listeners are ours."""
    ours = set(ours)
    problems = []
    for port, name in sorted(wanted.items()):
        foreign = sorted({f"{listener.process} ({listener.unit or 'no unit'})"
                          for listener in found.listeners
                          if listener.port == port and listener.unit not in ours})
        if foreign:
            problems.append(f"{host}: {name}: port {port} is in use on this host by "
                            f"{', '.join(foreign)}")
    return problems


def config_problems(host: str, setting: str, found: HostState) -> list[str]:
    """HAProxy's or keepalived's config on the host serves something else."""
    return [f"{host}: {setting}: {path} is not tabpy-provision's and defines a service: this "
            "host's " + path.split("/")[2] + " does other work; use a host of its own"
            for path, (first, defines) in sorted(found.configs.items())
            if defines and not first.startswith(MARKER)]


def tabpy_units(service: str, ports: Iterable[int]) -> set[str]:
    return {f"{service}.service", *(f"{service}@{port}.service" for port in ports)}


# --- reading the fact's output -----------------------------------------------------------------

_CGROUP_UNIT = re.compile(r"/([^/]+\.service)(?:/|$)")
_SS_USER = re.compile(r'\("([^"]*)",pid=(\d+),')


def parse(lines: Iterable[str]) -> HostState:
    """HostState from facts.HostClaims' tagged lines."""
    account = group = None
    folders, units, listening, cgroups, configs = {}, [], [], {}, {}
    for line in lines:
        tag, _, rest = line.partition(" ")
        parts = rest.split("\t")
        if tag == "passwd" and rest.count(":") >= 6:
            _, _, uid, gid, comment, home, shell = rest.split(":", 6)
            account = Account(int(uid), int(gid), comment, home, shell)
        elif tag == "group" and rest.count(":") >= 3:
            _, _, gid, members = rest.split(":", 3)
            group = (int(gid), tuple(filter(None, members.split(","))))
        elif tag == "folder" and len(parts) == 5:
            path, kind, owner, owner_group, entries = parts
            folders[path] = Folder(kind, owner, owner_group,
                                   frozenset(filter(None, entries.split("/"))))
        elif tag == "unit" and len(parts) == 3:
            units.append(UnitFile(*parts))
        elif tag == "ss":
            fields = rest.split()
            if len(fields) >= 4:
                port = fields[3].rsplit(":", 1)[-1]
                for process, pid in _SS_USER.findall(rest):
                    listening.append((int(port), process, pid))
        elif tag == "cgroup" and len(parts) == 2:
            unit = _CGROUP_UNIT.search(parts[1])
            cgroups[parts[0]] = unit.group(1) if unit else None
        elif tag == "config" and len(parts) == 3:
            configs[parts[0]] = (parts[1], parts[2] == "yes")
    listeners = tuple(sorted({Listener(port, process, cgroups.get(pid))
                              for port, process, pid in listening},
                             key=lambda listener: (listener.port, listener.process,
                                                    listener.unit or "~")))
    return HostState(account, group, folders, tuple(units), listeners, configs)

"""The Linux distributions a TabPy server or pool balancer may run, and what differs between
them, as data in one place: the package manager and package names, where a Python that TabPy's
wheels fit comes from, the host firewall that would also filter TabPy's port, SELinux. Detected
from /etc/os-release (pyinfra's LinuxDistribution fact), as the trust deploy detects its store.

Pure: no pyinfra import (platforms/operations.py applies it). How far each is tested is in
`tested` and docs/platforms.md (generated from this table).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LAB = "lab: deployed and checked on real hosts by `make test`, as root and through sudo"
RECORDED = ("unit: detection from its /etc/*-release (transcribed) and every command it gets; "
            "never booted here (only Debian's archive is reachable)")


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    #: /etc/os-release IDs and the major VERSION_ID this entry is for.
    ids: frozenset[str]
    version: str
    packager: str  # "apt" or "dnf"
    #: The interpreter TabPy's virtualenv is made from, and the packages that give it (with
    #: venv); its ABI picks the wheelhouse lock.
    python: str
    python_packages: tuple[str, ...]
    abi: str
    #: A firewall front end the distribution installs by default: its own rules also filter
    #: TabPy's port, so the port is opened there and the fence (nftables) still decides who.
    firewall: str | None
    #: SELinux on by default (ports and files get labels).
    selinux: bool
    tested: str


def _rhel(version: str, python: str, abi: str) -> Platform:
    return Platform(f"rhel-{version}", f"RHEL / Rocky / AlmaLinux {version}",
                    frozenset({"rhel", "rocky", "almalinux", "centos"}), version, "dnf", python,
                    (python.rsplit("/", 1)[1],), abi, "firewalld", True, RECORDED)


PLATFORMS: tuple[Platform, ...] = (
    Platform("debian-12", "Debian 12 (bookworm)", frozenset({"debian"}), "12", "apt",
             "/usr/bin/python3", ("python3", "python3-venv"), "cp311", None, False, LAB),
    Platform("debian-13", "Debian 13 (trixie)", frozenset({"debian"}), "13", "apt",
             "/usr/bin/python3", ("python3", "python3-venv"), "cp313", None, False, LAB),
    # Ubuntu 22.04's python3 is 3.10; its python3.11 (universe) fits the cp311 wheelhouse.
    Platform("ubuntu-22.04", "Ubuntu 22.04 LTS", frozenset({"ubuntu"}), "22.04", "apt",
             "/usr/bin/python3.11", ("python3.11", "python3.11-venv"), "cp311", "ufw", False,
             RECORDED),
    Platform("ubuntu-24.04", "Ubuntu 24.04 LTS", frozenset({"ubuntu"}), "24.04", "apt",
             "/usr/bin/python3", ("python3", "python3-venv"), "cp312", "ufw", False, RECORDED),
    # The platform Python (3.6 on 8, 3.9 on 9) is too old for TabPy 2.16; AppStream's 3.11 fits.
    _rhel("8", "/usr/bin/python3.11", "cp311"),
    _rhel("9", "/usr/bin/python3.11", "cp311"),
)


def detect(release_meta: Mapping[str, Any] | None) -> Platform | None:
    """The platform of a host's /etc/os-release fields (ID, VERSION_ID), or None."""
    meta = release_meta or {}
    distribution = str(meta.get("ID", "")).strip('"').lower()
    version = str(meta.get("VERSION_ID", "")).strip('"')
    for platform in PLATFORMS:
        if distribution in platform.ids and (
                version == platform.version or version.split(".")[0] == platform.version):
            return platform
    return None


def unsupported(host: str, release_meta: Mapping[str, Any] | None) -> str:
    meta = release_meta or {}
    shown = meta.get("PRETTY_NAME") or f"{meta.get('ID', '?')} {meta.get('VERSION_ID', '')}"
    names = ", ".join(p.name for p in PLATFORMS)
    return f"{host}: os: {str(shown).strip()} is not supported (supported: {names})"


# --- what the operations run (platforms/operations.py) -------------------------------------

def open_port_commands(platform: Platform, ports: Iterable[int]) -> list[str]:
    """Open TCP ports in the distribution's firewall front end (run only when it is active);
    the fence's own table still drops every source it does not allow."""
    ports = sorted(set(ports))
    if platform.firewall == "firewalld":
        adds = " ".join(f"--add-port={port}/tcp" for port in ports)
        return [f"firewall-cmd --permanent --quiet {adds}", "firewall-cmd --reload --quiet"]
    if platform.firewall == "ufw":
        return [f"ufw allow {port}/tcp comment tabpy-provision" for port in ports]
    return []


def open_ports_missing(opened: Iterable[str], ports: Iterable[int]) -> bool:
    """Whether any port is not yet open, given what the front end lists (FirewallPorts)."""
    listed = set(opened)
    return any(f"{port}/tcp" not in listed for port in ports)


#: SELinux port type TabPy and HAProxy listen on (haproxy_t may bind http_port_t).
SELINUX_PORT_TYPE = "http_port_t"


def selinux_commands(ports: Iterable[int], paths: Iterable[str], *,
                     balancer: bool) -> list[str]:
    """Label the ports TabPy and HAProxy listen on and restore the default labels of the
    files the deploy wrote; HAProxy may connect to TabPy's backend ports. Idempotent."""
    q = shlex.quote
    commands = [f"semanage port -a -t {SELINUX_PORT_TYPE} -p tcp {port} 2>/dev/null || "
                f"semanage port -m -t {SELINUX_PORT_TYPE} -p tcp {port}"
                for port in sorted(set(ports))]
    if balancer:
        commands.append("setsebool -P haproxy_connect_any 1")
    if paths:
        commands.append("restorecon -R " + " ".join(q(p) for p in sorted(set(paths))))
    return commands


def labelled_ports_missing(labelled: Iterable[int], ports: Iterable[int]) -> bool:
    return bool(set(ports) - set(labelled))


# --- the support table (docs/platforms.md and the README; a unit test keeps them equal) -----

TABLE_BEGIN = ("<!-- support table: tabpy-provision platforms --write-docs docs/platforms.md "
               "README.md -->")
TABLE_END = "<!-- end of the support table -->"


def support_table() -> str:
    lines = ["| OS | Python for TabPy (wheel ABI) | Packages from | Host firewall | SELinux | "
             "Tested |", "|---|---|---|---|---|---|"]
    for p in PLATFORMS:
        lines.append(f"| {p.name} | `{p.python}` ({p.abi}; {', '.join(p.python_packages)}) | "
                     f"{p.packager} | {p.firewall or '-'} | {'labelled' if p.selinux else '-'} "
                     f"| {p.tested} |")
    return "\n".join([TABLE_BEGIN, *lines, TABLE_END])


def with_support_table(text: str) -> str:
    """`text` with its support table (between the markers) replaced by the current one."""
    head, _, rest = text.partition(TABLE_BEGIN)
    _, _, tail = rest.partition(TABLE_END)
    return head + support_table() + tail

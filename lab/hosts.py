"""The lab's host table: importable by the inventory (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass

from tabpy_provision.settings.groups import CLIENTS, POOL, RSERVE_SERVERS, TABLEAU, TABPY_SERVERS

DOMAIN = "lab.test"
BRIDGE = "tplabbr0"
GATEWAY = "169.254.213.1"
PREFIX = 24
NETWORK = "169.254.213.0/24"


@dataclass(frozen=True)
class LabHost:
    name: str
    suite: str
    address: str
    groups: tuple[str, ...]

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def netns(self) -> str:
        return f"tplab-{self.name}"

    @property
    def veth(self) -> str:
        return f"tpv-{self.name}"


LAB_HOSTS = (
    LabHost("tabpy1", "bookworm", "169.254.213.11", (TABPY_SERVERS,)),
    LabHost("tabpy2", "trixie", "169.254.213.12", (TABPY_SERVERS,)),
    LabHost("tableau1", "bookworm", "169.254.213.21", (TABLEAU,)),
    LabHost("client1", "bookworm", "169.254.213.31", (CLIENTS,)),
    # The disaster-recovery site's TabPy server (inventory/lab_dr.py), same Debian as tabpy1:
    # models saved by one Python minor version do not load on another.
    LabHost("tabpydr", "bookworm", "169.254.213.41", ("dr_tabpy_servers",)),
    # HAProxy in front of the TabPy pool (inventory group tabpy_lb), keepalived holding the
    # pool's address on one of them.
    LabHost("tabpylb1", "bookworm", "169.254.213.51", (POOL,)),
    LabHost("tabpylb2", "bookworm", "169.254.213.52", (POOL,)),
    # Pebble, a real ACME server (lab/acme.py), for inventory/lab_acme.py.
    LabHost("acme1", "bookworm", "169.254.213.61", ("acme_servers",)),
    # Rserve (R's analytics extension) on Debian 12: its 1.8-11 is the one whose own password
    # check must not be used (docs/rserve.md).
    LabHost("rserve1", "bookworm", "169.254.213.81", (RSERVE_SERVERS,)),
)

#: Extra TabPy servers for measuring how a deploy scales (`python -m lab up --scale N`,
#: inventory/lab_scale.py, `python -m bench scale`): Debian 12, addresses .101 to .190.
SCALE_GROUP = "scale_tabpy_servers"
SCALE_HOSTS = tuple(LabHost(f"scale{number}", "bookworm", f"169.254.213.{100 + number}",
                            (SCALE_GROUP,)) for number in range(1, 91))
#: Every host the lab can make (the scale hosts only exist once booted with --scale).
EVERY_HOST = LAB_HOSTS + SCALE_HOSTS


def scale_hosts(count: int) -> tuple[LabHost, ...]:
    """The first `count` scale hosts."""
    if not 0 <= count <= len(SCALE_HOSTS):
        raise ValueError(f"the lab has 0 to {len(SCALE_HOSTS)} scale hosts, not {count}")
    return SCALE_HOSTS[:count]


#: Names that are not a host: the TabPy pool's service name, at the pool's virtual address
#: (keepalived keeps it on a balancer whose HAProxy runs).
SERVICE_NAMES = {f"tabpy.{DOMAIN}": "169.254.213.50"}


def get_host(name: str) -> LabHost:
    """Look a lab host up by short name or FQDN."""
    for host in EVERY_HOST:
        if name in (host.name, host.fqdn):
            return host
    known = ", ".join(h.name for h in LAB_HOSTS)
    raise KeyError(f"unknown lab host {name!r} (known: {known}, scale1 to "
                   f"scale{len(SCALE_HOSTS)})")

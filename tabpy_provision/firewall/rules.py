"""Who may reach TabPy and Rserve on a host: the sources of each of their ports, as an nftables
table of this tool's own (`inet tabpy_provision`), loaded atomically and never touching another
table.

TabPy has no bind option: it listens on every interface (Rserve, remote enabled, too). The
table admits, on the host's TabPy ports only, the host itself, the controller (its checks),
the pool balancers in front of it and `tabpy_allowed_sources` (on Rserve's port: the host, the
controller and `rserve_allowed_sources`); every other connection to those ports is refused with
a TCP reset (a client sees "connection refused" at once rather than a timeout). Other ports and
other tables are left alone: the input hook of another table still decides for itself. Each
service's user reaches only what its `*_outbound_allowed` lists (outbound.py).

Pure: no pyinfra import. The ruleset embeds a digest of its own rules, so a host's loaded
table is compared with the wanted one without parsing nft's output.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tabpy_provision.firewall import networks as nets
from tabpy_provision.firewall import outbound as reach
from tabpy_provision.firewall.networks import Network
from tabpy_provision.firewall.outbound import Confined, Destination, port_set
from tabpy_provision.settings.groups import CLIENTS, TABLEAU
from tabpy_provision.settings.value_checks import accepts

TABLE = "tabpy_provision"
RULESET_PATH = "/etc/tabpy-provision/firewall.nft"
UNIT = "tabpy-provision-firewall.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
#: nftables.service loads, reloads and stops with the fence in the same transaction.
NFTABLES_DROPIN_PATH = "/etc/systemd/system/nftables.service.d/tabpy-provision.conf"
#: The host's own ruleset, as Debian's nftables.service loads it.
HOST_RULESET_PATH = "/etc/nftables.conf"
#: The files of the fence on a host.
FILES = (RULESET_PATH, UNIT_PATH, NFTABLES_DROPIN_PATH)
PACKAGES = ["nftables"]
_DIGEST = re.compile(r'comment "tabpy-provision ([0-9a-f]{64})"')
#: The setting that lets the fence's lists hold everyone (a network of prefix 0).
ALLOW_EVERYONE = "tabpy_fence_allow_everyone"


@dataclass(frozen=True)
class PortRule:
    """Connections to `ports` are admitted from `sources` (and the host itself)."""

    ports: tuple[int, ...]
    sources: tuple[Network, ...]


@dataclass(frozen=True)
class FirewallPlan:
    host: str
    rules: tuple[PortRule, ...]
    #: TabPy's user, Rserve's, or both (a host serving both).
    confined: tuple[Confined, ...]
    #: What the run warns about (everyone admitted or reached, as ALLOW_EVERYONE lets it).
    warnings: tuple[str, ...] = ()

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({port for rule in self.rules for port in rule.ports}))

    def joined(self, other: FirewallPlan) -> FirewallPlan:
        """One table for a host serving both: both services' rules and users."""
        return FirewallPlan(self.host, (*self.rules, *other.rules),
                            (*self.confined, *other.confined), (*self.warnings, *other.warnings))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self._chains().encode()).hexdigest()

    def _chains(self) -> str:
        return "\n".join(("\tchain tabpy_inbound {",
                          "\t\ttype filter hook input priority filter; policy accept;",
                          _rules_text(self.rules), "\t}",
                          *reach.chains(self.confined)))

    def ruleset(self) -> str:
        """The file `nft -f` loads: creating, deleting and defining the table in one
        transaction (all or nothing; no moment without the fence on a reload)."""
        return "\n".join((
            "#!/usr/sbin/nft -f",
            f"# Managed by tabpy-provision ({UNIT}): who may reach TabPy on {self.host}.",
            f"table inet {TABLE}",
            f"delete table inet {TABLE}",
            f"table inet {TABLE} {{",
            f'\tcomment "tabpy-provision {self.digest}"',
            self._chains(),
            "}",
            "",
        ))

    def describe(self) -> list[str]:
        """One line per rule, for reports (site_check)."""
        return [*(f"tcp {port_set(rule.ports)} from "
                  f"{', '.join(map(str, rule.sources)) or 'this host only'}"
                  for rule in self.rules),
                *(f"{user.user} reaches loopback, its clients (from tcp "
                  f"{port_set(user.listening)})" + "".join(f", {d}" for d in user.outbound)
                  for user in self.confined)]


def loaded_digest(listing: str) -> str | None:
    """The digest of the table a host has loaded (from `nft list table inet tabpy_provision`)."""
    found = _DIGEST.search(listing)
    return found.group(1) if found else None


def _rules_text(rules: Sequence[PortRule]) -> str:
    lines = ['\t\tiif "lo" accept', "\t\tct state established,related accept"]
    for rule in rules:
        for family, version in (("ip", 4), ("ip6", 6)):
            sources = [str(n) for n in rule.sources if n.version == version]
            if sources:
                lines.append(f"\t\ttcp dport {port_set(rule.ports)} {family} saddr "
                             f"{{ {', '.join(sources)} }} accept")
    ports = sorted({port for rule in rules for port in rule.ports})
    lines.append(f"\t\ttcp dport {port_set(ports)} reject with tcp reset")
    return "\n".join(lines)


def networks(addresses: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and networks collapsed, v4 first (nft refuses overlapping set elements);
    IPv4-mapped ones in their IPv4 form."""
    return nets.collapsed(nets.network(a, strict=False) for a in addresses)


def source_problem(item: object) -> str | None:
    """An item of tabpy_allowed_sources: an IP address, a network (no host bits), an
    inventory host name or @group."""
    if not isinstance(item, str) or not item:
        return f"each source must be an address, a network, a host or @group, got {item!r}"
    if item.startswith("@"):
        return None if re.fullmatch(r"@[A-Za-z0-9_]+", item) else \
            f"{item!r} is not an inventory group"
    if zone := nets.zone_problem(item):
        return zone
    try:
        ipaddress.ip_network(item, strict=True)
        return None
    except ValueError as error:
        if "/" in item or ":" in item or re.fullmatch(r"[0-9.]+", item):
            return f"{item!r} is not an address or network ({error})"
    return None if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", item) else \
        f"{item!r} is not an address, a network, a host name or @group"


@accepts("tuple[str, ...]")
def sources_problem(value: object) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of addresses, networks, hosts or @groups, got {value!r}"
    return next((p for p in map(source_problem, value) if p), None)


def default_sources(balancers: Mapping[str, Sequence[str]],
                    groups: Mapping[str, Sequence[str]]) -> list[str]:
    """tabpy_allowed_sources when unset: the Tableau nodes and the clients, unless a pool is in
    front (then Tableau and the clients go through it)."""
    return [] if balancers else [f"@{g}" for g in (TABLEAU, CLIENTS) if g in groups]


def plan_firewall(host: str, *, service_port: int, process_ports: Sequence[int],
                  allowed: Sequence[str] | None, groups: Mapping[str, Sequence[str]],
                  address_of: Callable[[str], Sequence[str]],
                  balancers: Mapping[str, Sequence[str]],
                  controller: Sequence[str], user: str = "tabpy",
                  outbound: Sequence[Destination] = (), arrow_port: int | None = None,
                  allow_everyone: bool = False,
                  service: str = "tabpy") -> tuple[FirewallPlan | None, list[str]]:
    """The host's fence, or the problems (one line each, naming host and field).

    `allowed`: tabpy_allowed_sources (None: default_sources), items resolved through
    `groups` (inventory group -> hosts) and `address_of` (inventory host -> its addresses).
    `balancers`: the pool balancers in front of this host's processes and their addresses
    (they reach every process port). `controller`: the addresses the controller reaches the
    host from. `user`, `outbound`: TabPy's user and where its processes may connect.
    `arrow_port`: Arrow Flight's port when it is on (it binds every interface: fenced like
    `service_port`). `allow_everyone`: ALLOW_EVERYONE (else everyone in `allowed` or
    `outbound` is a problem; with it, a warning of the plan). `service`: whose settings
    (`tabpy` or `rserve`: `SERVICE_allowed_sources`, `SERVICE_outbound_allowed`)."""
    problems: list[str] = []
    field = f"{host}: {service}_allowed_sources"
    hosts = {name for members in groups.values() for name in members}

    def of_host(name: str, why: str) -> list[str]:
        found = list(address_of(name))
        if not found:
            problems.append(f"{field}: the address of {name} ({why}) is not known: give it "
                            "an IP address as ssh_hostname, or list its network instead")
        return found

    listed: list[str] = []
    for item in default_sources(balancers, groups) if allowed is None else allowed:
        if item.startswith("@"):
            if item[1:] not in groups:
                problems.append(f"{field}: {item}: no such inventory group")
            for member in groups.get(item[1:], ()):
                listed += of_host(member, item)
        elif item in hosts:
            listed += of_host(item, "listed")
        elif _is_network(item):
            listed.append(item)
        else:
            problems.append(f"{field}: {item}: not an inventory host (name an address or "
                            "network for a machine outside the inventory)")
    for name, found in balancers.items():
        if not found:
            problems.append(f"{field}: the address of {name} (pool balancer in front) is not "
                            "known: give it an IP address as ssh_hostname")
    everyone = [*(f"{field}: the listed sources cover {whole}, everyone" for whole in
                  nets.everyone(nets.network(a, strict=False) for a in listed)),
                *(f"{host}: {service}_outbound_allowed: {where} reaches everyone"
                  for where in reach.everyone(outbound))]
    if not allow_everyone:
        problems += [f"{line}: list only the networks that need it, or set {ALLOW_EVERYONE}: "
                     "true" for line in everyone]
    if problems:
        return None, problems
    pool = [address for found in balancers.values() for address in found]
    served = tuple(sorted({service_port, *([arrow_port] if arrow_port else [])}))
    rules = [PortRule(served, networks([*controller, *pool, *listed]))]
    others = tuple(sorted(set(process_ports) - set(served)))
    if others:
        rules.append(PortRule(others, networks([*controller, *pool])))
    listening = tuple(sorted({port for rule in rules for port in rule.ports}))
    return FirewallPlan(host, tuple(rules),
                        (Confined(user, tuple(outbound), listening, f"{service}_user_outbound"),),
                        tuple(f"{line} ({ALLOW_EVERYONE}: true)" for line in everyone)), []


def _is_network(item: str) -> bool:
    try:
        ipaddress.ip_network(item, strict=False)
        return True
    except ValueError:
        return False


def unit_file() -> str:
    """Loads the table at boot before the network (so TabPy never listens unfenced), also
    where nftables.service is disabled or the host's ruleset does not load, and removes it
    when stopped (at shutdown)."""
    return f"""\
# Managed by tabpy-provision: the nftables table inet {TABLE} ({RULESET_PATH}).
[Unit]
Description=tabpy-provision: who may reach TabPy (nftables table inet {TABLE})
DefaultDependencies=no
After=nftables.service
Wants=network-pre.target
Before=network-pre.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {RULESET_PATH}
ExecReload=/usr/sbin/nft -f {RULESET_PATH}
ExecStop=-/usr/sbin/nft delete table inet {TABLE}

[Install]
WantedBy=sysinit.target
"""


def nftables_dropin() -> str:
    """nftables.service's start, reload and stop (`flush ruleset`) each put the fence back in
    the same transaction (`nft` runs one batch: all or nothing), so no restart, reload or stop
    of nftables leaves a moment in which TabPy's ports are open to everyone."""
    fence = f'include "{RULESET_PATH}"'
    with_host = f"""'include "{HOST_RULESET_PATH}"; {fence}'"""
    return f"""\
# Managed by tabpy-provision: TabPy's fence ({RULESET_PATH}) goes with every ruleset.
[Service]
ExecStart=
ExecStart=/usr/sbin/nft {with_host}
ExecReload=
ExecReload=/usr/sbin/nft {with_host}
ExecStop=
ExecStop=/usr/sbin/nft 'flush ruleset; {fence}'
"""

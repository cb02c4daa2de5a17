"""Where TabPy's own processes may connect (the analysts' scripts run as TabPy's user): the
destinations of `tabpy_outbound_allowed`, parsed and rendered as nftables rules. Pure.

An item is `ADDRESS[:PORT][/udp]`: an IP address or a network (`10.20.0.0/16`), IPv6 in
brackets (`[2001:db8::/32]:443`), a DNS name the controller resolves at each run
(`api.example.com:443`); without a port every port; TCP unless `/udp`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tabpy_provision.firewall import networks
from tabpy_provision.firewall.networks import Network
from tabpy_provision.settings.value_checks import accepts, dns_name_problem

_ITEM = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:/\d{1,3})?)\]"
                   r"|(?P<target>[^\s:\[\]/]+(?:/\d{1,3})?))"
                   r"(?::(?P<port>\d{1,5}))?(?:/(?P<protocol>tcp|udp))?")


@dataclass(frozen=True, order=True)
class Destination:
    protocol: str  # tcp | udp
    network: Network
    port: int | None  # None: every port

    def rule(self) -> str:
        family = "ip" if self.network.version == 4 else "ip6"
        ports = f"{self.protocol} dport {self.port}" if self.port else \
            f"meta l4proto {self.protocol}"
        return f"{family} daddr {self.network} {ports} accept"

    def __str__(self) -> str:
        where = f"[{self.network}]" if self.network.version == 6 else str(self.network)
        return f"{where}{f':{self.port}' if self.port else ''}/{self.protocol}"


def parse(item: object) -> tuple[str, str, int | None, str] | str:
    """(kind, target, port, protocol) with kind 'network' or 'name', or the problem."""
    if isinstance(item, str) and (zone := networks.zone_problem(item)):
        return zone
    found = _ITEM.fullmatch(item) if isinstance(item, str) else None
    if found is None:
        return f"{item!r} is not ADDRESS[:PORT][/udp] (IPv6 in brackets)"
    target = found["v6"] or found["target"]
    port = int(found["port"]) if found["port"] else None
    if port is not None and not 1 <= port <= 65535:
        return f"{item!r}: port {port} is not from 1 to 65535"
    protocol = found["protocol"] or "tcp"
    try:
        networks.network(target)
        return "network", target, port, protocol
    except ValueError as error:
        if found["v6"] or re.fullmatch(r"[0-9./]+", target) or "/" in target:
            return f"{item!r}: {error}"
    if dns_name_problem(target) is None:
        return "name", target, port, protocol
    return f"{item!r} is not an address, a network or a DNS name"


@accepts("tuple[str, ...]")
def destinations_problem(value: object) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of ADDRESS[:PORT][/udp] items, got {value!r}"
    return next((p for p in map(parse, value) if isinstance(p, str)), None)


def destinations(items: Sequence[str], resolve: Callable[[str], Sequence[str]],
                 field: str) -> tuple[tuple[Destination, ...], list[str]]:
    """The destinations of checked items, names resolved by `resolve` (a name that does not
    resolve is a problem line under `field`)."""
    found: set[Destination] = set()
    problems = []
    for item in items:
        kind, target, port, protocol = parse(item)
        if kind == "network":
            found.add(Destination(protocol, networks.network(target), port))
            continue
        addresses = list(resolve(target))
        if not addresses:
            problems.append(f"{field}: {item}: the controller cannot resolve {target}")
        found |= {Destination(protocol, networks.network(a), port) for a in addresses}
    # every port (None) sorts first: None and a port do not compare
    return tuple(sorted(found, key=lambda d: (d.network.version, d.protocol, d.network,
                                              d.port or 0))), problems


def everyone(allowed: Sequence[Destination]) -> list[Destination]:
    """What the destinations open to everyone: per protocol and port, the networks that cover
    a whole address family (a port's own items count with those of every port)."""
    found: list[Destination] = []
    for protocol, port in sorted({(d.protocol, d.port or 0) for d in allowed}):
        reached = [d.network for d in allowed
                   if d.protocol == protocol and d.port in (port or None, None)]
        found += [Destination(protocol, whole, port or None)
                  for whole in networks.everyone(reached)
                  if Destination(protocol, whole, None) not in found]
    return found


def port_set(ports: Sequence[int]) -> str:
    """One port, or nft's anonymous set of several."""
    return str(ports[0]) if len(ports) == 1 else "{ " + ", ".join(map(str, ports)) + " }"


@dataclass(frozen=True)
class Confined:
    """A service's user, whose processes (the service and the scripts it runs) reach only
    loopback, their clients (replies from `listening`) and `outbound`; its rules are the
    output chain `chain`."""

    user: str
    outbound: tuple[Destination, ...]
    listening: tuple[int, ...]
    chain: str = "tabpy_user_outbound"


def chains(confined: Sequence[Confined]) -> list[str]:
    """The output-hook chains: packets of sockets owned by each confined user (a service and
    every process its scripts start) go to loopback, continue a connection the user opened (its
    first packet passed here), answer a connection made to one of its listening ports (the
    service's own: a listener a script opens elsewhere cannot answer), or open one to an
    allowed destination; anything else is rejected at once. Other users' traffic is not looked
    at.

    Nothing is accepted as related: ICMP errors leave from the kernel's own sockets, which
    `meta skuid` never matches, and the user cannot send one (no CAP_NET_RAW; a ping socket
    sends echo requests only), so what is left are connections a conntrack helper expects, to
    ports the destinations did not open."""
    hook = ["\tchain tabpy_outbound {",
            "\t\ttype filter hook output priority filter; policy accept;",
            *(f'\t\tmeta skuid "{user.user}" jump {user.chain}' for user in confined),
            "\t}"]
    return [*hook, *(line for user in confined for line in (
        f"\tchain {user.chain} {{",
        '\t\toif "lo" accept',
        "\t\tct direction original ct state established accept",
        f"\t\tct direction reply ct state established tcp sport {port_set(user.listening)} "
        "accept",
        *[f"\t\t{d.rule()}" for d in user.outbound],
        "\t\tmeta l4proto tcp reject with tcp reset",
        "\t\treject with icmpx admin-prohibited",
        "\t}"))]

"""Where TabPy's own processes may connect (the analysts' scripts run as TabPy's user): the
destinations of `tabpy_outbound_allowed`, parsed and rendered as nftables rules. Pure.

An item is `ADDRESS[:PORT][/udp]`: an IP address or a network (`10.20.0.0/16`), IPv6 in
brackets (`[2001:db8::/32]:443`), a DNS name the controller resolves at each run
(`api.example.com:443`); without a port every port; TCP unless `/udp`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tabpy_provision.value_checks import dns_name_problem

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
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
    found = _ITEM.fullmatch(item) if isinstance(item, str) else None
    if found is None:
        return f"{item!r} is not ADDRESS[:PORT][/udp] (IPv6 in brackets)"
    target = found["v6"] or found["target"]
    port = int(found["port"]) if found["port"] else None
    if port is not None and not 1 <= port <= 65535:
        return f"{item!r}: port {port} is not from 1 to 65535"
    protocol = found["protocol"] or "tcp"
    try:
        ipaddress.ip_network(target, strict=True)
        return "network", target, port, protocol
    except ValueError as error:
        if found["v6"] or re.fullmatch(r"[0-9./]+", target) or "/" in target:
            return f"{item!r}: {error}"
    if dns_name_problem(target) is None:
        return "name", target, port, protocol
    return f"{item!r} is not an address, a network or a DNS name"


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
            found.add(Destination(protocol, ipaddress.ip_network(target), port))
            continue
        addresses = list(resolve(target))
        if not addresses:
            problems.append(f"{field}: {item}: the controller cannot resolve {target}")
        found |= {Destination(protocol, ipaddress.ip_network(a), port) for a in addresses}
    # every port (None) sorts first: None and a port do not compare
    return tuple(sorted(found, key=lambda d: (d.network.version, d.protocol, d.network,
                                              d.port or 0))), problems


def chains(user: str, allowed: Sequence[Destination]) -> list[str]:
    """The output-hook chains: packets of sockets owned by `user` (TabPy and every process its
    scripts start) go to loopback, answer connections (replies to Tableau), or reach an allowed
    destination; anything else is rejected at once. Other users' traffic is not looked at."""
    return [
        "\tchain tabpy_outbound {",
        "\t\ttype filter hook output priority filter; policy accept;",
        f'\t\tmeta skuid "{user}" jump tabpy_user_outbound',
        "\t}",
        "\tchain tabpy_user_outbound {",
        '\t\toif "lo" accept',
        "\t\tct state established,related accept",
        *[f"\t\t{d.rule()}" for d in allowed],
        "\t\tmeta l4proto tcp reject with tcp reset",
        "\t\treject with icmpx admin-prohibited",
        "\t}",
    ]

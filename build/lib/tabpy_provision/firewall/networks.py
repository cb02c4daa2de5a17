"""Addresses and networks as the fence matches them. Pure.

nftables compares the addresses a packet carries: an IPv4 client's packets are IPv4 even when a
list names it IPv4-mapped (`::ffff:198.51.100.7`), so such an item is taken in its IPv4 form;
a zone id (`fe80::1%eth0`) names an interface, which an address match does not compare, so an
item with one is refused rather than widened to every link."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def zone_problem(item: str) -> str | None:
    """The refusal of an item carrying a zone id, else None."""
    if "%" not in item:
        return None
    zone = item.split("%", 1)[1].split("/", 1)[0].split("]", 1)[0]
    return (f"{item!r}: a zone id (%{zone}) cannot be fenced: nftables matches addresses, not "
            "the interface a zone names; give the address or network without it")


def network(text: str, *, strict: bool = True) -> Network:
    """An address or network (ValueError when it is not one), IPv4-mapped ones as IPv4."""
    found = ipaddress.ip_network(text, strict=strict)
    if found.version == 6 and found.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((found.network_address.ipv4_mapped, found.prefixlen - 96))
    return found


def collapsed(found: Iterable[Network]) -> tuple[Network, ...]:
    """Networks merged where they overlap or adjoin, v4 first (nft refuses overlapping set
    elements)."""
    found = list(found)
    return tuple(sorted(
        (*ipaddress.collapse_addresses(n for n in found if n.version == 4),
         *ipaddress.collapse_addresses(n for n in found if n.version == 6)),
        key=lambda n: (n.version, n)))


def everyone(found: Iterable[Network]) -> list[Network]:
    """The whole address families (0.0.0.0/0, ::/0) the networks cover together: one item of
    prefix 0, or pieces that add up to one."""
    return [n for n in collapsed(found) if n.prefixlen == 0]

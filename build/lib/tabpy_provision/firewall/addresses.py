"""The addresses a fence admits, as the controller knows them (read-only: a lookup, and a UDP
connect that sends nothing)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any


def host_addresses(name: str, data: Mapping[str, Any]) -> list[str]:
    """An inventory host's addresses: its ssh_hostname when that is an IP address, else what
    the controller resolves it (or the host name) to; [] when it does not resolve."""
    target = str(data.get("ssh_hostname") or name)
    try:
        return [str(ipaddress.ip_address(target))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(target, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in found})


def controller_source(target: str) -> list[str]:
    """The address this controller reaches `target` from, by the routing table (connecting a
    UDP socket sends no packet); [] when there is no route."""
    try:
        candidates = socket.getaddrinfo(target, 9, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    for family, kind, proto, _, address in candidates:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.connect(address)
            except OSError:
                continue
            return [str(probe.getsockname()[0])]
    return []

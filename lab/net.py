"""Bridge on the controller, one network namespace + veth per host. Only exact lab names."""

from __future__ import annotations

import os
from pathlib import Path

from .hosts import BRIDGE, GATEWAY, NETWORK, PREFIX, LabHost
from .util import LabError, run

# While the lab exists, a fallback route keeps lab addresses from ever leaving the machine
# through the default route (e.g. ssh to a lab host while the bridge is gone).
GUARD_METRIC = "4242"


def mac_for(address: str, role: int) -> str:
    """Fixed, locally administered MACs derived from the lab address: a re-created host keeps
    its MAC, so ARP caches (controller and other hosts) never point at a vanished one."""
    octets = [int(o) for o in address.split(".")]
    return "%02x:%02x:%02x:%02x:%02x:%02x" % (0x02, role, *octets)  # noqa: UP031


BRIDGE_MAC = mac_for(GATEWAY, 0x54)


def link_mac(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/address") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def netns_path(host: LabHost) -> Path:
    return Path("/run/netns") / host.netns


def netns_exists(host: LabHost) -> bool:
    return netns_path(host).exists()


def bridge_ready() -> bool:
    if not link_exists(BRIDGE):
        return False
    out = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], check=False).stdout
    return f" {GATEWAY}/{PREFIX} " in out


def ensure_guard_route() -> None:
    out = run(["ip", "-4", "route", "show", "type", "unreachable", NETWORK], check=False).stdout
    if "unreachable" not in out:
        run(["ip", "-4", "route", "add", "unreachable", NETWORK, "metric", GUARD_METRIC],
            check=False)


def ensure_bridge() -> None:
    ensure_guard_route()
    if not link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge"])
    elif link_mac(BRIDGE) != BRIDGE_MAC:
        # an explicit MAC: otherwise the bridge takes its ports' lowest and changes with them
        run(["ip", "link", "set", BRIDGE, "address", BRIDGE_MAC])
    out = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout
    if f" {GATEWAY}/{PREFIX} " not in out:
        run(["ip", "addr", "add", f"{GATEWAY}/{PREFIX}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def bridge_ports() -> list[str]:
    try:
        return sorted(os.listdir(f"/sys/class/net/{BRIDGE}/brif"))
    except OSError:
        return []


def remove_bridge() -> None:
    """Only an empty bridge: a port still on it is a host still running (maybe a lab with
    another state dir)."""
    if link_exists(BRIDGE) and not bridge_ports():
        run(["ip", "link", "del", BRIDGE])


def attach(host: LabHost) -> None:
    """Make sure a running host's veth is on the bridge and up (idempotent self-repair)."""
    if not link_exists(host.veth):
        return
    master = os.path.realpath(f"/sys/class/net/{host.veth}/master")
    if os.path.basename(master) != BRIDGE or not os.path.exists(master):
        run(["ip", "link", "set", host.veth, "master", BRIDGE, "up"])


def netns_pids(host: LabHost) -> list[int]:
    if not netns_exists(host):
        return []
    out = run(["ip", "netns", "pids", host.netns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def create(host: LabHost) -> None:
    """netns tplab-NAME, veth tpv-NAME on the bridge <-> eth0 inside, address, no default route."""
    if netns_exists(host) or link_exists(host.veth):
        raise LabError(f"{host.name}: network namespace or veth already exists")
    run(["ip", "netns", "add", host.netns])
    run(["ip", "link", "add", host.veth, "address", mac_for(host.address, 0x55), "type", "veth",
         "peer", "name", "eth0", "address", mac_for(host.address, 0x54), "netns", host.netns])
    # forget any cached neighbour entry for this address
    run(["ip", "neigh", "flush", "to", host.address, "dev", BRIDGE], check=False)
    run(["ip", "link", "set", host.veth, "master", BRIDGE, "up"])
    batch = "\n".join([
        f"addr add {host.address}/{PREFIX} dev eth0",
        "link set lo up",
        "link set eth0 up",
    ]) + "\n"
    run(["ip", "-n", host.netns, "-batch", "-"], input=batch)


def destroy(host: LabHost) -> None:
    if netns_exists(host):
        run(["ip", "netns", "del", host.netns])
    elif os.path.lexists(netns_path(host)):
        os.unlink(netns_path(host))
    if link_exists(host.veth):
        run(["ip", "link", "del", host.veth], check=False)

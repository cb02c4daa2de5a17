"""A cgroup of its own for each lab host's systemd-nspawn.

`systemd-nspawn --keep-unit` on a machine whose PID 1 is not systemd makes its `payload` and
`supervisor` groups under the cgroup it was started in. Started from one cgroup, every lab
host's systemd shared one `payload/system.slice`: two hosts running a unit of the same name
(tabpy.service, tabpy-provision-firewall.service, haproxy.service) used the same group, and one
host removing it while the other started its unit failed that start at random ("Failed to spawn
executor: No such file or directory", status=219/CGROUP). A real host has its own tree; so does
a lab host now: `<its caller's group>/tabpy-provision-lab.<host>` in the hierarchies systemd
uses (the named `systemd` one and the unified one).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PREFIX = "tabpy-provision-lab."
#: The hierarchies a booted systemd keeps its units in (hybrid: both; unified: the one).
_TRACKED = ("name=systemd", "")


def _mounts() -> dict[str, Path]:
    """Hierarchy ("name=systemd", "" for the unified one, ...) -> its mount point."""
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        kind, options = fields[separator + 1], fields[separator + 3].split(",")
        if kind == "cgroup2":
            found.setdefault("", Path(fields[4]))
        elif kind == "cgroup":
            for option in options:
                if option.startswith("name="):
                    found.setdefault(option, Path(fields[4]))
    return found


def _own_paths() -> dict[str, str]:
    """Hierarchy -> this process's group in it (from /proc/self/cgroup)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        paths[controllers] = path
    return paths


def host_groups(name: str) -> list[Path]:
    """The folders of the host's groups (made by `create`), one per tracked hierarchy."""
    mounts, own = _mounts(), _own_paths()
    return [mounts[kind] / own[kind].lstrip("/") / f"{PREFIX}{name}"
            for kind in _TRACKED if kind in mounts and kind in own]


def create(name: str) -> list[Path]:
    """Make the host's groups; their `cgroup.procs` files, into which its nspawn moves."""
    groups = host_groups(name)
    for group in groups:
        group.mkdir(exist_ok=True)
    return [group / "cgroup.procs" for group in groups]


def remove(name: str) -> None:
    """Remove the host's groups, deepest first (a group with a live process stays)."""
    for group in host_groups(name):
        if not group.is_dir():
            continue
        for folder, _, _ in sorted(os.walk(group), key=lambda entry: -entry[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(folder)

"""What one TabPy process may use of its host (memory, tasks, CPU share), from the settings and
the host's size, as limits on its systemd unit. Pure.

Each limit is set twice, so it holds with or without cgroup v2:
- memory: `LimitAS` (address space: an allocation past it fails inside the script with
  MemoryError, TabPy answers the request with an error and keeps serving), and the cgroup's
  `MemoryMax` (the kernel kills the process if it still gets there; systemd restarts it) with
  `MemoryHigh` a little lower (reclaim and throttling first);
- tasks: `LimitNPROC` (every process and thread of TabPy's user on the host: a fork bomb gets
  EAGAIN) and the cgroup's `TasksMax`;
- CPU: `CPUWeight` (cgroup only: a share under contention, not a cap)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tabpy_provision.settings.value_checks import accepts
from tabpy_provision.settings.values import NetworkSettings

_SIZE = re.compile(r"([1-9][0-9]{0,6})([KMGT])")
_SHARE = re.compile(r"([1-9][0-9]?)%")
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
#: A TabPy process needs about 150 MB idle; below this, limits would kill it at start.
FLOOR = 256 << 20
AUTO_SHARE = 75  # % of the host's memory for all its TabPy processes together


@dataclass(frozen=True)
class Limits:
    memory_max: int  # bytes, per process
    tasks_max: int  # per process
    cpu_weight: int
    processes: int = 1  # TabPy processes on the host (they share one user)

    @property
    def user_tasks(self) -> int:
        """RLIMIT_NPROC counts every task of the user: all of the host's TabPy processes."""
        return self.tasks_max * self.processes

    @property
    def memory_high(self) -> int:
        """Where the kernel starts reclaiming and throttling, before the kill at memory_max."""
        return self.memory_max * 9 // 10


@accepts("str")
def memory_problem(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, str) and (
            _SIZE.fullmatch(value) or _SHARE.fullmatch(value))):
        return None
    return f"must be auto, a size like 2G or 512M, or a share of the host like 50%, got {value!r}"


def process_limits(network: NetworkSettings, host_memory: int, processes: int) -> Limits:
    """`host_memory`: bytes; a share (and auto) is of the host, split over its processes; a
    size is per process."""
    setting = network.tabpy_memory_max
    share = AUTO_SHARE if setting == "auto" else None
    if share is None and (found := _SHARE.fullmatch(setting)):
        share = int(found.group(1))
    if share is not None:
        memory = max(FLOOR, host_memory * share // 100 // processes)
    else:
        number, unit = _SIZE.fullmatch(setting).groups()
        memory = int(number) * _UNITS[unit]
    return Limits(memory, network.tabpy_tasks_max, network.tabpy_cpu_weight, processes)


def floor_problem(limits: Limits) -> str | None:
    if limits.memory_max < FLOOR:
        return f"{limits.memory_max >> 20} MB per TabPy process is below {FLOOR >> 20} MB " \
               "(TabPy would be killed at start)"
    return None

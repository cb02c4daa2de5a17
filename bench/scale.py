"""`python -m bench scale [N ...]`: how a deploy's time grows with the number of TabPy hosts.

For each N (1, 5, 10, 20 by default) the lab's scale hosts are made fresh (`python -m lab up
--scale N`), then inventory/lab_scale.py is deployed cold and once more (a no-op). Printed per
N: wall time, time per host, the controller process's peak memory and CPU time, how busy this
machine's cores were (the lab's hosts run on them too) and the memory of one lab host; then a
straight-line fit of both runs and what it predicts for 200 hosts. Figures only, never asserted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import PYINFRA, ROOT, timed

SIZES = (1, 5, 10, 20)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float  # the controller process's peak resident memory
    cpu_seconds: float  # its user + system time
    busy: float  # share of this machine's cores in use during the run (0..1)
    iowait: float  # share of the cores waiting for the disk


def cpu_times() -> tuple[int, int, int]:
    """Total, idle and iowait jiffies of this machine (the first line of /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields), fields[3], fields[4]


def measure(command: list[str], env: dict[str, str]) -> Measured:
    """Run `command`; its wall time and resource use. Exits the bench when it fails."""
    total0, idle0, wait0 = cpu_times()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench: {' '.join(command)} failed ({code}):\n"
                 f"{output.decode(errors='replace')[-3000:]}")
    total1, idle1, wait1 = cpu_times()
    spent = max(total1 - total0, 1)
    return Measured(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime,
                    1 - (idle1 - idle0 + wait1 - wait0) / spent, (wait1 - wait0) / spent)


def host_memory_mib(name: str) -> float:
    """Proportional memory (PSS) of every process of one lab host: the processes sharing the
    pid namespace of its init (the child of its systemd-nspawn)."""
    from lab import machine
    from lab.hosts import get_host

    pid = machine.running_pid(get_host(name))
    init = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                          check=False).stdout.split()
    if not init:
        return float("nan")
    namespace = os.readlink(f"/proc/{init[0]}/ns/pid")
    kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns/pid") != namespace:
                continue
            rollup = (entry / "smaps_rollup").read_text()
        except OSError:  # gone, or a kernel thread
            continue
        kib += next((int(line.split()[1]) for line in rollup.splitlines()
                     if line.startswith("Pss:")), 0)
    return kib / 1024


def line_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares intercept and slope of seconds against hosts."""
    if len(points) < 2:
        return (points[0][1] if points else 0.0), 0.0
    slope, intercept = statistics.linear_regression([n for n, _ in points],
                                                    [s for _, s in points])
    return intercept, slope


def lab(*arguments: str) -> None:
    timed(f"lab {arguments[0]}", [sys.executable, "-m", "lab", *arguments])


def scale_names() -> list[str]:
    from lab import machine
    from lab.hosts import SCALE_HOSTS

    return [h.name for h in SCALE_HOSTS if machine.hdir(h).is_dir()]


def run(sizes: tuple[int, ...] = SIZES) -> None:
    rows = []
    for count in sizes:
        if scale_names():
            lab("down", *scale_names())
        lab("up", "--scale", str(count))
        command = [PYINFRA, "-y", "inventory/lab_scale.py", "deploy/tabpy.py"]
        env = {"TABPY_LAB_SCALE": str(count)}
        cold = measure(command, env)
        noop = measure(command, env)
        memory = statistics.median(host_memory_mib(f"scale{n}") for n in range(1, count + 1))
        rows.append((count, cold, noop, memory))
        print(f"bench scale: {count} host(s): cold {cold.seconds:.1f} s, no-op "
              f"{noop.seconds:.1f} s", flush=True)
    if scale_names():
        lab("down", *scale_names())
    report(rows)


def report(rows: list[tuple[int, Measured, Measured, float]]) -> None:
    print(f"{'hosts':>5} {'run':<6} {'wall s':>7} {'s/host':>7} {'ctl MiB':>8} {'ctl CPU s':>9} "
          f"{'cores busy':>10} {'iowait':>7} {'host MiB':>9}")
    for count, cold, noop, memory in rows:
        for label, measured in (("cold", cold), ("no-op", noop)):
            print(f"{count:>5} {label:<6} {measured.seconds:>7.1f} "
                  f"{measured.seconds / count:>7.2f} {measured.peak_mib:>8.0f} "
                  f"{measured.cpu_seconds:>9.1f} {measured.busy:>10.0%} "
                  f"{measured.iowait:>7.0%} {memory:>9.0f}")
    for label, index in (("cold", 1), ("no-op", 2)):
        intercept, slope = line_fit([(row[0], row[index].seconds) for row in rows])
        print(f"{label}: {intercept:.1f} s + {slope:.2f} s per host; 200 hosts: "
              f"{intercept + 200 * slope:.0f} s by this line")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"cold {last[0]} hosts / cold {first[0]}: {last[1].seconds / first[1].seconds:.1f}x")

"""Where a deploy's time goes: the deploy's output read as it comes, each line stamped, then
the time between pyinfra's markers summed by phase. Printed by `python -m bench phases`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: Phase of an operation, by a piece of its name (first match wins; else "other operations").
OPERATION_PHASES = (
    ("Controller:", "controller (CA, passwords, wheelhouse staged)"),
    ("virtualenv", "virtualenv (wheelhouse upload and install)"),
    ("TabPy release", "release upload"),
    ("Activate the release", "restart (activate, drain, verify each process)"),
    ("Health check", "checks (health, pool, through the pool)"),
    ("serving", "checks (health, pool, through the pool)"),
    ("as Tableau does", "checks (health, pool, through the pool)"),
    ("Functions and pre-built models", "functions (publish, examples)"),
    ("Fence:", "fence (nftables)"),
    ("Trust ", "trust stores"),
    ("trust store", "trust stores"),
    ("Tableau", "tableau"),
)
#: pyinfra's own markers before the first operation.
MARKERS = (
    ("--> Connecting to hosts", "connect"),
    ("--> Preparing operation", "check (facts, plans of every host)"),
    ("--> Beginning operation run", "other operations"),
)


def stamped(command: Sequence[str], cwd: Path) -> tuple[int, list[tuple[float, str]]]:
    """Run `command`; its exit code and output lines with the seconds since its start."""
    started = time.monotonic()
    process = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in process.stdout]
    return process.wait(), [*lines, (time.monotonic() - started, "--> end")]


def stamped_or_exit(title: str, command: Sequence[str], cwd: Path) -> list[tuple[float, str]]:
    """`stamped`'s lines of a command that must succeed; the bench stops with its output's tail,
    naming `title`, when it fails."""
    code, lines = stamped(command, cwd)
    if code != 0:
        tail = "\n".join(text for _, text in lines[-40:])
        sys.exit(f"bench: {title} failed ({code}):\n{tail}")
    return lines


def phase_of(line: str) -> str | None:
    """The phase a marker line starts, or None for any other line."""
    if line.startswith("--> Starting operation: "):
        name = line.removeprefix("--> Starting operation: ")
        return next((phase for piece, phase in OPERATION_PHASES if piece in name),
                    "other operations")
    if line.startswith(("--> Results", "--> Disconnecting", "--> end")):
        return "results, disconnect"
    return next((phase for marker, phase in MARKERS if line.startswith(marker)), None)


def breakdown(lines: Sequence[tuple[float, str]]) -> dict[str, float]:
    """Seconds per phase: each marker's phase runs until the next marker."""
    totals: dict[str, float] = {}
    current, since = "start, inventory", 0.0
    for at, line in lines:
        phase = phase_of(line)
        if phase is None:
            continue
        totals[current] = totals.get(current, 0.0) + at - since
        current, since = phase, at
    return totals


def report(title: str, totals: dict[str, float]) -> None:
    print(f"{title}: {sum(totals.values()):.1f} s")
    for phase, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {phase:<50} {seconds:>6.2f} s")

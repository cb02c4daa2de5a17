"""Benches (`make bench`, `python -m bench phases|scale|throughput`): figures printed, never
asserted. What every bench shares: where the project is, the venv's pyinfra, and running a
command that must succeed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def run(label: str, command: list[str]) -> tuple[float, str]:
    """Run `command` from the project's folder: its seconds and output; the bench stops,
    naming `label`, when it fails."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench: {label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def timed(label: str, command: list[str]) -> float:
    return run(label, command)[0]

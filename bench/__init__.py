"""Benches (`make bench`, `python -m bench phases|scale|throughput`): figures printed, never
asserted. What every bench shares: where the project is, the venv's pyinfra, and running a
command that must succeed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tabpy_provision.settings.groups import CLIENTS, POOL, TABLEAU

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


LAB_GROUPS = (POOL, CLIENTS, TABLEAU)


def lab_variant(folder: Path, name: str, only: str | None = None,
                groups: tuple[str, ...] = LAB_GROUPS, **tabpy_data) -> Path:
    """The lab inventory written to `folder/name.py` with `tabpy_data` over its TabPy servers'
    group data; `only`: that TabPy server alone; `groups`: the lab's other groups kept."""
    path = folder / f"{name}.py"
    path.write_text(
        "import runpy\n"
        f"inventory = runpy.run_path({str(ROOT / 'inventory/lab.py')!r})\n"
        "hosts, data = inventory['tabpy_servers']\n"
        f"tabpy_servers = ([h for h in hosts if {only!r} in (None, h[0])], "
        f"{{**data, **{tabpy_data!r}}})\n"
        + "".join(f"{group} = inventory[{group!r}]\n" for group in groups))
    return path

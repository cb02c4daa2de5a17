"""`python -m bench soak [ROUNDS]`: first deploys onto fresh hosts, ROUNDS times (20 by
default): every lab host removed and booted fresh, the whole site deployed once and checked by
site_check. Prints each round's outcome and seconds, and the count of failures; a failed
round's output is kept in .cache/soak/round-N.log with the journal of every failed unit."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import PYINFRA, ROOT
from lab import paths
from lab.hosts import LAB_HOSTS

ROUNDS = 20
LOGS = ROOT / ".cache" / "soak"


def _step(command: list[str]) -> tuple[bool, str]:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=900)
    return done.returncode == 0, done.stdout + done.stderr


def _failed_units() -> str:
    """Each lab host's failed units and their journal (what a failed first deploy left)."""
    config = str(paths.ssh_config_path())
    out = []
    for host in LAB_HOSTS:
        done = subprocess.run(
            ["ssh", "-F", config, host.fqdn,
             "systemctl --failed --no-legend --plain; journalctl -b -p warning --no-pager "
             "-n 60"], capture_output=True, text=True, timeout=60, check=False)
        out.append(f"--- {host.name}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def run(rounds: int) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    failures = 0
    for number in range(1, rounds + 1):
        started = time.monotonic()
        said = []
        ok = True
        for label, command in (
                ("lab down", [sys.executable, "-m", "lab", "down"]),
                ("lab up", [sys.executable, "-m", "lab", "up"]),
                ("deploy", [PYINFRA, "-y", "inventory/lab.py", "deploy/site.py"]),
                ("site_check", [sys.executable, "-m", "tabpy_provision", "check", "-i",
                                "inventory/lab.py"])):
            ok, output = _step(command)
            said.append(f"=== {label}\n{output}")
            if not ok:
                said.append(_failed_units())
                (LOGS / f"round-{number}.log").write_text("\n".join(said))
                failures += 1
                print(f"round {number}: FAILED at {label} ({time.monotonic() - started:.0f} s; "
                      f"{LOGS / f'round-{number}.log'})", flush=True)
                break
        if ok:
            print(f"round {number}: passed ({time.monotonic() - started:.0f} s)", flush=True)
    print(f"soak: {rounds - failures} of {rounds} first deploys onto fresh hosts passed")

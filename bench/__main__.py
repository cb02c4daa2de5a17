"""`make bench`: figures printed, never asserted.

1. lab up with a warm base cache (all hosts fresh: the lab is torn down first);
2. a cold deploy of one TabPy host onto that fresh host (wheelhouse already built);
3. a no-op rerun of the whole lab (after a full deploy);
4. failover RTO: tabpy1 backed up and destroyed, its backup restored onto the fresh DR host
   (inventory/lab_dr.py), from the command's start to passing verification.
Targets: lab up <= 5 s, cold TabPy host <= 30 s, no-op rerun <= 5 s, RTO <= 60 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
DEPLOY = [PYINFRA, "-y", "inventory/lab.py", "deploy/site.py"]


def run(label: str, command: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench: {label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def timed(label: str, command: list[str]) -> float:
    return run(label, command)[0]


def main() -> None:
    figures = []
    timed("lab down", [sys.executable, "-m", "lab", "down"])
    figures.append(("lab up, 4 fresh hosts, warm base cache",
                    timed("lab up", [sys.executable, "-m", "lab", "up"]), 5))
    for host in ("tabpy1.lab.test", "tabpy2.lab.test"):
        figures.append((f"cold TabPy deploy, fresh {host}",
                        timed("cold deploy", [*DEPLOY, "--limit", host]), 30))
    timed("full deploy", DEPLOY)
    figures.append(("no-op rerun, whole lab", timed("no-op rerun", DEPLOY), 5))
    timed("backup", [PYINFRA, "-y", "--limit", "tabpy1.lab.test", "inventory/lab.py",
                     "deploy/backup.py"])
    timed("lose tabpy1", [sys.executable, "-m", "lab", "down", "tabpy1"])
    _, output = run("failover", [PYINFRA, "-y", "--data", "restore_from=tabpy1.lab.test",
                                 "inventory/lab_dr.py", "deploy/failover.py"])
    figures.append(("failover RTO onto a fresh DR host",
                    float(re.search(r"RTO: ([0-9.]+) s", output).group(1)), 60))
    timed("bring tabpy1 back", [sys.executable, "-m", "lab", "up", "tabpy1"])
    timed("redeploy tabpy1", DEPLOY)
    print(f"{'measure':<45} {'seconds':>8} {'target':>7}")
    for label, seconds, target in figures:
        print(f"{label:<45} {seconds:>8.1f} {target:>7}")


if __name__ == "__main__":
    main()

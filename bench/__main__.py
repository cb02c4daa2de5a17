"""`make bench`: figures printed, never asserted.

1. lab up with a warm base cache (all hosts fresh: the lab is torn down first);
2. a cold deploy of one TabPy host onto that fresh host (wheelhouse already built);
3. a no-op rerun of the whole lab (after a full deploy);
4. failover RTO: tabpy1 backed up and destroyed, its backup restored onto the fresh DR host
   (inventory/lab_dr.py), from the command's start to passing verification;
5. throughput through the pool's balancer (tabpy.lab.test) with 1, 2 and 4 TabPy processes on
   tabpy1: requests/s of a small CPU-bound script at a fixed concurrency, from client1.
Targets: lab up <= 5 s, cold TabPy host <= 30 s, no-op rerun <= 5 s, RTO <= 60 s,
1 -> 2 processes >= 1.6x. `python -m bench throughput` measures 5 only; `python -m bench
phases` prints where the time of a cold TabPy host (tabpy2, reset first) and of a no-op rerun
goes, phase by phase (bench/phases.py), and the verification table's time.
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


# ~20 ms of CPU in TabPy per request (with the sign-in's PBKDF2 and TLS on top)
LOOPS = 600_000
SCRIPT = f"return sum(i * i for i in range({LOOPS})) % 7 + _arg1[0]"
EXPECT = str(sum(i * i for i in range(LOOPS)) % 7 + 41)
CONCURRENCY, SECONDS = 8, 20


def pool_inventory(folder: Path, processes: int) -> Path:
    """The lab inventory with tabpy1 alone in the pool, running `processes` TabPy processes."""
    path = folder / f"bench_pool_{processes}.py"
    path.write_text(
        "import runpy\n"
        f"inventory = runpy.run_path({str(ROOT / 'inventory/lab.py')!r})\n"
        "hosts, data = inventory['tabpy_servers']\n"
        "tabpy_servers = ([h for h in hosts if h[0] == 'tabpy1.lab.test'],\n"
        f"                 {{**data, 'tabpy_instances': {processes}, "
        "'tabpy_allowed_sources': ['@clients']})\n"
        "tabpy_lb = inventory['tabpy_lb']\n"
        "clients = inventory['clients']\n")
    return path


def throughput() -> list[tuple[str, float, str]]:
    import tempfile

    from tests.load import Load

    password = (ROOT / "secrets/lab/tabpy_users/tableau").read_text().strip()
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in (1, 2, 4):
            inventory = pool_inventory(Path(folder), processes)
            timed(f"pool of {processes}", [PYINFRA, "-y", str(inventory), "deploy/site.py"])
            with Load("client1.lab.test", "tabpy.lab.test", "tableau", password,
                      concurrency=CONCURRENCY, seconds=SECONDS, script=SCRIPT,
                      expect=EXPECT) as load:
                time.sleep(SECONDS + 1)
            if load.result["failed"]:
                sys.exit(f"bench: {processes} processes: failed requests {load.result}")
            rates[processes] = load.result["requests_per_second"]
    timed("full deploy", DEPLOY)
    return [(f"req/s through the pool, {n} TabPy process{'es' if n > 1 else ''}",
             rate, f"{rate / rates[1]:.2f}x") for n, rate in rates.items()]


def phase_figures() -> None:
    from bench import phases

    timed("reset tabpy2", [sys.executable, "-m", "lab", "reset", "tabpy2"])
    for title, command in (("cold TabPy host, fresh tabpy2 (Debian 13)",
                            [*DEPLOY, "--limit", "tabpy2.lab.test"]),
                           ("no-op rerun, whole lab", DEPLOY)):
        code, lines = phases.stamped(command, ROOT)
        if code != 0:
            tail = "\n".join(text for _, text in lines[-40:])
            sys.exit(f"bench: {title} failed ({code}):\n{tail}")
        phases.report(title, phases.breakdown(lines))
    seconds = timed("verification table",
                    [sys.executable, "-m", "tabpy_provision.site_check", "inventory/lab.py"])
    print(f"verification table (site_check): {seconds:.1f} s")


def main() -> None:
    if sys.argv[1:] == ["throughput"]:
        report(throughput())
        return
    if sys.argv[1:] == ["phases"]:
        phase_figures()
        return
    figures = []
    timed("lab down", [sys.executable, "-m", "lab", "down"])
    figures.append(("lab up, every host fresh, warm base cache",
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
    report(figures + throughput())


def report(figures: list[tuple[str, float, object]]) -> None:
    print(f"{'measure':<45} {'value':>8} {'target or ratio':>16}")
    for label, value, target in figures:
        print(f"{label:<45} {value:>8.1f} {target:>16}")


if __name__ == "__main__":
    main()

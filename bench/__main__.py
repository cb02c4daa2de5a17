"""`make bench`: figures printed, never asserted. Each figure of a deploy is the median of RUNS
(3; `BENCH_RUNS` to change) runs.

1. lab up with a warm base cache (all hosts fresh: the lab is torn down first);
2. a cold deploy of one TabPy host onto a fresh host (wheelhouse already built), per Debian;
3. a no-op rerun of the whole lab (after a full deploy), and `make deploy`'s rerun: that rerun
   and its verification table (site_check);
4. failover RTO: tabpy1 backed up and destroyed, its backup restored onto the DR host
   (inventory/lab_dr.py), from the command's start to passing verification: onto a warm
   standby (the DR inventory deployed beforehand) and onto a fresh host;
5. throughput through the pool's balancer (tabpy.lab.test) with 1, 2 and 4 TabPy processes on
   tabpy1: requests/s of a small CPU-bound script at a fixed concurrency, from client1;
6. publishing the analysts' functions on 4 processes: per process on a cold host and for one
   changed file, and the rerun with every function in place (bench/functions.py).
Targets (issue #17): lab up <= 5 s, cold TabPy host <= 10 s, no-op rerun <= 2.5 s, make deploy
rerun <= 4 s, RTO onto a warm standby <= 10 s, 1 -> 2 processes >= 1.6x.

`python -m bench throughput` measures 5 only; `python -m bench phases` prints where the time of
a cold TabPy host (tabpy2, reset first) and of a no-op rerun goes, phase by phase
(bench/phases.py); `python -m bench functions` measures 6 only; `python -m bench scale [N ...]`
deploys N scale hosts cold and no-op (bench/scale.py).
`python -m bench soak [ROUNDS]` deploys the whole site onto fresh hosts ROUNDS times
(bench/soak.py).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

from bench import PYINFRA, ROOT, lab_variant, run, timed
from tabpy_provision.settings.groups import CLIENTS, POOL

DEPLOY = [PYINFRA, "-y", "inventory/lab.py", "deploy/site.py"]
SITE_CHECK = [sys.executable, "-m", "tabpy_provision", "check", "-i", "inventory/lab.py"]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def median_of(measure) -> float:
    """The median of RUNS calls of `measure` (each returns seconds)."""
    return statistics.median(measure() for _ in range(RUNS))


def cold_deploy(host: str) -> float:
    timed(f"reset {host}", [sys.executable, "-m", "lab", "reset", host.split(".")[0]])
    return timed("cold deploy", [*DEPLOY, "--limit", host])


def failover_rto(standby: bool) -> float:
    """tabpy1 lost, its last backup restored onto a fresh tabpydr (standby: deployed from the
    DR inventory beforehand, as a warm standby is); tabpy1 back afterwards."""
    timed("fresh DR host", [sys.executable, "-m", "lab", "reset", "tabpydr"])
    if standby:
        timed("warm standby", [PYINFRA, "-y", "inventory/lab_dr.py", "deploy/site.py"])
    timed("backup", [PYINFRA, "-y", "--limit", "tabpy1.lab.test", "inventory/lab.py",
                     "deploy/backup.py"])
    timed("lose tabpy1", [sys.executable, "-m", "lab", "down", "tabpy1"])
    _, output = run("failover", [PYINFRA, "-y", "--data", "restore_from=tabpy1.lab.test",
                                 "inventory/lab_dr.py", "deploy/failover.py"])
    timed("bring tabpy1 back", [sys.executable, "-m", "lab", "up", "tabpy1"])
    timed("redeploy tabpy1", DEPLOY)
    return float(re.search(r"RTO: ([0-9.]+) s", output).group(1))


# ~20 ms of CPU in TabPy per request (with the sign-in's PBKDF2 and TLS on top)
LOOPS = 600_000
SCRIPT = f"return sum(i * i for i in range({LOOPS})) % 7 + _arg1[0]"
EXPECT = str(sum(i * i for i in range(LOOPS)) % 7 + 41)
CONCURRENCY, SECONDS = 8, 20


def throughput() -> list[tuple[str, float, str]]:
    import tempfile

    from tests.load import Load

    password = (ROOT / "secrets/lab/tabpy_users/tableau").read_text().strip()
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in (1, 2, 4):
            inventory = lab_variant(Path(folder), f"bench_pool_{processes}", "tabpy1.lab.test",
                                    (POOL, CLIENTS), tabpy_instances=processes,
                                    tabpy_allowed_sources=["@clients"])
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
        phases.report(title, phases.breakdown(phases.stamped_or_exit(title, command, ROOT)))
    seconds = timed("verification table", SITE_CHECK)
    print(f"verification table (site_check): {seconds:.1f} s")


def main() -> None:
    if sys.argv[1:] == ["throughput"]:
        report(throughput())
        return
    if sys.argv[1:] == ["phases"]:
        phase_figures()
        return
    if sys.argv[1:] == ["functions"]:
        from bench import functions

        functions.run(RUNS)
        return
    if sys.argv[1:2] == ["soak"]:
        from bench import soak

        soak.run(int(sys.argv[2]) if sys.argv[2:] else soak.ROUNDS)
        return
    if sys.argv[1:2] == ["scale"]:
        from bench import scale

        scale.run(tuple(int(n) for n in sys.argv[2:]) or scale.SIZES)
        return
    figures = []
    timed("lab down", [sys.executable, "-m", "lab", "down"])
    figures.append(("lab up, every host fresh, warm base cache",
                    timed("lab up", [sys.executable, "-m", "lab", "up"]), 5))
    for host in ("tabpy1.lab.test", "tabpy2.lab.test"):
        figures.append((f"cold TabPy deploy, fresh {host}",
                        median_of(lambda host=host: cold_deploy(host)), 10))
    timed("full deploy", DEPLOY)
    figures.append(("no-op rerun, whole lab", median_of(lambda: timed("no-op", DEPLOY)), 2.5))
    figures.append(("make deploy rerun (no-op + verification table)",
                    median_of(lambda: timed("no-op", DEPLOY) + timed("table", SITE_CHECK)), 4))
    figures.append(("failover RTO onto a warm standby DR host",
                    median_of(lambda: failover_rto(standby=True)), 10))
    figures.append(("failover RTO onto a fresh DR host",
                    median_of(lambda: failover_rto(standby=False)), "-"))
    report(figures + throughput())
    from bench import functions

    functions.run(RUNS)


def report(figures: list[tuple[str, float, object]]) -> None:
    print(f"{'measure':<48} {'value':>8} {'target or ratio':>16}")
    for label, value, target in figures:
        print(f"{label:<48} {value:>8.1f} {target:>16}")


if __name__ == "__main__":
    main()

"""`make bench`: figures printed, never asserted. Each figure of a deploy is the median of RUNS
(3; `BENCH_RUNS` to change) runs.

1. lab up with a warm base cache (all hosts fresh: the lab is torn down first);
2. a cold deploy of one TabPy host onto a fresh host, per Debian, once its kind was built (its
   finished virtualenv in the controller's cache), beside its floor measured in the same run
   (bench/floor_deploy.py: copy + unpack of the shipped bytes over the deploy's connection, plus
   TabPy's own restart to its first answer) and the ratio;
3. a no-op rerun of the whole lab (after a full deploy), and `make deploy`'s rerun: that rerun
   and its verification table (site_check);
4. failover RTO: tabpy1 backed up and destroyed, its backup restored onto the DR host
   (inventory/lab_dr.py), from the command's start to passing verification: onto a warm
   standby (the DR inventory deployed beforehand) and onto a fresh host;
5. throughput through the pool's balancer (tabpy.lab.test) with 1, 2 and 4 TabPy processes on
   tabpy1: requests/s of a small CPU-bound script at a fixed concurrency, from client1;
6. publishing the analysts' functions on 4 processes: per process on a cold host and for one
   changed file, and the rerun with every function in place (bench/functions.py).
Targets (issues #17 and #31): lab up <= 5 s, a cold TabPy host <= 2x its floor, no-op rerun
<= 1.5 s, make deploy rerun <= 4 s, RTO onto a warm standby <= 10 s and onto a fresh host
<= 2x a cold host, 1 -> 2 processes >= 1.6x; `bench scale`: 20 cold hosts <= 5x one.

`python -m bench cold` measures 1 to 3 but the make deploy rerun; `python -m bench rto` a cold
host and the RTO onto a fresh DR host; `python -m bench throughput`
measures 5 only; `python -m bench phases` prints where the time of
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
from dataclasses import dataclass
from pathlib import Path

from bench import PYINFRA, ROOT, floor, lab_variant, run, timed
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
        report([Figure(label, rate, note=ratio) for label, rate, ratio in throughput()])
        return
    if sys.argv[1:] == ["cold"]:
        report(cold_figures()[0])
        return
    if sys.argv[1:] == ["rto"]:
        timed("full deploy", DEPLOY)
        cold = median_of(lambda: cold_deploy("tabpy1.lab.test"))
        report([Figure("cold TabPy deploy, fresh tabpy1.lab.test", cold),
                Figure("failover RTO onto a fresh DR host",
                       median_of(lambda: failover_rto(standby=False)), floor=cold,
                       target="<= 2x a cold host")])
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
    figures, colds = cold_figures()
    figures.append(Figure("make deploy rerun (no-op + verification table)",
                          median_of(lambda: timed("no-op", DEPLOY) + timed("table", SITE_CHECK)),
                          target="<= 4 s"))
    figures.append(Figure("failover RTO onto a warm standby DR host",
                          median_of(lambda: failover_rto(standby=True)), target="<= 10 s"))
    # the DR host is tabpy1's kind (Debian 12, the same settings): its cold host is the floor
    figures.append(Figure("failover RTO onto a fresh DR host",
                          median_of(lambda: failover_rto(standby=False)),
                          floor=colds["tabpy1.lab.test"], target="<= 2x a cold host"))
    report(figures)
    report([Figure(label, rate, note=ratio) for label, rate, ratio in throughput()])
    from bench import functions

    functions.run(RUNS)


def cold_figures() -> tuple[list[Figure], dict[str, float]]:
    """Lab up, a cold TabPy host per Debian beside its floor, the no-op rerun of the lab; and
    the cold hosts' medians by name."""
    figures: list[Figure] = []
    timed("lab down", [sys.executable, "-m", "lab", "down"])
    figures.append(Figure("lab up, every host fresh, warm base cache",
                          timed("lab up", [sys.executable, "-m", "lab", "up"]), target="<= 5 s"))
    # Every kind of TabPy host built once (its finished virtualenv in the controller's cache):
    # the cold hosts below are the next hosts of their kinds.
    timed("full deploy", DEPLOY)
    colds = {}
    for host in ("tabpy1.lab.test", "tabpy2.lab.test"):
        colds[host] = median_of(lambda host=host: cold_deploy(host))
        copy, restart, size = floor.measure("inventory/lab.py", host, RUNS)
        print(f"floor of {host}: copy + unpack of {size / 1e6:.0f} MB {copy:.2f} s, "
              f"TabPy's restart to its first answer {restart:.2f} s")
        figures.append(Figure(f"cold TabPy deploy, fresh {host}", colds[host],
                              floor=copy + restart, target="<= 2x floor"))
    timed("full deploy", DEPLOY)
    figures.append(Figure("no-op rerun, whole lab", median_of(lambda: timed("no-op", DEPLOY)),
                          target="<= 1.5 s"))
    return figures, colds


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    floor: float | None = None  # what the value is compared with, measured in the same run
    target: str = "-"
    note: str = ""


def report(figures: list[Figure]) -> None:
    print(f"{'measure':<48} {'value':>8} {'floor':>7} {'ratio':>6}  target")
    for figure in figures:
        floor_text = f"{figure.floor:>7.1f}" if figure.floor else f"{'-':>7}"
        ratio = f"{figure.value / figure.floor:>5.2f}x" if figure.floor else figure.note or "-"
        print(f"{figure.label:<48} {figure.value:>8.1f} {floor_text} {ratio:>6}  "
              f"{figure.target}")


if __name__ == "__main__":
    main()

"""`python -m bench functions`: what publishing the analysts' functions costs (issue #16).

The lab's TabPy servers with two processes each (4 processes), serving the lab's pre-built
models and the files of functions/lab (7 functions). Each figure is the median of RUNS runs:

1. a fresh tabpy2 deployed cold: the seconds its publisher spent on each process (the sum of
   the "published NAME on port P (N s)" lines of that port), and the deploy's functions phase
   (publish, then every example checked on every process);
2. one function file changed (a comment added, then taken away: its digest differs each time):
   the deploy's wall time and the publish seconds per process;
3. a rerun with every function in place: the whole deploy's wall time (nothing published).
The lab inventory is deployed again at the end. Figures only, never asserted.
"""

from __future__ import annotations

import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import PYINFRA, ROOT, lab_variant, phases, timed

PUBLISHED = re.compile(r"\[(\S+)\]\s+published '[^']+' on port (\d+) \(([\d.]+) s\)")
CHANGED = "add_one.py"


def publish_seconds(lines) -> dict[tuple[str, int], float]:
    """Seconds the publisher spent per (host, port), from a deploy's output lines."""
    spent: dict[tuple[str, int], float] = {}
    for _, line in lines:
        for host, port, seconds in PUBLISHED.findall(line):
            spent[host, int(port)] = spent.get((host, int(port)), 0.0) + float(seconds)
    return spent


def run(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        functions = Path(folder) / "functions"
        shutil.copytree(ROOT / "functions/lab", functions)
        inventory = lab_variant(Path(folder), "bench_functions", tabpy_instances=2,
                                tabpy_functions_dir=str(functions))
        command = [PYINFRA, "-y", str(inventory), "deploy/site.py"]
        timed("two processes per host", command)
        cold, cold_phase, changed, changed_wall, rerun = [], [], [], [], []
        for _ in range(runs):
            timed("reset tabpy2", [sys.executable, "-m", "lab", "reset", "tabpy2"])
            lines = phases.stamped_or_exit("cold tabpy2", [*command, "--limit",
                                                           "tabpy2.lab.test"], ROOT)
            cold.extend(publish_seconds(lines).values())
            cold_phase.append(phases.breakdown(lines).get("functions (publish, examples)", 0))
        original = (functions / CHANGED).read_text()
        for index in range(runs):
            (functions / CHANGED).write_text(original + ("# changed\n" if index % 2 == 0
                                                         else ""))
            lines = phases.stamped_or_exit("a changed function", command, ROOT)
            changed.extend(publish_seconds(lines).values())
            changed_wall.append(lines[-1][0])
        (functions / CHANGED).write_text(original)
        timed("back to the folder as committed", command)
        for _ in range(runs):
            rerun.append(timed("rerun", command))
        timed("the lab inventory again", [PYINFRA, "-y", "inventory/lab.py", "deploy/site.py"])
    count = len(list((ROOT / "functions/lab").glob("*.py")))
    print(f"functions on 4 TabPy processes (2 hosts x 2): the lab's pre-built models and the "
          f"{count} files of functions/lab, median of {runs} runs")
    rows = [
        ("cold host: publish per process, every function", statistics.median(cold)),
        ("cold host: functions phase (publish + examples)", statistics.median(cold_phase)),
        ("one changed function: publish per process", statistics.median(changed)),
        ("one changed function: whole deploy", statistics.median(changed_wall)),
        ("rerun, every function in place: whole deploy", statistics.median(rerun)),
    ]
    for label, seconds in rows:
        print(f"  {label:<50} {seconds:>6.2f} s")

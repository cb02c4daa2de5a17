"""The floor of a cold TabPy host, measured in the same run as the deploy it is compared with
(bench/floor_deploy.py): copy + unpack of the bytes the deploy ships, plus TabPy's own restart
to its first answer. A figure moves with the machine; its ratio to the floor should not."""

from __future__ import annotations

import statistics

from bench import PYINFRA, run


def measure(inventory: str, fqdn: str, runs: int) -> tuple[float, float, int]:
    """Medians over `runs` rounds on a deployed `fqdn`: (copy + unpack s, restart s, bytes)."""
    copies, restarts, size = [], [], 0
    for _ in range(runs):
        _, output = run(f"floor of {fqdn}", [PYINFRA, "-y", "--limit", fqdn, inventory,
                                             "bench/floor_deploy.py"])
        for line in output.splitlines():
            words = line.split()
            if words[:2] == ["FLOOR", "copy_unpack"]:
                copies.append(float(words[2]))
                size = int(words[3])
            elif words[:2] == ["FLOOR", "restart"]:
                restarts.append(float(words[2]))
    if len(copies) != runs or len(restarts) != runs:
        raise SystemExit(f"bench: the floor of {fqdn} printed no figures:\n{output[-2000:]}")
    return statistics.median(copies), statistics.median(restarts), size

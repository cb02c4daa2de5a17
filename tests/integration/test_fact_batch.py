"""Facts read together (run/fact_batch.py) on real hosts: the same values as pyinfra reading each
fact alone, on Debian 12 and 13 TabPy hosts and a pool balancer; a rerun where nothing
changes reads none of them alone."""

from __future__ import annotations

import json
import re

from tests.integration.conftest import TABPY_HOSTS, pyinfra

HOSTS = [*TABPY_HOSTS, "tabpylb1.lab.test"]
#: pyinfra --debug: `[host]   Loaded fact module.Name (arguments)`
LOADED = re.compile(r"\[([\w.-]+)\]\s+Loaded fact (?:[\w]+\.)*(\w+)")


def test_facts_read_together_equal_pyinfras_own_reading_and_a_rerun_reads_none_alone(
        converged):
    run = pyinfra("--dry", *[f"--limit={host}" for host in HOSTS],
                  entry="tests/integration/fact_batch_deploy.py")
    assert run.returncode == 0, run.output[-3000:]
    reports = {report["host"]: report for report in (
        json.loads(line.split("FACT-BATCH ", 1)[1]) for line in run.output.splitlines()
        if "FACT-BATCH " in line)}
    assert sorted(reports) == sorted(HOSTS)
    for report in reports.values():
        assert report["count"] >= 9 and report["differ"] == [] \
            and report["unanswered"] == [], report

    rerun = pyinfra("--debug")
    assert rerun.returncode == 0, rerun.output[-3000:]
    loaded = set(LOADED.findall(rerun.output))
    assert ("tabpy1.lab.test", "PythonTarget") in loaded  # read alone by the preflight
    assert {(host, name) for host, name in loaded
            if host in reports and name in reports[host]["facts"]} == set()

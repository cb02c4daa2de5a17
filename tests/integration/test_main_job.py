"""The main job (`make deploy`: the lab site, then the verification table) shows the seed's whole
flow: tableau1's Tableau Server (a stand-in, lab/tableau.py: the tsm of a 2019.4 server)
connected to the pool by `tsm security vizql-extsvc-ssl enable ...` and `tsm pending-changes
apply`, its Test Connection in the table, and client1 verifying TabPy through its own OS trust
store. A rerun applies nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.integration.conftest import LAB_INVENTORY, ROOT, lab_host, pyinfra

TABLEAU = "tableau1.lab.test"
CLIENT = "client1.lab.test"
RSERVE = "rserve1.lab.test"
SERVICE = "tabpy.lab.test"


def tsm_state() -> dict:
    return json.loads(lab_host(TABLEAU).check_output("cat /var/lib/tableau-standin/tsm.json"))


def deploy():
    run = pyinfra("--json")
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_tableau1_holds_the_pool_as_the_seed_sets_it_and_a_rerun_applies_nothing(converged):
    deploy()  # earlier tests may have reset hosts (test_lab)
    config = tsm_state()["config"]
    assert {key: config.get(f"vizqlserver.extsvc.{key}") for key in (
        "host", "port", "connection_type", "ssl.enable", "username")} == {
        "host": SERVICE, "port": "9004", "connection_type": "tabpy", "ssl.enable": "true",
        "username": "tableau"}
    before = tsm_state()["counters"]
    rerun = deploy()
    assert rerun.changed() == {}, rerun.changed()
    assert tsm_state()["counters"] == before


def test_the_verification_table_has_tableau1s_test_connection_and_client1s_row(converged):
    table = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i", LAB_INVENTORY],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert table.returncode == 0, table.stdout + table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]
            if line.startswith((TABLEAU, CLIENT)) or line.split()[:2] == [
                RSERVE, f"qap+tls://{RSERVE}:6311"]}
    assert re.search(rf"https://{SERVICE}:9004\s+PASS\s+from {TABLEAU} \(its OS trust store\): "
                     r"TabPy [\d.]+: /evaluate = 42 over verified TLS with basic auth",
                     rows[TABLEAU]), rows
    assert re.search(rf"OS trust store\s+PASS\s+from {CLIENT}, through its OS trust store: TLS "
                     rf"verified and TabPy answering at tabpy1.lab.test:9004, tabpy2.lab.test:"
                     rf"9004, {SERVICE}:9004; Rserve answering at {RSERVE}:6311",
                     rows[CLIENT]), rows
    assert re.search(rf"qap\+tls://{RSERVE}:6311\s+PASS\s+{RSERVE}:6311 QAP over TLS as tableau: "
                     r"1\+1 = 2 \(TLSv1.3, chain verified\); refused a wrong password, \*0 and "
                     "plain QAP", rows[RSERVE]), rows

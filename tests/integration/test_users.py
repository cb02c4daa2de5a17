"""TabPy users managed from inventory on the lab: add, change, remove, rotate; TabPy restarts
exactly once per change; no password, hash or key in output, journal or process lists."""

from __future__ import annotations

import pytest

from tabpy_provision.server import verify
from tests.integration.conftest import (
    LAB_INVENTORY,
    TABPY_HOSTS,
    ProcessSampler,
    StartCounter,
    find_password,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab


def status(fqdn: str, user: str, password: str) -> int:
    plan = lab_plans()[fqdn]
    return verify.request("POST", "/evaluate", fqdn=fqdn, address=plan.connect_address,
                          port=9004, ca_pem=plan.tls.ca_pem, credentials=(user, password),
                          body=verify.EVALUATE_BODY).status


def test_add_change_remove_a_user(converged, tmp_path, monkeypatch):
    users = dict(lab_plans()[TABPY_HOSTS[0]]["tabpy_users"])
    with_reporter = lab_inventory_with(
        tmp_path, tabpy_users={**users, "Reporter": "env:TABPY_IT_REPORTER"})

    counter = StartCounter()
    run = pyinfra(inventory=with_reporter, env={"TABPY_IT_REPORTER": "first-Pass-1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "TabPy users added: reporter" in run.output
    assert counter.starts() == {fqdn: 1 for fqdn in TABPY_HOSTS}
    for fqdn in TABPY_HOSTS:
        assert status(fqdn, "reporter", "first-Pass-1") == 200

    counter = StartCounter()
    run = pyinfra(inventory=with_reporter, env={"TABPY_IT_REPORTER": "second-Pass-2"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert counter.starts() == {fqdn: 1 for fqdn in TABPY_HOSTS}
    for fqdn in TABPY_HOSTS:
        assert status(fqdn, "reporter", "first-Pass-1") == 401
        assert status(fqdn, "Reporter", "second-Pass-2") == 200

    counter = StartCounter()
    run = pyinfra()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "TabPy users removed: reporter" in run.output
    assert counter.starts() == {fqdn: 1 for fqdn in TABPY_HOSTS}
    for fqdn in TABPY_HOSTS:
        assert status(fqdn, "reporter", "second-Pass-2") == 401

    counter = StartCounter()
    run = pyinfra("--json")
    assert run.returncode == 0 and run.changed() == {}, run.changed()
    assert counter.starts() == {fqdn: 0 for fqdn in TABPY_HOSTS}


def test_rotate_entry_point_changes_the_password_everywhere_without_leaking(converged):
    old = find_password(LAB_INVENTORY, "analyst")
    tableau = find_password(LAB_INVENTORY, "tableau")
    plans_before = lab_plans()
    counter = StartCounter()
    with ProcessSampler() as sampler:
        run = pyinfra("-vv", "--diff", "--data", "rotate_users=analyst", entry="deploy/rotate.py")
    assert sampler.saw_canary(), "the process sampler missed its 0.3 s canary"
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rotated: analyst" in run.output
    new = find_password(LAB_INVENTORY, "analyst")
    assert new != old
    assert counter.starts() == {fqdn: 1 for fqdn in TABPY_HOSTS}
    for fqdn in TABPY_HOSTS:
        assert status(fqdn, "analyst", old) == 401
        assert status(fqdn, "analyst", new) == 200
        assert status(fqdn, "tableau", tableau) == 200  # other users untouched

    plans_after = lab_plans()
    secrets = {old, new, tableau}
    for plan in (*plans_before.values(), *plans_after.values()):
        secrets |= {line.split(" ")[1] for line in plan.password_file.decode().splitlines()
                    if not line.startswith("#")}
        secrets |= {line for line in plan.tls.key_pem.decode().splitlines()
                    if line and not line.startswith("-----")}
    journal = "".join(lab_host(fqdn).check_output("journalctl --no-pager")
                      for fqdn in TABPY_HOSTS)
    processes = "".join(sampler.samples)
    assert len(sampler.samples) >= 4
    for index, secret in enumerate(sorted(secrets)):
        assert secret not in run.output, f"secret #{index} in pyinfra output"
        assert secret not in journal, f"secret #{index} in the journal"
        assert secret not in processes, f"secret #{index} in a process list"

"""Backup, restore and failover on the lab, with a model deployed by TabPy's own client."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from lab import paths
from tabpy_provision import backup_archive, verify
from tabpy_provision.plan import project_path
from tests.integration.conftest import (
    LAB_INVENTORY,
    TABPY_HOSTS,
    lab,
    lab_host,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab
SOURCE = TABPY_HOSTS[0]  # tabpy1, Debian 12
DR_INVENTORY = "inventory/lab_dr.py"
DR_HOST = "tabpydr.lab.test"
MODEL = "add_forty"


def plan_of(fqdn: str, inventory: str = LAB_INVENTORY):
    return lab_plans(inventory)[fqdn]


def deploy_model(fqdn: str, tmp_path) -> None:
    """Deploy a model with TabPy's own client, over HTTPS with credentials, run on the TabPy
    host (the client writes the model into the server's upload folder). The script carrying the
    credentials is copied 0600: no secret on a command line."""
    plan = plan_of(fqdn)
    script = tmp_path / "deploy_model.py"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (
        "from tabpy.tabpy_tools.client import Client\n"
        f"client = Client('https://{fqdn}:9004/')\n"
        f"client.set_credentials({plan.health_user!r}, {plan.health_password!r})\n"
        f"client.deploy({MODEL!r}, lambda values: [v + 40 for v in values],\n"
        "              'adds forty', override=True)\n").encode())
    os.close(fd)
    subprocess.run(["scp", "-q", "-p", "-F", str(paths.ssh_config_path()), str(script),
                    f"{fqdn}:/root/deploy_model.py"], check=True, timeout=30)
    result = lab_host(fqdn).run("REQUESTS_CA_BUNDLE=/etc/tabpy/ca.crt "
                                "/etc/tabpy/current/venv/bin/python /root/deploy_model.py; "
                                "rc=$?; rm -f /root/deploy_model.py; exit $rc")
    assert result.rc == 0, result.stderr[-2000:]


def query_model(fqdn: str, inventory: str = LAB_INVENTORY):
    plan = plan_of(fqdn, inventory)
    return verify.request("POST", f"/query/{MODEL}", fqdn=fqdn, address=plan.connect_address,
                          port=9004, ca_pem=plan.tls.ca_pem,
                          credentials=(plan.health_user, plan.health_password),
                          body={"data": {"values": [2]}})


@pytest.fixture(scope="module")
def backed_up(converged, tmp_path_factory):
    deploy_model(SOURCE, tmp_path_factory.mktemp("model"))
    answer = query_model(SOURCE)
    assert answer.status == 200 and answer.json()["response"] == [42], answer.body
    run = pyinfra("--limit", SOURCE, entry="deploy/backup.py")
    assert run.returncode == 0, run.stderr[-3000:]
    # the lab's declared functions are in the state too, named apart: a deploy republishes them
    assert f"models deployed by others: {MODEL}; published from the inventory: " in run.output
    plan = plan_of(SOURCE)
    return backup_archive.archives(project_path(plan["backup_dir"]), "lab", SOURCE)[-1]


def test_backup_is_private_encrypted_and_complete(backed_up, tmp_path):
    assert backed_up.stat().st_mode & 0o077 == 0
    data = backed_up.read_bytes()
    plan = plan_of(SOURCE)
    for secret in (plan.health_password, *plan.tls.key_pem.decode().splitlines()[1:-1],
                   *[line.split(" ")[1] for line in plan.password_file.decode().splitlines()
                     if not line.startswith("#")]):
        assert secret.encode() not in data
    from tabpy_provision.deploys.backup_restore import backup_passphrase
    snapshot = backup_archive.open_archive(backed_up, backup_passphrase(SOURCE, plan.values),
                                           tmp_path)
    assert set(snapshot.models) - set(snapshot.published) == {MODEL}
    assert set(snapshot.published) == {f.name for f in plan.functions}
    assert snapshot.manifest["tabpy_version"] == "2.16.0"
    assert snapshot.manifest["python_version"].startswith("3.11.")
    assert snapshot.read("/etc/tabpy/current/passwords") == plan.password_file


@pytest.mark.parametrize("damage", ["tampered", "truncated", "wrong key", "manifest"])
def test_bad_archives_are_refused_before_the_target_is_touched(backed_up, tmp_path, damage):
    from tabpy_provision.deploys.backup_restore import backup_passphrase
    plan = plan_of(SOURCE)
    data = bytearray(backed_up.read_bytes())
    env = {}
    if damage == "tampered":
        data[len(data) // 2] ^= 0x20
    elif damage == "truncated":
        data = data[: len(data) - 64]
    elif damage == "wrong key":
        env = {"TABPY_IT_WRONG_KEY": "not-the-right-key"}
    else:  # a valid archive whose manifest lies about a file
        passphrase = backup_passphrase(SOURCE, plan.values)
        (tmp_path / "work").mkdir(mode=0o700)
        snapshot = backup_archive.open_archive(backed_up, passphrase, tmp_path / "work")
        manifest = dict(snapshot.manifest)
        manifest["files"] = [dict(manifest["files"][0], sha256="0" * 64),
                             *manifest["files"][1:]]
        with (tmp_path / "lying").open("wb") as out:
            backup_archive.pack(snapshot.tar, manifest, passphrase, out, host="x")
        data = bytearray((tmp_path / "lying").read_bytes())
    bad = tmp_path / "bad.tabpy-backup"
    bad.write_bytes(bytes(data))
    target = lab_host(SOURCE)
    before = target.check_output("readlink /etc/tabpy/current; sha256sum "
                                 "/var/lib/tabpy/state/state.ini")
    args = ["--limit", SOURCE, "--data", f"restore_archive={bad}"]
    if env:
        args += ["--data", "backup_key=env:TABPY_IT_WRONG_KEY"]
    run = pyinfra(*args, entry="deploy/restore.py", env=env)
    assert run.returncode != 0
    expected = {"tampered": "authentication failed", "truncated": "authentication failed",
                "wrong key": "authentication failed",
                "manifest": "content does not match the manifest"}[damage]
    assert f"{SOURCE}: restore archive {bad}: " in run.output and expected in run.output
    assert "Beginning operation run" not in run.output
    assert target.check_output("readlink /etc/tabpy/current; sha256sum "
                               "/var/lib/tabpy/state/state.ini") == before


def test_restore_onto_the_same_host_brings_the_model_back(backed_up):
    target = lab_host(SOURCE)
    # The host lost its models (and TabPy's record of them).
    target.run("systemctl stop tabpy; rm -rf /var/lib/tabpy/state/*; systemctl start tabpy")
    plan = plan_of(SOURCE)
    assert verify.wait_for_tabpy(60, check=verify.check_serving, fqdn=SOURCE,
                                 address=plan.connect_address, port=9004,
                                 ca_pem=plan.tls.ca_pem).ok
    assert query_model(SOURCE).status == 404
    run = pyinfra("--limit", SOURCE, "--data", f"restore_archive={backed_up}",
                  entry="deploy/restore.py")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"every model answering: models deployed by others: {MODEL};" in run.output
    answer = query_model(SOURCE)
    assert answer.status == 200 and answer.json()["response"] == [42]


def test_failover_to_the_dr_site_after_losing_the_host(backed_up):
    lab("down", SOURCE.split(".")[0])
    try:
        started = time.monotonic()
        run = pyinfra("--data", f"restore_from={SOURCE}", inventory=DR_INVENTORY,
                      entry="deploy/failover.py")
        elapsed = time.monotonic() - started
        assert run.returncode == 0, run.stderr[-3000:]
        rto = float(re.search(r"RTO: ([0-9.]+) s", run.output).group(1))
        print(f"\nFIGURE failover RTO (lab, wheelhouse cached): {rto:.1f} s "
              f"(whole command {elapsed:.1f} s)")
        assert rto <= elapsed
        answer = query_model(DR_HOST, DR_INVENTORY)  # the same credentials as before
        assert answer.status == 200 and answer.json()["response"] == [42], answer.body
    finally:
        lab("up", SOURCE.split(".")[0])
        assert pyinfra().returncode == 0  # a fresh tabpy1, deployed again

"""Backup, restore and failover on the lab, with a model deployed by TabPy's own client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from lab import paths
from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.server import verify
from tabpy_provision.server.plan import project_path
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


#: What any script sent to /evaluate may leave in TabPy's state (issue 27): a symbolic link,
#: a hard link, a 2 GiB sparse file, a FIFO and an empty folder, in state/lab27.
SPECIAL = "/var/lib/tabpy/state/lab27"
MAKE_SPECIAL = """
import os
d = _arg1[0]
os.makedirs(d + '/empty')
with open(d + '/data', 'wb') as f:
    f.write(b'hard-linked bytes')
os.link(d + '/data', d + '/hard')
os.symlink('../state.ini', d + '/link')
with open(d + '/sparse', 'wb') as f:
    f.truncate(2 << 30)
    f.seek(1 << 30)
    f.write(b'the middle')
os.mkfifo(d + '/fifo')
return [1]
"""
#: (type, link count, apparent size, allocated KiB at most, link target) of each.
SPECIAL_STAT = "stat -c '%n %F %h %s %b %B' {d}/* | sort; readlink {d}/link"


def evaluate(script: str, *args):
    plan = plan_of(SOURCE)
    response = verify.request(
        "POST", "/evaluate", credentials=(plan.health_user, plan.health_password),
        body={"script": script, "data": {"_arg1": list(args)}}, timeout=60,
        **plan.endpoint_args)
    assert response.status == 200, response.body
    return json.loads(response.body)


def backup_measured(*args: str):
    """deploy/backup.py on tabpy1, and the controller's peak memory (max RSS, KiB) over it."""
    run = pyinfra("--limit", SOURCE, *args, entry="deploy/backup.py",
                  wrapper=[sys.executable, "-c", MEASURE])
    peak = int(re.search(r"PEAK-RSS-KIB (\d+)", run.output).group(1))
    return run, peak


MEASURE = ("import resource, subprocess, sys\n"
           "code = subprocess.run(sys.argv[1:]).returncode\n"
           "print('PEAK-RSS-KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
           "sys.exit(code)\n")


@pytest.fixture(scope="module")
def backed_up(converged, tmp_path_factory):
    deploy_model(SOURCE, tmp_path_factory.mktemp("model"))
    answer = query_model(SOURCE)
    assert answer.status == 200 and answer.json()["response"] == [42], answer.body
    lab_host(SOURCE).run(f"rm -rf {SPECIAL}")
    assert evaluate(MAKE_SPECIAL, SPECIAL) == [1]
    run, peak = backup_measured()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "proven restorable" in run.output
    plan = plan_of(SOURCE)
    archive = backup_archive.archives(project_path(plan["backup_dir"]), "lab", SOURCE)[-1]
    print(f"\nFIGURE backup of a state with a 2 GiB sparse file: archive "
          f"{archive.stat().st_size} bytes, controller peak RSS {peak // 1024} MiB")
    assert archive.stat().st_size < 8 << 20 and peak < 400 << 10
    assert lab_host(SOURCE).run("test -e /var/cache/tabpy-provision/backup").rc != 0
    # the lab's declared functions are in the state too, named apart: a deploy republishes them
    assert f"models deployed by others: {MODEL}; published from the inventory: " in run.output
    plan = plan_of(SOURCE)
    return archive


def test_backup_is_private_encrypted_and_complete(backed_up, tmp_path):
    assert backed_up.stat().st_mode & 0o077 == 0
    data = backed_up.read_bytes()
    plan = plan_of(SOURCE)
    for secret in (plan.health_password, *plan.tls.key_pem.decode().splitlines()[1:-1],
                   *[line.split(" ")[1] for line in plan.password_file.decode().splitlines()
                     if not line.startswith("#")]):
        assert secret.encode() not in data
    from tabpy_provision.backup.deploy import backup_passphrase
    snapshot = backup_archive.open_archive(backed_up, backup_passphrase(SOURCE, plan.values),
                                           tmp_path)
    assert set(snapshot.models) - set(snapshot.published) == {MODEL}
    assert set(snapshot.published) == {f.name for f in plan.functions}
    assert snapshot.manifest["tabpy_version"] == "2.16.0"
    assert snapshot.manifest["python_version"].startswith("3.11.")
    assert snapshot.read("/etc/tabpy/current/passwords") == plan.password_file


@pytest.mark.parametrize("damage", ["tampered", "truncated", "wrong key", "manifest"])
def test_bad_archives_are_refused_before_the_target_is_touched(backed_up, tmp_path, damage):
    from tabpy_provision.backup.deploy import backup_passphrase
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
    special = target.check_output(SPECIAL_STAT.format(d=SPECIAL))
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
    # the link, the hard link (2 names, one file), the sparse file (2 GiB, a few blocks), the
    # FIFO and the empty folder come back as what they were
    assert target.check_output(SPECIAL_STAT.format(d=SPECIAL)) == special
    lines = special.splitlines()
    assert any(" fifo " in line for line in lines) and lines[-1] == "../state.ini", special
    sparse = next(line.split() for line in lines if line.startswith(f"{SPECIAL}/sparse "))
    assert int(sparse[-3]) == 2 << 30 and int(sparse[-2]) * int(sparse[-1]) < 1 << 20, sparse
    assert target.check_output(f"stat -c %i {SPECIAL}/data {SPECIAL}/hard | uniq | wc -l") \
        == "1"


def test_a_link_out_of_the_state_or_an_oversized_state_is_refused_by_name(backed_up):
    """Neither is ever accepted and then unrestorable: the backup stops with one line and the
    archives stay as they were."""
    plan = plan_of(SOURCE)
    before = backup_archive.archives(project_path(plan["backup_dir"]), "lab", SOURCE)
    evaluate("import os\nos.symlink('/etc/passwd', _arg1[0])\nreturn [1]", f"{SPECIAL}/out")
    try:
        run, _ = backup_measured()
        assert run.returncode != 0
        assert f"{SPECIAL}/out: symbolic link to '/etc/passwd'" in run.output, run.output[-3000:]
    finally:
        lab_host(SOURCE).run(f"rm -f {SPECIAL}/out")
    evaluate("import os\nopen(_arg1[0], 'wb').write(os.urandom(2 << 20))\nreturn [1]",
             f"{SPECIAL}/big")
    try:
        run, _ = backup_measured("--data", "backup_max_bytes=1048576")
    finally:
        lab_host(SOURCE).run(f"rm -f {SPECIAL}/big")
    assert run.returncode != 0, run.output[-3000:]
    assert re.search(r"backup_max_bytes: the snapshot would be [0-9.]+ MiB, over the limit of "
                     r"1\.0 MiB; nothing was written", run.output), run.output[-3000:]
    assert backup_archive.archives(project_path(plan["backup_dir"]), "lab", SOURCE) == before
    assert lab_host(SOURCE).run("test -e /var/cache/tabpy-provision/backup").rc != 0


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

"""A lost controller (a fresh clone) against the deployed lab: the preview and the reports
write nothing and the run is refused naming the missing CA; the state restored from its
encrypted backup makes the next deploy change nothing. A misspelled setting is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tabpy_provision.run.preflight import CONTROLLER_STEP
from tests.integration.conftest import ROOT, lab_inventory_with, pyinfra

STATE = ("pki/lab", "secrets/lab", "trust-artifacts/lab")
KEY = {"TABPY_LAB_STATE_KEY": "lab state key: long enough and only for tests"}
SERVED = ("tabpy1.lab.test", "tabpy2.lab.test", "tabpylb1.lab.test", "tabpylb2.lab.test")


def project_files() -> dict[str, tuple[int, int]]:
    """Every file under the project's controller-state folders: (size, mtime_ns)."""
    found = {}
    for top in ("pki", "secrets", "trust-artifacts", "backups"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file():
                stat = path.stat()
                found[str(path.relative_to(ROOT))] = (stat.st_size, stat.st_mtime_ns)
    return found


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **KEY})


def test_reports_write_nothing(converged):
    before = project_files()
    assert command("tabpy_provision", "check", "-i", "inventory/lab.py").returncode == 0
    command("tabpy_provision", "certs", "-i", "inventory/lab.py")
    assert project_files() == before


def test_a_lost_controller_is_refused_then_restored_with_no_change(converged, tmp_path):
    archive = tmp_path / "lab.tabpy-controller"
    made = command("tabpy_provision", "state", "backup", "-i", "inventory/lab.py",
                   "--out", str(archive))
    assert made.returncode == 0, made.stderr
    assert archive.stat().st_mode & 0o077 == 0
    root_key = (ROOT / "pki/lab/ca/root.key").read_bytes()
    assert root_key not in archive.read_bytes()

    aside = tmp_path / "aside"
    for relative in STATE:
        shutil.move(ROOT / relative, aside / relative)
    try:
        before = project_files()
        preview = pyinfra("--dry", env=KEY)
        assert preview.returncode != 0
        for host in SERVED:
            assert (f"tabpy-provision: {host}: pki_dir: the host serves a certificate issued by "
                    "'tabpy-provision lab Intermediate CA', but pki/lab holds no CA") \
                in preview.output
        assert "tabpy_users.tableau (generate): the host already has this user" in preview.output
        assert "nothing was changed" in preview.output
        command("tabpy_provision", "check", "-i", "inventory/lab.py")
        command("tabpy_provision", "certs", "-i", "inventory/lab.py")
        assert project_files() == before  # nothing created: no pki/, secrets/, trust artifacts

        put_back = command("tabpy_provision", "state", "restore", "-i", "inventory/lab.py",
                           str(archive))
        assert put_back.returncode == 0, put_back.stderr
        assert (ROOT / "pki/lab/ca/root.key").read_bytes() == root_key
        again = command("tabpy_provision", "state", "restore", "-i", "inventory/lab.py",
                        str(archive))
        assert again.returncode == 0 and "restored 0 files" in again.stdout

        deployed = pyinfra("--json", env=KEY)
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        # No host changes; the controller only writes again the trust artifacts (derived from
        # the CA, so not part of its state).
        changed = deployed.changed()
        assert [name for name in changed if not name.endswith(CONTROLLER_STEP)] == []
        done = [line.split("controller: ", 1)[1] for line in deployed.output.splitlines()
                if "controller: " in line]
        assert done and all(what.startswith("wrote the trust artifact") for what in done), done
    finally:
        for relative in STATE:
            shutil.rmtree(ROOT / relative, ignore_errors=True)
            shutil.move(aside / relative, ROOT / relative)


def test_restore_refuses_a_controller_holding_another_state(converged, tmp_path):
    archive = tmp_path / "lab.tabpy-controller"
    assert command("tabpy_provision", "state", "backup", "-i", "inventory/lab.py",
                   "--out", str(archive)).returncode == 0
    secret = next((ROOT / "secrets/lab/tabpy_users").iterdir())
    original = secret.read_bytes()
    try:
        secret.write_bytes(b"another password\n")
        refused = command("tabpy_provision", "state", "restore", "-i", "inventory/lab.py",
                          str(archive))
        assert refused.returncode == 1 and "--replace overwrites it" in refused.stderr
        assert secret.read_bytes() == b"another password\n"
        wrong = subprocess.run(
            [sys.executable, "-m", "tabpy_provision", "state", "restore", "-i", "inventory/lab.py",
             str(archive)], cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "TABPY_LAB_STATE_KEY": "a wrong key, long enough"})
        assert wrong.returncode == 1 and "authentication failed" in wrong.stderr
    finally:
        secret.write_bytes(original)


def test_a_misspelled_setting_is_refused_with_a_suggestion(converged, tmp_path):
    inventory = lab_inventory_with(tmp_path, tabpy_prot=9005)
    before = project_files()
    run = pyinfra("--dry", inventory=inventory, env=KEY)
    assert run.returncode != 0
    assert ("tabpy-provision: tabpy1.lab.test: tabpy_prot: unknown setting (did you mean "
            "tabpy_port?)") in run.output
    assert project_files() == before

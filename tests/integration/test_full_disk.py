"""A full disk (issue 27): a deploy and an upgrade onto a host whose TabPy folders are on a
small file system fail with one line naming host, folder and room needed, write nothing, and
leave the old release serving; once room is made the same run converges.

The DR host, tabpydr, gets a 1.6 GiB tmpfs at /srv/small for TabPy's install and config
folders (made and removed by this test; the host is reset at the end for the tests after)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT, lab, lab_host, pyinfra

HOST = "tabpydr.lab.test"
SMALL = "/srv/small"
FILLER = f"{SMALL}/filler"


def inventory(folder, **data) -> str:
    path = folder / "full_disk_inventory.py"
    path.write_text(
        "import runpy\n"
        f"dr = runpy.run_path({str(ROOT / 'inventory/lab_dr.py')!r})\n"
        "hosts, data = dr['tabpy_servers']\n"
        f"tabpy_servers = (hosts, {{**data, 'tabpy_install_dir': '{SMALL}/opt', "
        f"'tabpy_config_dir': '{SMALL}/etc', **{data!r}}})\n")
    return str(path)


def deploy(folder, **data):
    return pyinfra("--json", inventory=inventory(folder, **data), entry="deploy/tabpy.py")


def serving() -> tuple[str, str]:
    """The active release and when TabPy's process started."""
    host = lab_host(HOST)
    return (host.check_output("readlink /srv/small/etc/current"),
            host.check_output("systemctl show -p ActiveEnterTimestampMonotonic --value "
                              "tabpy.service"))


def written() -> str:
    """Every file under the small file system but the filler (names, sizes)."""
    return lab_host(HOST).check_output(
        f"find {SMALL} /var/cache/tabpy-provision -path {FILLER} -prune -o -printf '%p %s\\n' "
        "| sort")


@pytest.fixture(scope="module")
def small_disk(converged, tmp_path_factory):
    host = lab_host(HOST)
    host.check_output(f"mkdir -p {SMALL} && mount -t tmpfs -o size=1600m,mode=0755 tmpfs "
                      f"{SMALL}")
    folder = tmp_path_factory.mktemp("full_disk")
    try:
        first = deploy(folder)
        assert first.returncode == 0, first.stderr[-3000:]
        yield folder
    finally:
        host.run("systemctl stop tabpy.service")
        host.run(f"umount {SMALL}")
        lab("reset", "tabpydr")


def fill(leave_mib: int) -> None:
    """A filler file taking all but `leave_mib` MiB of the small file system."""
    host = lab_host(HOST)
    host.check_output(f"rm -f {FILLER}")
    free = int(host.check_output(f"df -B1 --output=avail {SMALL} | tail -n 1"))
    host.check_output(f"fallocate -l {free - leave_mib * 2**20} {FILLER}")


def refusal_line(run) -> str:
    lines = [line for line in run.output.splitlines()
             if "has " in line and " free; this deploy needs " in line]
    assert lines, run.output[-3000:]
    return lines[0]


@pytest.mark.parametrize(("change", "data", "setting"), [
    ("a new release (another setting)", {"tabpy_max_request_size_mb": 99}, "tabpy_config_dir"),
    ("an upgrade (another TabPy version)", {"tabpy_version": "2.15.1"}, "tabpy_install_dir"),
])
def test_a_change_onto_a_full_disk_writes_nothing_and_the_old_release_serves(
        small_disk, change, data, setting):
    fill(leave_mib=8)
    before, files = serving(), written()
    refused = deploy(small_disk, **data)
    assert refused.returncode != 0
    line = refusal_line(refused)
    print(f"{change}: {line}")
    assert re.search(rf"{re.escape(HOST)}: .*{setting}.*: {SMALL} has [0-9.]+ MiB free; "
                     r"this deploy needs [0-9.]+ [MG]iB there", line), line
    assert serving() == before and written() == files


def test_once_room_is_made_the_upgrade_converges(small_disk):
    lab_host(HOST).check_output(f"rm -f {FILLER}")
    upgraded = deploy(small_disk, tabpy_version="2.15.1")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    again = deploy(small_disk, tabpy_version="2.15.1")
    assert again.returncode == 0 and again.changed() == {}, again.changed()


@pytest.fixture
def controller_small_disk(tmp_path):
    """An 8 MiB tmpfs on the controller (root: the CI machine's user)."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(small)],
                   check=True)
    try:
        yield small
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_wheelhouse_build_onto_a_full_controller_disk_writes_nothing(controller_small_disk):
    done = subprocess.run(
        [sys.executable, "-m", "tabpy_provision", "wheelhouse", "build", "--abi", "cp313",
         "--tabpy-version", "2.15.1"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TABPY_PROVISION_CACHE": str(controller_small_disk)}, check=False)
    print(done.stderr.strip().splitlines()[-1])
    assert done.returncode != 0
    assert re.search(rf"{re.escape(str(controller_small_disk))}/wheelhouse has 8.0 MiB free; "
                     r"building a wheelhouse \(the wheels downloaded, then packed\) needs "
                     r"512.0 MiB there: make room", done.stderr), done.stderr
    assert os.listdir(controller_small_disk) == []


TABPY1 = "tabpy1.lab.test"


def test_a_backup_onto_a_full_host_disk_writes_nothing(converged):
    """The host's snapshot folder on a 64 KiB file system: refused before writing."""
    host = lab_host(TABPY1)
    host.check_output("mount -t tmpfs -o size=64k,mode=0700 tmpfs /var/cache/tabpy-provision")
    try:
        run = pyinfra("--limit", TABPY1, entry="deploy/backup.py")
        left = host.check_output("ls -A /var/cache/tabpy-provision")
    finally:
        host.check_output("umount /var/cache/tabpy-provision")
    line = next((line for line in run.output.splitlines() if "its file system has" in line), "")
    print(line)
    assert run.returncode != 0
    assert re.search(r"/var/cache/tabpy-provision/backup: the snapshot needs [0-9.]+ [KM]iB "
                     r"and its file system has [0-9.]+ KiB free; nothing was written", line), \
        run.output[-3000:]
    assert left == ""


def test_a_backup_onto_a_full_controller_disk_writes_nothing(converged, controller_small_disk):
    run = pyinfra("--limit", TABPY1, "--data", f"backup_dir={controller_small_disk}",
                  entry="deploy/backup.py")
    line = next((line for line in run.output.splitlines() if "backup_dir: " in line), "")
    print(line)
    assert run.returncode != 0
    assert re.search(rf"backup_dir: {re.escape(str(controller_small_disk))} has 8.0 MiB free; "
                     r"this backup \(the snapshot, its archive and the archive's proof\) "
                     r"needs [0-9.]+ MiB there", line), run.output[-3000:]
    assert os.listdir(controller_small_disk) == []


def test_a_controller_state_backup_onto_a_full_disk_writes_nothing(controller_small_disk):
    filler = controller_small_disk / "filler"
    subprocess.run(["fallocate", "-l", str(8 * 2**20 - 16 * 2**10), str(filler)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "tabpy_provision", "state", "backup", "-i", "inventory/lab.py",
         "--out", str(controller_small_disk / "lab.tabpy-controller")], cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TABPY_LAB_STATE_KEY": "lab state key: long enough and only for tests"})
    print(done.stderr.strip())
    assert done.returncode != 0
    assert re.search(rf"{re.escape(str(controller_small_disk))} has [0-9.]+ KiB free; the "
                     r"controller's state archive needs [0-9.]+ MiB there", done.stderr), \
        done.stderr
    assert os.listdir(controller_small_disk) == ["filler"]

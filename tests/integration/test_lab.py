"""The lab itself: real systemd-booted hosts, strict SSH, names, isolation, crash recovery.

Leaves the lab up (other integration tests use it) and never wipes tabpy1/tabpy2/tableau1;
only client1 is powered off (killed, stopped: brought back with its state) and, last, reset.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest

from lab import paths
from lab.hosts import LAB_HOSTS, get_host

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON_BY_SUITE = {"bookworm": "3.11", "trixie": "3.13"}
NAMES = [h.name for h in LAB_HOSTS]


def lab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def lab_ok(*args: str) -> str:
    proc = lab(*args)
    assert proc.returncode == 0, f"lab {' '.join(args)} failed: {proc.stderr or proc.stdout}"
    return proc.stdout


def ssh(host: str, command: str, *options: str, timeout: float = 60):
    return subprocess.run(
        ["ssh", "-F", str(paths.ssh_config_path()), "-o", "BatchMode=yes", *options, host,
         command],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ssh_ok(host: str, command: str, *options: str) -> str:
    proc = ssh(host, command, *options)
    assert proc.returncode == 0, f"{host}: {command!r} failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def nspawn_pid(name: str) -> int:
    return int((paths.host_dir(name) / "nspawn.pid").read_text())


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    lab_ok("up")
    yield
    # other test files use the lab after this one
    lab_ok("up")


def test_status_lists_every_host_up_and_answering():
    out = lab_ok("status")
    for h in LAB_HOSTS:
        row = next(line for line in out.splitlines() if line.split()[:1] == [h.name])
        cols = row.split()
        assert cols[1:5] == [h.fqdn, h.suite, h.address, "up"], row
        assert cols[6] == "ok", row


@pytest.mark.parametrize("name", NAMES)
def test_ssh_is_strictly_verified(name):
    h = get_host(name)
    cfg = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), "-G", h.fqdn],
                         capture_output=True, text=True, check=True).stdout
    assert "stricthostkeychecking true" in cfg
    assert f"userknownhostsfile {paths.known_hosts_path()}" in cfg
    entries = [line for line in paths.known_hosts_path().read_text().splitlines()
               if line.split()[0] == f"{h.fqdn},{h.name},{h.address}"]
    assert {e.split()[1] for e in entries} >= {"ssh-ed25519", "ssh-rsa"}, entries
    fresh = ("-o", "ControlPath=none", "-o", "ConnectTimeout=5")  # a real handshake
    assert ssh_ok(h.fqdn, "hostname", *fresh).strip() == h.name
    assert ssh_ok(h.name, "hostname", *fresh).strip() == h.name  # short name too
    unknown = ssh(h.fqdn, "true", *fresh, "-o", "UserKnownHostsFile=/dev/null",
                  "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")
    assert unknown.returncode == 255
    assert "Host key verification failed" in unknown.stderr


@pytest.mark.parametrize("name", NAMES)
def test_host_is_a_booted_isolated_debian(name):
    h = get_host(name)
    out = ssh_ok(h.fqdn, "; ".join([
        "hostname", "hostname -f", "stat -c %s /etc/resolv.conf",
        "ip -4 route show default | wc -l", "ip -6 route show default | wc -l",
        "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'",
        "timeout 20 systemctl is-system-running --wait || true",
    ]))
    hostname, fqdn, resolv_size, v4_default, v6_default, python, state = out.split("\n")[:7]
    assert hostname == h.name
    assert fqdn == h.fqdn
    assert resolv_size == "0", "/etc/resolv.conf must be empty (no DNS out of the lab)"
    assert (v4_default, v6_default) == ("0", "0"), ssh_ok(h.fqdn, "ip route; ip -6 route")
    assert python == PYTHON_BY_SUITE[h.suite]
    assert state in ("running", "degraded"), state
    if state == "degraded":
        failed = ssh_ok(h.fqdn, "systemctl --failed --no-legend --plain")
        warnings.warn(f"{h.name} is degraded; failed units: {failed.strip()}", stacklevel=1)


@pytest.mark.parametrize("name", NAMES)
def test_every_lab_name_resolves_and_answers_from_inside(name):
    h = get_host(name)
    script = "; ".join(
        f"echo {o.name} $(getent hosts {o.fqdn} | cut -d' ' -f1) "
        f"$(getent hosts {o.name} | cut -d' ' -f1) "
        f"$(timeout 3 bash -c '</dev/tcp/{o.fqdn}/22' && echo open || echo closed)"
        for o in LAB_HOSTS)
    rows = {line.split()[0]: line.split()[1:] for line in ssh_ok(h.fqdn, script).splitlines()}
    for o in LAB_HOSTS:
        assert rows[o.name] == [o.address, o.address, "open"], (h.name, o.name, rows[o.name])


def test_hosts_have_their_own_identity():
    keys, ids = {}, {}
    for h in LAB_HOSTS:
        keys[h.name] = ssh_ok(h.fqdn, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
        ids[h.name] = ssh_ok(h.fqdn, "cat /etc/machine-id").strip()
        known = paths.known_hosts_path().read_text()
        assert f"{h.fqdn},{h.name},{h.address} ssh-ed25519 {keys[h.name]}" in known
    assert len(set(keys.values())) == len(LAB_HOSTS), keys
    assert len(set(ids.values())) == len(LAB_HOSTS), ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids.values()), ids


def test_each_host_keeps_its_units_in_a_cgroup_of_its_own():
    """Hosts sharing one cgroup tree shared each unit's group: one host removing
    tabpy.service's group while another started it failed that start at random (lab/cgroups.py)."""
    groups = {}
    for h in LAB_HOSTS:
        pid = nspawn_pid(h.name)
        init = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]
        lines = Path(f"/proc/{init}/cgroup").read_text().splitlines()
        groups[h.name] = [line.split(":", 2)[2] for line in lines
                          if line.split(":")[1] in ("name=systemd", "")]
        assert groups[h.name] and all(f"/tabpy-provision-lab.{h.name}/" in group
                                      for group in groups[h.name]), groups[h.name]
    assert len({tuple(g) for g in groups.values()}) == len(LAB_HOSTS), groups


def test_the_hosts_disks_are_a_file_system_of_their_own_without_discard():
    """lab/disk.py: on the controller's root file system (mounted with discard) files created
    after a removal took 5-12x longer; every host's root sits on the lab's own ext4."""
    found = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--target",
                            str(paths.hosts_dir())], capture_output=True, text=True, check=True)
    source, fstype, options = found.stdout.split()
    assert source.startswith("/dev/loop") and fstype == "ext4", found.stdout
    assert "discard" not in options.split(","), options
    for h in LAB_HOSTS:
        upper = paths.host_dir(h.name) / "upper"
        assert os.stat(upper).st_dev == os.stat(paths.hosts_dir()).st_dev, h.name


def test_up_again_is_a_fast_no_op():
    before = {h.name: nspawn_pid(h.name) for h in LAB_HOSTS}
    started = time.monotonic()
    out = lab_ok("up")
    elapsed = time.monotonic() - started
    assert "booted: none" in out, out
    assert {h.name: nspawn_pid(h.name) for h in LAB_HOSTS} == before
    assert elapsed < 3, f"no-op up took {elapsed:.1f} s"


def _write_marker(name: str) -> str:
    token = uuid.uuid4().hex
    ssh_ok(name, f"echo {token} > /root/lab-marker && sync")
    return token


def test_crash_recovery_keeps_the_host_state():
    token = _write_marker("client1")
    old_pid = nspawn_pid("client1")
    os.kill(old_pid, signal.SIGKILL)  # nspawn dies; its netns, veth, mount, ssh master stay
    out = lab_ok("up")
    assert "booted: client1" in out, out
    assert nspawn_pid("client1") != old_pid
    assert ssh_ok("client1", "cat /root/lab-marker").strip() == token
    for h in LAB_HOSTS:  # the others were left alone
        if h.name != "client1":
            assert f" {h.name}" in out.split("already up:")[1]


def test_stop_then_up_keeps_the_host_state():
    token = _write_marker("client1")
    lab_ok("stop", "client1")
    row = next(r for r in lab_ok("status").splitlines() if r.startswith("client1 "))
    assert row.split()[4] == "stopped", row
    assert not (paths.host_dir("client1") / "nspawn.pid").exists()
    out = lab_ok("up", "client1")
    assert "booted: client1" in out, out
    assert ssh_ok("client1", "cat /root/lab-marker").strip() == token
    ssh_ok("client1", "rm -f /root/lab-marker")


def test_reset_gives_a_fresh_host_that_is_still_strictly_verified():
    _write_marker("client1")
    old_key = ssh_ok("client1", "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
    out = lab_ok("reset", "client1")
    assert "booted: client1" in out, out
    fresh = ("-o", "ControlPath=none", "-o", "ConnectTimeout=5")
    new_key = ssh_ok("client1", "cat /etc/ssh/ssh_host_ed25519_key.pub", *fresh).split()[1]
    assert new_key != old_key
    assert f"client1.lab.test,client1,169.254.213.31 ssh-ed25519 {new_key}" in \
        paths.known_hosts_path().read_text()
    assert ssh_ok("client1", "test -e /root/lab-marker && echo kept || echo gone").strip() == "gone"
    # the others reach the new client1 at once (no stale ARP entry for a vanished MAC)
    for h in LAB_HOSTS:
        assert "open" in ssh_ok(h.fqdn, "timeout 3 bash -c '</dev/tcp/client1.lab.test/22' "
                                        "&& echo open")

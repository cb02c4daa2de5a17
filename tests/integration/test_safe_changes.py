"""Safe changes on the lab: a failed start rolls back, a killed deploy leaves a complete set,
an unreachable host does not stop the others, upgrades roll host by host."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tabpy_provision import passwords, verify
from tests.integration.conftest import (
    LAB_INVENTORY,
    PYINFRA,
    ROOT,
    TABPY_HOSTS,
    lab,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab
TARGET = TABPY_HOSTS[0]


@dataclass(eq=False)
class Poller(threading.Thread):
    """Tableau's request every 100 ms against some hosts; records each failure's time."""

    plans: list
    failures: list[tuple[float, str]] = field(default_factory=list)
    requests: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        super().__init__(daemon=True)

    def run(self):
        deadline = time.monotonic() + 600  # bounded whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            for plan in self.plans:
                self.requests += 1
                ok = verify.check_serving(fqdn=plan.fqdn, address=plan.connect_address,
                                          port=9004, ca_pem=plan.tls.ca_pem, timeout=2).ok
                if not ok:
                    self.failures.append((time.monotonic(), plan.fqdn))
            self.stop.wait(0.1)

    def longest_outage(self) -> float:
        """Longest run of consecutive failure times (gap < 1 s) per host, in seconds."""
        longest = 0.0
        for fqdn in {f for _, f in self.failures}:
            times = [t for t, f in self.failures if f == fqdn]
            start = previous = times[0]
            for moment in times[1:]:
                if moment - previous > 1:
                    start = moment
                previous = moment
                longest = max(longest, previous - start)
            longest = max(longest, 0.1)
        return longest

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(timeout=30)


def report(name: str, figure: str) -> None:
    """Figures for the issue note (pytest shows them with -s, and in the junit output)."""
    line = f"{name}: {figure}"
    print(f"\nFIGURE {line}")
    (ROOT / ".cache").mkdir(exist_ok=True)
    with open(ROOT / ".cache" / "figures.txt", "a") as handle:
        handle.write(line + "\n")


def broken_key_deploy(tmp_path: Path) -> Path:
    """A site deploy whose plan for TARGET carries a key that does not match its certificate:
    validation would refuse it, so the test replaces the planner to reach the host."""
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (tmp_path / "wrong.key").write_bytes(key)
    deploy = tmp_path / "broken_key_site.py"
    deploy.write_text(
        "import dataclasses\n"
        "from pyinfra import local\n"
        "from tabpy_provision import preflight\n"
        "real = preflight.plan_tabpy_server\n"
        f"wrong = open({str(tmp_path / 'wrong.key')!r}, 'rb').read()\n"
        "def planner(name, data, **kwargs):\n"
        "    plan = real(name, data, **kwargs)\n"
        f"    if name != {TARGET!r}:\n"
        "        return plan\n"
        "    return dataclasses.replace(plan, tls=dataclasses.replace(plan.tls, key_pem=wrong))\n"
        "preflight.plan_tabpy_server = planner\n"
        "local.include('deploy/site.py')\n")
    return deploy


def test_failed_start_rolls_back_to_the_previous_release(converged, tmp_path):
    host = lab_host(TARGET)
    before = host.file("/etc/tabpy/current").linked_to
    plans = lab_plans()
    with Poller([plans[TARGET]]) as poller:
        run = pyinfra("--limit", TARGET, entry=str(broken_key_deploy(tmp_path)))
        time.sleep(1)
    assert run.returncode != 0
    assert "KEY_VALUES_MISMATCH" in run.output, run.output[-3000:]
    assert "rolled back to release" in run.output and "TabPy serves" in run.output
    assert host.file("/etc/tabpy/current").linked_to == before
    plan = plans[TARGET]
    result = verify.check_tabpy(fqdn=plan.fqdn, address=plan.connect_address, port=9004,
                                ca_pem=plan.tls.ca_pem,
                                credentials=(plan.health_user, plan.health_password))
    assert result.ok, result.detail
    outage = poller.longest_outage()
    report("failed change (key mismatch) downtime",
           f"{outage:.1f} s, {len(poller.failures)} of {poller.requests} polls failed")
    assert outage < 30
    # The good inputs are what runs now: a normal rerun only prunes the failed release...
    rerun = pyinfra("--json", "--limit", TARGET)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert set(rerun.changed()) <= {"deploy/tabpy.py | TabPy server | Prune old releases"}
    # ...and then nothing is left to change.
    again = pyinfra("--json", "--limit", TARGET)
    assert again.returncode == 0 and again.changed() == {}, again.changed()


def changing_inventory(tmp_path: Path, version: str) -> str:
    """Config, users, certificate and TabPy version all change at once."""
    users = dict(lab_plans()[TARGET]["tabpy_users"])
    return lab_inventory_with(tmp_path, tabpy_version=version, tabpy_evaluate_timeout=31,
                              tabpy_users={**users, "killtest": "generate"},
                              tabpy_cert_dns_aliases=["tabpy-kill.lab.test"])


def check_complete_set(fqdn: str) -> None:
    """Whatever moment the deploy died at: a complete release serves."""
    host = lab_host(fqdn)
    current = host.file("/etc/tabpy/current")
    assert current.is_symlink and host.file(f"{current.linked_to}/.manifest").exists
    assert host.run(f"cd {current.linked_to} && sha256sum --status -c .sha256sums").rc == 0
    passwords.parse_password_file(host.file("/etc/tabpy/current/passwords").content_string)
    config = host.file("/etc/tabpy/current/tabpy.conf").content_string
    for line in config.splitlines():
        if line.startswith(("TABPY_CERTIFICATE_FILE", "TABPY_KEY_FILE", "TABPY_PWD_FILE")):
            assert host.file(line.split("=", 1)[1].strip()).exists, line
    plan = lab_plans()[fqdn]
    served = verify.wait_for_tabpy(30, check=verify.check_serving, fqdn=fqdn,
                                   address=plan.connect_address, port=9004,
                                   ca_pem=plan.tls.ca_pem)
    assert served.ok, served.detail


def run_and_kill(inventory: str, marker: str, extra_delay: float) -> bool:
    """Start a deploy, SIGKILL it `extra_delay` s after `marker` appears in its output.
    Returns False when the run ended before the marker (nothing to kill)."""
    process = subprocess.Popen([PYINFRA, "-y", "--limit", TARGET, inventory, "deploy/site.py"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    deadline = time.monotonic() + 300
    try:
        for line in process.stdout:
            if marker in line:
                time.sleep(extra_delay)
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    return False  # it finished first
                return process.wait(timeout=30) == -signal.SIGKILL
            if time.monotonic() > deadline:
                break
        return False
    finally:
        process.kill()
        process.wait(timeout=30)


KILL_POINTS = [
    ("Starting operation: deploy/tabpy.py | TabPy server | Folder /var/cache", 0.0),
    ("TabPy 2.15.1 virtualenv", 0.5),  # while uploading the wheelhouse
    ("TabPy 2.15.1 virtualenv", 3.0),  # while installing
    ("TabPy release (config, users, TLS, venv)", 0.0),
    ("TabPy release (config, users, TLS, venv)", 0.15),  # mid-staging
    ("release r-", 0.05),
    ("CA certificate (for checks on the host)", 0.0),
    ("systemd unit", 0.0),
    ("Activate the release", 0.0),
    ("Activate the release", 0.3),  # switched, restarting
    ("Activate the release", 1.5),  # restarted, being verified
    ("Prune old releases", 0.0),
]


def test_a_deploy_killed_at_any_point_leaves_a_complete_set(converged, tmp_path):
    changing = changing_inventory(tmp_path, "2.15.1")
    killed = 0
    for marker, delay in KILL_POINTS:
        assert pyinfra("--limit", TARGET).returncode == 0  # back to the old set
        if run_and_kill(changing, marker, delay):
            killed += 1
        check_complete_set(TARGET)
        rerun = pyinfra("--limit", TARGET, inventory=changing)
        assert rerun.returncode == 0, f"after a kill at {marker!r}+{delay}: {rerun.output[-3000:]}"
        check_complete_set(TARGET)
    assert killed >= 10
    assert pyinfra("--limit", TARGET).returncode == 0


def test_an_unreachable_host_does_not_stop_the_others(converged, tmp_path):
    changing = lab_inventory_with(tmp_path, tabpy_evaluate_timeout=33)
    lost = TABPY_HOSTS[1]
    process = subprocess.Popen([PYINFRA, "-y", changing, "deploy/site.py"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            # Lost while its release is changed: from there on the operations read missing
            # facts safely (pyinfra's own server.group/user crash on a fact lost mid-run).
            if "TabPy release (config, users, TLS, venv)" in line:
                lab("stop", lost.split(".")[0])
        process.wait(timeout=300)
    finally:
        process.kill()
    text = "".join(output)
    try:
        assert process.returncode != 0
        summary = text.split("Starting operation: Summary of failed hosts")[-1]
        assert f"{lost}: " in summary.split("--> Results")[0], text[-3000:]
        survivor = lab_plans(changing)[TARGET]
        assert lab_host(TARGET).file("/etc/tabpy/current/tabpy.conf").contains(
            "TABPY_EVALUATE_TIMEOUT = 33")
        assert verify.check_tabpy(fqdn=survivor.fqdn, address=survivor.connect_address,
                                  port=9004, ca_pem=survivor.tls.ca_pem,
                                  credentials=(survivor.health_user,
                                               survivor.health_password)).ok
    finally:
        lab("up", lost.split(".")[0])
    rerun = pyinfra("--json", inventory=changing)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert {h for hosts in rerun.changed().values() for h in hosts} == {lost}
    assert pyinfra().returncode == 0


def test_rolling_upgrade_and_downgrade_one_host_at_a_time(converged, tmp_path):
    plans = lab_plans()
    upgraded = changing_inventory(tmp_path, "2.15.1")
    for label, inventory, version in (("downgrade to 2.15.1", upgraded, "2.15.1"),
                                      ("upgrade to 2.16.0", LAB_INVENTORY, "2.16.0")):
        with Poller(list(plans.values())) as poller:
            run = pyinfra("--json", inventory=inventory)
        assert run.returncode == 0, run.stderr[-3000:]
        starts = []
        for fqdn in TABPY_HOSTS:
            result = verify.check_tabpy(fqdn=fqdn, address=plans[fqdn].connect_address,
                                        port=9004, ca_pem=plans[fqdn].tls.ca_pem,
                                        credentials=(plans[fqdn].health_user,
                                                     plans[fqdn].health_password))
            assert result.ok and result.server_version == version, result.detail
            starts.append(lab_host(fqdn).check_output(
                "systemctl show -p ActiveEnterTimestampMonotonic --value tabpy"))
        # One at a time: the hosts' outages never overlap.
        down = {f for _, f in poller.failures}
        overlap = [t for t, f in poller.failures
                   if any(abs(t - u) < 0.15 and g != f for u, g in poller.failures)]
        report(f"rolling {label}", f"{len(poller.failures)} of {poller.requests} polls failed "
               f"on {sorted(down)}; longest outage per host {poller.longest_outage():.1f} s; "
               f"overlapping failures {len(overlap)}")
        assert not overlap


def test_a_failing_health_check_fails_the_run_even_when_nothing_changed(converged, tmp_path):
    deploy = tmp_path / "wrong_check_password.py"
    deploy.write_text(
        "import dataclasses\n"
        "from pyinfra import local\n"
        "from tabpy_provision import preflight\n"
        "real = preflight.plan_tabpy_server\n"
        "def planner(name, data, **kwargs):\n"
        "    return dataclasses.replace(real(name, data, **kwargs), health_password='wrong')\n"
        "preflight.plan_tabpy_server = planner\n"
        "local.include('deploy/site.py')\n")
    started = time.monotonic()
    run = pyinfra("--limit", TARGET, entry=str(deploy))
    assert run.returncode != 0
    assert "GET /info answered HTTP 401" in run.output
    assert time.monotonic() - started < 60  # a 401 is final: no waiting out the timeout

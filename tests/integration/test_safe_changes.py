"""Safe changes on the lab: a failed start rolls back, a killed deploy leaves a complete set,
an unreachable host does not stop the others, upgrades roll host by host."""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab import paths
from tabpy_provision.server import passwords, verify
from tabpy_provision.wheelhouse import venvs
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
    wrong_key_site,
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
    finished: bool = False

    def __post_init__(self):
        super().__init__(daemon=True)

    def run(self):
        deadline = time.monotonic() + 600  # bounded whatever happens
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                for plan in self.plans:
                    self.requests += 1
                    ok = verify.check_serving(fqdn=plan.fqdn, address=plan.connect_address,
                                              port=9004, ca_pem=plan.tls.ca_pem, timeout=2).ok
                    if not ok:
                        self.failures.append((time.monotonic(), plan.fqdn))
                self.stop.wait(0.1)
        finally:
            self.finished = True

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
        # Not join(): pyinfra's gevent patches threading mid-suite, and a thread started on
        # one side of that is joined only when the timeout ends (30 s lost per use).
        self.stop.set()
        deadline = time.monotonic() + 30
        while not self.finished and time.monotonic() < deadline:
            time.sleep(0.05)


def report(name: str, figure: str) -> None:
    """Figures for the issue note (pytest shows them with -s, and in the junit output)."""
    line = f"{name}: {figure}"
    print(f"\nFIGURE {line}")
    (ROOT / ".cache").mkdir(exist_ok=True)
    with open(ROOT / ".cache" / "figures.txt", "a") as handle:
        handle.write(line + "\n")


def test_failed_start_rolls_back_to_the_previous_release(converged, tmp_path):
    host = lab_host(TARGET)
    before = host.file("/etc/tabpy/current").linked_to
    plans = lab_plans()
    with Poller([plans[TARGET]]) as poller:
        run = pyinfra("--limit", TARGET, entry=str(wrong_key_site(
            tmp_path, "tabpy_provision.run.preflight", "plan_tabpy_server", TARGET)))
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


def changing_inventory(tmp_path: Path, version: str, **more) -> str:
    """Config, users, certificate and TabPy version all change at once."""
    users = dict(lab_plans()[TARGET]["tabpy_users"])
    return lab_inventory_with(tmp_path, tabpy_version=version, tabpy_evaluate_timeout=31,
                              tabpy_users={**users, "killtest": "generate"},
                              tabpy_cert_dns_aliases=["tabpy-kill.lab.test"], **more)


#: Each change issues a certificate again, so each run makes a release: with the lab's 2 kept,
#: the new virtualenv lost its release on every way back and was installed again at the next
#: kill (12 s each). Kept releases do not change what a kill meets.
KEEP = {"tabpy_releases_to_keep": 12}


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


#: One bash command printing the host's state as key=value lines (what a kill can leave).
HOST_STATE = """
v=$(ls -d /opt/tabpy/venvs/tabpy-2.15.1-* 2>/dev/null | head -1)
echo venv_dir=$([ -n "$v" ] && echo 1 || echo 0)
echo venv_done=$([ -n "$v" ] && [ -f "$v/.tabpy-provision-wheelhouse" ] && echo 1 || echo 0)
for i in $(seq 50); do  # a cut upload's temp file goes as soon as the host sees the cut
  ls /var/cache/tabpy-provision/install/.tabpy-provision.* >/dev/null 2>&1 || break; sleep 0.1
done
echo partial=$(ls /var/cache/tabpy-provision/install/.tabpy-provision.* 2>/dev/null | wc -l)
echo upload=$(stat -c %s /var/cache/tabpy-provision/install/wheelhouse.tar 2>/dev/null || echo -1)
echo unpacked=$([ -e /var/cache/tabpy-provision/install/bin/uv ] && echo 1 || echo 0)
echo staging=$(ls -d /etc/tabpy/releases/.staging-* 2>/dev/null | wc -l)
echo incoming=$(ls -d /opt/tabpy/venvs/.incoming-* 2>/dev/null | wc -l)
echo current=$(readlink /etc/tabpy/current)
echo started=$(systemctl show -P ActiveEnterTimestampMonotonic tabpy.service)
"""


def host_state(fqdn: str) -> dict[str, str]:
    out = lab_host(fqdn).check_output(f"bash -c {shlex.quote(HOST_STATE)}")
    return dict(line.split("=", 1) for line in out.splitlines())


@dataclass(frozen=True)
class KillPoint:
    """Where a deploy is killed, and the proof, read from the host, that it died there.

    `marker`: kill once this is in the deploy's output (`delay` s later); `seen`: or kill once
    the host's state satisfies it (polled every 20 ms on the host, by `until`, a bash test).
    `landed(before, after)`: the host states before the run and right after the kill."""

    step: str
    landed: Callable[[dict, dict], bool]
    marker: str | None = None
    delay: float = 0.0
    until: str | None = None
    #: Start without the new virtualenv, so the kill meets its install (not one already done).
    fresh_venv: bool = False
    #: ...and none finished in the controller's cache, so the kill meets its build.
    built_here: bool = False
    #: A rerun of the change completes it (where the kill cut the install or the activation);
    #: after the other points the next deploy, back to the old set, is the run after the kill.
    finish: bool = False


VENV = "$(ls -d /opt/tabpy/venvs/tabpy-2.15.1-* 2>/dev/null | head -1)"
KILL_POINTS = [
    KillPoint("before the first change", marker="TabPy server | TabPy folders",
              fresh_venv=True,
              landed=lambda b, a: a["venv_dir"] == "0" and a["current"] == b["current"]),
    # killed while the archive streams into its temp file: neither a cut archive under its
    # name nor the temp file stays
    KillPoint("uploading the wheelhouse",
              until="[ -n \"$(find /var/cache/tabpy-provision/install -maxdepth 1 -name "
                    "'.tabpy-provision.*' -size +1M 2>/dev/null)\" ]", fresh_venv=True,
              built_here=True, landed=lambda b, a: a["venv_done"] == "0" and a["unpacked"] == "0"
              and a["upload"] == "-1" and a["partial"] == "0"),
    KillPoint("installing the virtualenv", finish=True,
              until=f'v={VENV}; [ -n "$v" ] && [ -e "$v/bin/python" ] '
                    '&& [ ! -e "$v/.tabpy-provision-wheelhouse" ]', fresh_venv=True,
              built_here=True,
              landed=lambda b, a: a["venv_dir"] == "1" and a["current"] == b["current"]),
    # the rerun after the last point kept the finished virtualenv in the controller's cache:
    # killed while it streams into its staging folder, no virtualenv is left under its name
    KillPoint("unpacking the shipped virtualenv", finish=True,
              until="ls -d /opt/tabpy/venvs/.incoming-tabpy-2.15.1-* >/dev/null 2>&1",
              fresh_venv=True,
              landed=lambda b, a: a["venv_done"] == "0" and a["current"] == b["current"]),
    KillPoint("starting the release", marker="TabPy release (config, users, TLS, venv)",
              landed=lambda b, a: a["venv_done"] == "1" and a["current"] == b["current"]),
    KillPoint("staging the release", finish=True,
              until="ls -d /etc/tabpy/releases/.staging-* >/dev/null 2>&1",
              landed=lambda b, a: a["staging"] == "1" and a["current"] == b["current"]),
    KillPoint("writing the CA file", marker="CA certificate (for checks on the host)",
              landed=lambda b, a: a["staging"] == "0" and a["current"] == b["current"]),
    KillPoint("writing the unit", marker="systemd unit",
              landed=lambda b, a: a["staging"] == "0" and a["current"] == b["current"]),
    KillPoint("starting the activation", marker="Activate the release",
              landed=lambda b, a: a["venv_done"] == "1" and a["staging"] == "0"),
    KillPoint("switched to the new release", finish=True,
              until="[ \"$(readlink /etc/tabpy/current)\" != \"$CURRENT\" ]",
              landed=lambda b, a: a["current"] != b["current"]),
    KillPoint("restarted, being verified", finish=True,
              until="[ \"$(readlink /etc/tabpy/current)\" != \"$CURRENT\" ] && [ "
                    "\"$(systemctl show -P ActiveEnterTimestampMonotonic tabpy.service)\" "
                    "!= \"$STARTED\" ]",
              landed=lambda b, a: a["current"] != b["current"] and a["started"] != b["started"]),
    KillPoint("pruning old releases", marker="Prune old releases",
              landed=lambda b, a: a["current"] != b["current"]),
]


def run_and_kill(inventory: str, point: KillPoint, before: dict[str, str]) -> str | None:
    """Start a deploy and SIGKILL it at `point`; the deploy's output up to the kill, or None
    when it ended first (nothing to kill)."""
    watcher = None
    if point.until:
        loop = (f"CURRENT={shlex.quote(before['current'])} STARTED={before['started']}; "
                f"for i in $(seq 15000); do if {point.until}; then echo hit; exit 0; fi; "
                "sleep 0.02; done; echo timeout")
        watcher = subprocess.Popen(["ssh", "-F", str(paths.ssh_config_path()), TARGET,
                                    f"bash -c {shlex.quote(loop)}"], stdout=subprocess.PIPE,
                                   text=True)
    process = subprocess.Popen([PYINFRA, "-y", "--limit", TARGET, inventory, "deploy/site.py"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output: list[str] = []

    def kill_when_seen():
        if watcher.stdout.readline().strip() == "hit":
            process.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_when_seen, daemon=True) if watcher else None
    if killer:
        killer.start()
    try:
        for line in process.stdout:
            output.append(line)
            if point.marker and point.marker in line:
                time.sleep(point.delay)
                process.send_signal(signal.SIGKILL)
                break
        return "".join(output) if process.wait(timeout=300) == -signal.SIGKILL else None
    finally:
        process.kill()
        process.wait(timeout=30)
        if watcher:
            watcher.kill()
            watcher.wait(timeout=30)


def test_a_deploy_killed_at_any_point_leaves_a_complete_set(converged, tmp_path):
    """Each kill is shown to land inside its step (the host's state right after it), then the
    host still serves a complete set, and the next deploy converges: the same change again
    where the kill cut the install or the activation, else the way back to the old set."""
    changing = changing_inventory(tmp_path, "2.15.1", **KEEP)
    keep = [f"--data={name}={value}" for name, value in KEEP.items()]
    landed, previous = {}, "the test started"
    for point in KILL_POINTS:
        back = pyinfra("--limit", TARGET, *keep)  # back to the old set
        assert back.returncode == 0, f"after a kill {previous}: {back.output[-3000:]}"
        check_complete_set(TARGET)
        previous = point.step
        if point.fresh_venv:
            lab_host(TARGET).check_output("rm -rf /opt/tabpy/venvs/tabpy-2.15.1-*")
        if point.built_here:
            for cached in venvs.default_cache_dir().glob("*.tabpy-2.15.1-*"):
                cached.unlink()
        before = host_state(TARGET)
        output = run_and_kill(changing, point, before)
        after = host_state(TARGET)
        landed[point.step] = output is not None and point.landed(before, after) and \
            (point.step == "pruning old releases" or "Prune old releases" not in output)
        check_complete_set(TARGET)
        if point.finish:
            rerun = pyinfra("--limit", TARGET, inventory=changing)
            assert rerun.returncode == 0, f"after a kill {point.step}: {rerun.output[-3000:]}"
            check_complete_set(TARGET)
    assert landed == dict.fromkeys(landed, True), landed
    back = pyinfra("--limit", TARGET)
    assert back.returncode == 0, f"after a kill {previous}: {back.output[-3000:]}"


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
        "from tabpy_provision.run import preflight\n"
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

"""Nothing an operator can type damages or opens a host (issue 26), on the lab.

A value that names something the host already has - a system folder, a folder of others, an
existing account or unit, a port in use - stops the run before any host is touched: the run
exits non-zero with one line naming host and field, and the host is as it was (folders' owners
and modes, accounts, units, the fence, the services' start times). A release that fails to
start for a reason no check could see (a port taken after the checks) is rolled back with the
fence it ran with."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.integration.conftest import lab_host, lab_inventory_with, pyinfra
from tests.integration.test_firewall import connect_from

TARGET = "tabpy1.lab.test"
OTHER = "tabpy2.lab.test"
BALANCER = "tabpylb1.lab.test"
#: A folder of another application on OTHER, with a file in it.
OTHERS = "/srv/app-logs"
#: What must not change on a host when a run is refused.
SNAPSHOT = ("stat -c '%n %U:%G %a' / /etc /usr /var /var/log /srv /etc/tabpy "
            f"/var/lib/tabpy/state /var/log/tabpy {OTHERS} 2>/dev/null; "
            "getent passwd root daemon tabpy; "
            "sha256sum /etc/systemd/system/*.service /etc/haproxy/haproxy.cfg 2>/dev/null; "
            "nft list table inet tabpy_provision 2>/dev/null | sha256sum; "
            "systemctl show -p ActiveEnterTimestampMonotonic tabpy.service ssh.service "
            "haproxy.service")

#: Two refused runs cover every class: the values alone (shape), and the values against what
#: the hosts have (each host gets several at once; every line is printed).
RUNS = {
    "shape": {TARGET: {"tabpy_log_dir": "/var/log", "tabpy_state_path": "/etc",
                       "tabpy_config_dir": "/usr"},
              OTHER: {"tabpy_static_path": "/etc/tabpy"}},
    "host": {TARGET: {"tabpy_system_user": "root", "tabpy_service_name": "ssh",
                      "tabpy_port": 22},
             OTHER: {"tabpy_system_user": "daemon", "tabpy_log_dir": OTHERS,
                     "tabpy_arrow_enable": True, "tabpy_arrowflight_port": 22}},
}
#: case -> (run, host, the line it prints after "tabpy-provision: HOST: ").
CASES = {
    "system log folder": ("shape", TARGET, "tabpy_log_dir: /var/log is a system folder"),
    "state in /etc": ("shape", TARGET, "tabpy_state_path: /etc is a system folder"),
    "config in /usr": ("shape", TARGET, "tabpy_config_dir: /usr is a system folder"),
    "static over the keys": ("shape", OTHER,
                             "tabpy_static_path: /etc/tabpy overlaps tabpy_config_dir"),
    "a folder of others": ("host", OTHER, f"tabpy_log_dir: {OTHERS} already holds files that "
                                          "are not TabPy's"),
    "root": ("host", TARGET, "tabpy_system_user: root is an existing account"),
    "a daemon's account": ("host", OTHER, "tabpy_system_user: daemon is an existing account"),
    "sshd's unit": ("host", TARGET, "tabpy_service_name: ssh is already a unit of this host"),
    "sshd's port": ("host", TARGET, "tabpy_port: port 22 is in use on this host by sshd"),
    "Arrow Flight on sshd's port": ("host", OTHER, "tabpy_arrowflight_port: port 22 is in use "
                                                   "on this host"),
    "a balancer on sshd's port": ("host", BALANCER, "lb_port: port 22 is in use on this host by "
                                                    "sshd"),
}


def snapshot(name: str) -> str:
    return lab_host(name).check_output(SNAPSHOT)


@pytest.fixture(scope="module")
def refused(converged, tmp_path_factory):
    """Each run of RUNS: (its output, each host's state before and after it)."""
    other = lab_host(OTHER)
    other.check_output(f"install -d -m 0755 {OTHERS} && echo started > {OTHERS}/app.log")
    found = {}
    try:
        for name, hosts in RUNS.items():
            before = {host: snapshot(host) for host in (TARGET, OTHER, BALANCER)}
            inventory = lab_inventory_with(tmp_path_factory.mktemp(name), hosts=hosts,
                                           pool={"lb_port": 22} if name == "host" else None)
            run = pyinfra(inventory=inventory)
            after = {host: snapshot(host) for host in before}
            found[name] = (run, before, after)
    finally:
        other.check_output(f"rm -rf {OTHERS}")
    return found


@pytest.mark.parametrize("case", CASES)
def test_a_value_naming_what_the_host_has_is_refused_and_nothing_changes(refused, case):
    run_name, host, line = CASES[case]
    run, before, after = refused[run_name]
    assert run.returncode != 0
    assert f"tabpy-provision: {host}: {line}" in run.stderr, run.output[-3000:]
    assert "nothing was changed" in run.output
    assert after[host] == before[host]


def clash_deploy(tmp_path: Path) -> str:
    """The site deploy with the port check passing: a listener that came after the checks."""
    deploy = tmp_path / "clash_after_checks.py"
    deploy.write_text("from pyinfra import local\n"
                      "from tabpy_provision.run import host_claims\n"
                      "host_claims.port_problems = lambda *args, **kwargs: []\n"
                      "local.include('deploy/site.py')\n")
    return str(deploy)


CLASH_UNIT = "tabpy-provision-test-clash"
LISTENER = ("import socket, time; s = socket.socket(socket.AF_INET6); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', 9005)); "
            "s.listen(); time.sleep(600)")


def test_a_port_clash_rolls_back_with_the_fence_it_ran_with(converged, tmp_path):
    """tabpy_port 9004 -> 9005 while another process holds 9005: TabPy cannot bind, the
    release rolls back, and the fence guards 9004 again (the DR host, outside the allowed
    sources, is refused there right after the failed run)."""
    host = lab_host(TARGET)
    fence = host.check_output("nft list table inet tabpy_provision | sha256sum")
    host.check_output(f"systemd-run --quiet --unit={CLASH_UNIT} python3 -c "
                      f"{shlex.quote(LISTENER)}")
    try:
        run = pyinfra("--limit", TARGET, entry=clash_deploy(tmp_path),
                      inventory=lab_inventory_with(tmp_path, hosts={TARGET: {
                          # TabPy cannot bind: give up after 30 s rather than 90
                          "tabpy_port": 9005, "tabpy_health_check_timeout": 30}}))
    finally:
        host.run(f"systemctl stop {CLASH_UNIT}")
    assert run.returncode != 0
    assert "rolled back to release" in run.output, run.output[-3000:]
    assert "fence: the fence it ran with is back" in run.output
    assert host.check_output("nft list table inet tabpy_provision | sha256sum") == fence
    assert connect_from("tabpydr.lab.test", TARGET) == "ConnectionRefusedError"
    assert connect_from("client1.lab.test", TARGET) == "connected"
    # the lab's own inputs: only the failed release (and a virtualenv no release uses any
    # more, when earlier tests left one) is left to prune; the fence and TabPy stay as they are
    rerun = pyinfra("--json", "--limit", TARGET)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert set(rerun.changed()) <= {f"deploy/tabpy.py | TabPy server | {name}" for name in (
        "Prune old releases", "Prune unused virtualenvs")}

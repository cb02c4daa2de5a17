"""The TabPy pool on the lab: two TabPy processes on each of tabpy1 and tabpy2 behind the pool's
HAProxy on tabpylb1 (tabpy.lab.test), requests from client1 through its OS trust store.

Rolling changes under load lose no request; a killed process and a process with a wrong
password file leave the pool; reruns change nothing and reload (never restart) HAProxy.
Figures are printed as FIGURE lines (`pytest -s`)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time

import pytest
from cryptography import x509

from lab import hosts as lab_hosts
from tabpy_provision import pki
from tabpy_provision.pool import balancer
from tests.integration.conftest import (
    ROOT,
    TABPY_HOSTS,
    lab_host,
    lab_inventory_with,
    pyinfra,
)
from tests.load import Load

pytestmark = pytest.mark.lab

CLIENT = "client1.lab.test"
BALANCERS = [h.fqdn for h in lab_hosts.LAB_HOSTS if "tabpy_lb" in h.groups]
BALANCER = BALANCERS[0]
VIRTUAL_ADDRESS = lab_hosts.SERVICE_NAMES["tabpy.lab.test"]
SERVICE = "tabpy.lab.test"
PORTS = (9101, 9102)


def stat() -> dict[str, balancer.ServerStat]:
    text = lab_host(BALANCER).check_output(balancer.runtime_command(balancer.SHOW_STAT))
    return balancer.parse_stat(text)


def password(user: str) -> str:
    return (ROOT / "secrets/lab/tabpy_users" / user).read_text().strip()


def haproxy_pid() -> str:
    return lab_host(BALANCER).check_output("systemctl show -p MainPID --value haproxy")


def deploy(inventory: str, *args: str):
    run = pyinfra("--json", *args, inventory=inventory)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def pool(converged, tmp_path_factory):
    """The lab with two TabPy processes per host; back to one each afterwards."""
    folder = tmp_path_factory.mktemp("pool")
    inventory = lab_inventory_with(folder, tabpy_instances=2)
    first = deploy(inventory)
    second = deploy(inventory)
    yield inventory, first, second
    deploy("inventory/lab.py")


def test_pool_serves_every_process_through_one_name(pool):
    _, _, second = pool
    assert second.changed() == {}
    servers = stat()
    expected = {balancer.server_name(host, port) for host in TABPY_HOSTS for port in PORTS}
    assert set(servers) == expected
    assert all(s.status == "UP" and s.check == "L7OK" for s in servers.values()), servers
    inventory, _, _ = pool
    checked = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i", inventory],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    row = next(line for line in checked.stdout.splitlines() if line.startswith(BALANCER))
    assert row.split()[1:3] == ["https://tabpy.lab.test:9004", "PASS"], row
    assert "no auth 401, wrong password 401" in row
    config = lab_host(BALANCER).file(balancer.CONFIG_PATH)
    assert (config.user, config.mode) == ("root", 0o600)
    pem = lab_host(BALANCER).file(balancer.SERVICE_PEM)
    assert (pem.user, pem.mode) == ("root", 0o600)
    # client1 trusts the CA through its OS store only; TLS names tabpy.lab.test
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4, seconds=60,
              max_requests=400) as load:
        time.sleep(3)
    result = load.result
    assert result["failed"] == 0 and result["served"] > 0, result
    for host in TABPY_HOSTS:
        units = lab_host(host).check_output(
            "systemctl is-active tabpy@9101 tabpy@9102 haproxy; "
            "systemctl is-enabled tabpy.service || true")
        assert units.split() == ["active", "active", "active", "disabled"]
    for host in TABPY_HOSTS:  # each process writes its own log and state
        for port in PORTS:
            assert lab_host(host).file(f"/var/log/tabpy/tabpy-{port}.log").exists
            assert lab_host(host).file(f"/var/lib/tabpy/state/{port}/state.ini").exists


def test_rerun_changes_nothing_and_a_change_reloads_haproxy(pool, tmp_path):
    inventory, _, _ = pool
    pid = haproxy_pid()
    assert deploy(inventory).changed() == {}
    assert haproxy_pid() == pid
    faster = lab_inventory_with(tmp_path, tabpy_instances=2,
                                pool={"lb_check_interval_ms": 500})
    run = deploy(faster, "-vv", "--diff")
    changed = run.changed()
    secret = password("monitor")
    for shown in (secret, base64.b64encode(f"monitor:{secret}".encode()).decode()):
        assert shown not in run.output  # the check's credentials never printed
    assert {name.split(" | ")[-1] for name in changed} == {
        "HAProxy config and certificate", "HAProxy running (reloaded on change)"}, changed
    assert set(sum(changed.values(), [])) == set(BALANCERS)
    assert haproxy_pid() == pid  # reloaded: the master process stays
    assert "inter 500" in lab_host(BALANCER).check_output(f"cat {balancer.CONFIG_PATH}")
    assert lab_host(BALANCER).run(
        "journalctl -u haproxy --no-pager -n 50 | grep -c Reload").stdout.strip() != "0"
    deploy(inventory)


def test_rolling_upgrade_and_downgrade_lose_no_request(pool, tmp_path):
    inventory, _, _ = pool
    older = lab_inventory_with(tmp_path, tabpy_instances=2, tabpy_version="2.15.1")
    steps = []
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4,
              seconds=600) as load:
        # (a rotation rolls the same way: under load through the pool in test_sudo.py)
        for label, inv in (("upgrade to 2.15.1", older), ("back to 2.16.0", inventory)):
            started = time.monotonic()
            run = pyinfra("--json", inventory=inv)
            assert run.returncode == 0, run.stderr[-3000:]
            steps.append(f"{label} {time.monotonic() - started:.1f} s")
            activated = {name.split(" | ")[-1] for name in run.changed()}
            assert "Activate the release (rolling; rollback on a failed start)" in activated, \
                (label, run.changed(), run.output[-2000:])
    result = load.result
    print(f"\nFIGURE rolling through the pool ({', '.join(steps)}): {result['served']} requests "
          f"served, {result['failed']} failed, {result['stale_retries']} stale-connection "
          f"retries, {result['requests_per_second']} req/s, p99 {result['p99_ms']} ms")
    assert result["failed"] == 0, result
    assert result["served"] > 200, result
    for host in TABPY_HOSTS:
        version = lab_host(host).check_output(
            "/etc/tabpy/current/venv/bin/python -c "
            "'import importlib.metadata as m; print(m.version(\"tabpy\"))'")
        assert version == "2.16.0"


def backend_cas() -> list[str]:
    pem = lab_host(BALANCER).check_output(f"cat {balancer.BACKEND_CA}").encode()
    return [pki.subject_cn(cert) for cert in x509.load_pem_x509_certificates(pem)]


def test_servers_moving_to_another_ca_lose_no_request(pool, tmp_path):
    """The TabPy servers switch at once to a CA the balancers never saw (not the rotation
    procedure): each balancer first also trusts it, the roll goes through, then it trusts
    only the new one; clients trust the pool's own CA and the servers'."""
    inventory, _, _ = pool
    other_ca = lab_inventory_with(tmp_path, tabpy_instances=2, pki_dir=str(tmp_path / "pki"),
                                  pki_common_name="Pool test",
                                  trust_artifacts_dir=str(tmp_path / "artifacts"))
    lab_root = backend_cas()
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4,
              seconds=600) as load:
        # A move to another CA and back, on purpose: each is a new identity.
        deploy(other_ca, "--data", "new_identity=true")
        assert backend_cas() == ["Pool test Root CA"]
        assert all(s.status == "UP" for s in stat().values()), stat()
        deploy(inventory, "--data", "new_identity=true")
    assert backend_cas() == lab_root
    result = load.result
    print(f"\nFIGURE TabPy servers to another CA and back under load: {result['served']} "
          f"served, {result['failed']} failed")
    assert result["failed"] == 0, result
    assert result["served"] > 100, result


def holder() -> list[str]:
    """The balancers holding the pool's virtual address."""
    return [lb for lb in BALANCERS if lab_host(lb).run(
        f"ip -4 -o addr show | grep -qw {VIRTUAL_ADDRESS}").rc == 0]


def test_a_stopped_balancer_hands_the_address_to_the_other(pool):
    first = holder()
    assert len(first) == 1, first
    (stopped,) = first
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4,
              seconds=120) as load:
        time.sleep(2)
        lab_host(stopped).run("systemctl stop haproxy")
        lost = time.monotonic()
        while holder() in ([stopped], []) and time.monotonic() - lost < 30:
            time.sleep(0.1)
        moved = time.monotonic() - lost
        taken_by = holder()
        time.sleep(3)
        lab_host(stopped).run("systemctl start haproxy")
        time.sleep(4)  # its HAProxy back: the address stays where it is (nopreempt)
        after = holder()
    result = load.result
    assert taken_by == [lb for lb in BALANCERS if lb != stopped], taken_by
    assert after == taken_by, after
    print(f"\nFIGURE HAProxy stopped on {stopped} (holding {VIRTUAL_ADDRESS}) under load: "
          f"address on {taken_by[0]} {moved:.1f} s later; {result['failed']} failed of "
          f"{result['served'] + result['failed']} over {result['failing_seconds']} s "
          f"({result['failures']}), {result['stale_retries']} stale-connection retries")
    # keepalived's check (every 1 s, 2 failures) plus the VRRP hand-over
    assert result["failing_seconds"] <= 6, result
    assert result["served"] > 100, result


def test_killed_process_leaves_and_returns(pool):
    victim, port = TABPY_HOSTS[0], PORTS[0]
    name = balancer.server_name(victim, port)
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4,
              seconds=120) as load:
        time.sleep(2)
        pid = lab_host(victim).check_output(f"systemctl show -p MainPID --value tabpy@{port}")
        lab_host(victim).run(f"kill -9 {pid}")
        killed = time.monotonic()
        left = back = None  # seconds after the kill: out of the pool, then in again
        while back is None and time.monotonic() - killed < 60:
            status = stat()[name].status
            if left is None and status.startswith("DOWN"):
                left = time.monotonic() - killed
            elif left is not None and status == "UP":
                back = time.monotonic() - killed
            time.sleep(0.1)
        time.sleep(2)
    result = load.result
    assert left is not None and back is not None, (left, back)
    print(f"\nFIGURE kill -9 of {name} under load: {result['failed']} failed of "
          f"{result['served'] + result['failed']} ({result['failures']}), "
          f"{result['stale_retries']} stale-connection retries; out of the pool after "
          f"{left:.1f} s, back after {back:.1f} s (systemd restart + rise checks)")
    # HAProxy sends a request whose connection failed or closed unanswered to another
    # process: at most the requests in flight on the killed one (one per client thread)
    assert result["failed"] <= 4, result
    assert result["served"] > 100, result


def test_wrong_password_file_leaves_the_pool_and_a_rerun_repairs_it(pool):
    inventory, _, _ = pool
    host, port = TABPY_HOSTS[1], PORTS[1]
    name = balancer.server_name(host, port)
    target = lab_host(host)
    # the monitor user's hash replaced in place: TabPy starts, but every sign-in as it fails
    target.run("cd /etc/tabpy/current && sed -i 's/^monitor .*/monitor "
               f"{'0' * 128}/' passwords && systemctl restart tabpy@{port}")
    # The restart itself closes the port for a moment (checks fail on the connection, L4CON):
    # what counts is the check of the process once it listens again with the wrong file.
    address = lab_hosts.get_host(host).address
    started = time.monotonic()
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() - started < 30, "TabPy did not listen again"
            time.sleep(0.05)
    listening = time.monotonic()
    refused = None  # seconds from listening to out of the pool on a 401
    while refused is None and time.monotonic() - listening < 30:
        current = stat()[name]
        if current.status.startswith("DOWN") and current.check == "L7STS":
            refused = time.monotonic() - listening
        time.sleep(0.1)
    assert refused is not None, stat()[name]
    print(f"\nFIGURE wrong password file: {name} out of the pool on its 401 {refused:.1f} s "
          "after it listened (checks every 1 s, 2 failures to leave)")
    assert refused <= 2 * 1.0 + 1  # fall x inter, plus one check's time
    time.sleep(3)  # longer than rise x inter: a 401 never brings it back
    assert stat()[name].status.startswith("DOWN"), stat()[name]
    # the deploy finds the release altered and puts an intact one back
    deploy(inventory)
    assert stat()[name].status.startswith("UP"), stat()[name]  # back in the pool
    # and passing its checks: a check that timed out on this busy machine reads "UP 1/2"
    # (in the pool, one failure of the two that take it out) until the next one passes
    settled = time.monotonic() + 5
    while stat()[name].status != "UP" and time.monotonic() < settled:
        time.sleep(0.2)
    assert stat()[name].status == "UP", stat()[name]

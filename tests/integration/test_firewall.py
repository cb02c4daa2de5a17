"""Who may reach TabPy (issue: hardening): each TabPy server's nftables table on the lab.

The lab inventory admits the pool balancers, tableau1 and client1; tabpydr is not listed and
is the negative control. A refused connection is reset at once (connection refused)."""

from __future__ import annotations

import ipaddress
import json
import random
import shlex
import subprocess
import sys
import time

import pytest

from lab import paths
from lab.hosts import LAB_HOSTS
from tabpy_provision.firewall import rules
from tests.integration.conftest import (
    ROOT,
    TABPY_HOSTS,
    lab,
    lab_host,
    lab_inventory_with,
    pyinfra,
)

ADDRESS = {h.fqdn: h.address for h in LAB_HOSTS}
PROBE = ("import socket, sys\n"
         "try:\n"
         "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
         "    print('connected')\n"
         "except OSError as error:\n"
         "    print(type(error).__name__)\n")


def connect_from(source: str, target: str, port: int = 9004) -> str:
    """A TCP connect from a lab host, as 'connected' or the error's name."""
    return lab_host(source).check_output(
        f"python3 -c {shlex.quote(PROBE)} {ADDRESS[target]} {port}")


def site_check_fence_rows() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i",
                           "inventory/lab.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    return {line.split()[0]: line.split()[2] for line in done.stdout.splitlines()
            if " nftables " in line}


@pytest.fixture(scope="module")
def fenced(converged):
    return converged


@pytest.mark.parametrize("target", TABPY_HOSTS)
def test_the_dr_host_is_refused_and_tableau_and_the_client_are_admitted(fenced, target):
    assert connect_from("tabpydr.lab.test", target) == "ConnectionRefusedError"
    assert connect_from("client1.lab.test", target) == "connected"
    assert connect_from("tableau1.lab.test", target) == "connected"
    # the pool's balancers reach every TabPy process (their health checks), and ssh is open
    assert connect_from("tabpylb1.lab.test", target) == "connected"
    assert connect_from("tabpydr.lab.test", target, 22) == "connected"


def test_site_check_shows_the_fence_in_force(fenced):
    # rserve1's fence (Rserve's port): test_rserve.py
    assert site_check_fence_rows() == dict.fromkeys([*TABPY_HOSTS, "rserve1.lab.test"], "PASS")


def test_a_lost_table_is_reported_and_loaded_again_by_a_rerun(fenced):
    host = lab_host(TABPY_HOSTS[1])
    host.check_output(f"nft delete table inet {rules.TABLE}")
    assert connect_from("tabpydr.lab.test", TABPY_HOSTS[1]) == "connected"
    assert site_check_fence_rows()[TABPY_HOSTS[1]] == "FAIL"
    rerun = pyinfra("--json", "--limit", TABPY_HOSTS[1])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    fence_op = next(name for name in rerun.changed() if "Fence:" in name)
    assert rerun.changed()[fence_op] == [TABPY_HOSTS[1]]
    assert connect_from("tabpydr.lab.test", TABPY_HOSTS[1]) == "ConnectionRefusedError"


#: Connects every 50 ms until its stdin closes (at most 120 s); prints the outcomes' counts.
PROBE_LOOP = ("import json, select, socket, sys, time\n"
              "counts, end = {}, time.monotonic() + 120\n"
              "while time.monotonic() < end:\n"
              "    try:\n"
              "        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()\n"
              "        result = 'connected'\n"
              "    except OSError as error:\n"
              "        result = type(error).__name__\n"
              "    counts[result] = counts.get(result, 0) + 1\n"
              "    if select.select([sys.stdin], [], [], 0.05)[0]:\n"
              "        break\n"
              "print(json.dumps(counts))\n")


def test_no_moment_without_the_fence_across_20_nftables_restarts(fenced):
    """nftables.service's stop (`flush ruleset`) and start load the fence in their own
    transaction: tabpydr, connecting every 50 ms throughout, never gets in."""
    target, restarts = TABPY_HOSTS[1], 20
    probe = subprocess.Popen(
        ["ssh", "-F", str(paths.ssh_config_path()), "tabpydr.lab.test",
         f"python3 -c {shlex.quote(PROBE_LOOP)} {ADDRESS[target]} 9004"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        host = lab_host(target)
        for _ in range(restarts):
            # (reset-failed: 20 starts in a few seconds exceed systemd's start limit)
            host.check_output("systemctl reset-failed nftables; systemctl restart nftables")
        host.check_output("systemctl stop nftables")  # fence only, the host's rules gone
        assert connect_from("tabpydr.lab.test", target) == "ConnectionRefusedError"
        host.check_output("systemctl start nftables")
        assert host.run("nft list table inet filter").rc == 0  # the host's own rules are in
    finally:
        counts = json.loads(probe.communicate("", timeout=150)[0])
    print(f"probes from tabpydr during {restarts} restarts: {counts}")
    # refused throughout (at least twice a restart), never connected
    assert counts.get("ConnectionRefusedError", 0) >= 2 * restarts and "connected" not in counts, \
        counts


def test_the_fence_survives_a_reboot(fenced):
    lab("stop", "tabpy2")
    lab("up", "tabpy2")
    assert lab_host(TABPY_HOSTS[1]).check_output(
        f"systemctl is-active {rules.UNIT}") == "active"
    # TabPy listening again (a closed port is refused too, so the client is asked first)
    deadline = time.monotonic() + 90
    while connect_from("client1.lab.test", TABPY_HOSTS[1]) != "connected":
        assert time.monotonic() < deadline, "TabPy did not come back after the reboot"
        time.sleep(1)
    assert connect_from("tabpydr.lab.test", TABPY_HOSTS[1]) == "ConnectionRefusedError"
    rerun = pyinfra("--json", "--limit", TABPY_HOSTS[1])
    assert rerun.returncode == 0 and rerun.changed() == {}, rerun.changed()


def test_tabpy_firewall_false_removes_the_fence_and_true_brings_it_back(fenced):
    off = pyinfra("--limit", TABPY_HOSTS[1], "--data", "tabpy_firewall=false")
    assert off.returncode == 0, off.stderr[-3000:]
    host = lab_host(TABPY_HOSTS[1])
    assert host.run(f"nft list table inet {rules.TABLE}").rc != 0
    assert not any(host.file(path).exists for path in (
        rules.RULESET_PATH, rules.UNIT_PATH, rules.NFTABLES_DROPIN_PATH))
    assert connect_from("tabpydr.lab.test", TABPY_HOSTS[1]) == "connected"
    on = pyinfra("--limit", TABPY_HOSTS[1])
    assert on.returncode == 0, on.stderr[-3000:]
    assert connect_from("tabpydr.lab.test", TABPY_HOSTS[1]) == "ConnectionRefusedError"


def test_nft_accepts_every_generated_ruleset(fenced):
    """The real consumer reads back what the planner makes of generated sources: `nft -c`
    (check only) on a lab host, for 300 random source lists of v4 and v6 addresses and
    networks, overlapping on purpose."""
    chance = random.Random(13)

    def source() -> str:
        if chance.random() < 0.5:
            return f"169.254.{chance.randrange(256)}.{chance.randrange(256)}/" \
                   f"{chance.choice([16, 24, 28, 32])}"
        return f"2001:db8:{chance.randrange(65536):x}::/{chance.choice([32, 48, 64, 128])}"

    texts = []
    for _ in range(300):
        listed = [str(ipaddress.ip_network(source(), strict=False))
                  for _ in range(chance.randrange(0, 12))]
        plan, problems = rules.plan_firewall(
            "tabpy1.lab.test", service_port=9004, process_ports=[9101, 9102], allowed=listed,
            groups={}, address_of=lambda name: [], balancers={},
            controller=["169.254.213.1"])
        assert problems == []
        texts.append(plan.ruleset())
    script = "".join(f"cat > /tmp/fence-{i}.nft <<'EOF'\n{text}EOF\n"
                     for i, text in enumerate(texts))
    script += ("ok=0; for f in /tmp/fence-*.nft; do nft -c -f $f && ok=$((ok+1)); done; "
               "rm -f /tmp/fence-*.nft; echo accepted=$ok")
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), TABPY_HOSTS[0], "sh"],
                          input=script, capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.strip().splitlines()[-1:] == ["accepted=300"], done.stderr[-2000:]


def test_arrow_flights_port_is_fenced_like_tabpys(fenced, tmp_path):
    """Arrow Flight binds every address: with tabpy_arrow_enable its port admits the same
    sources as TabPy's (client1) and refuses the others (tabpydr)."""
    target = TABPY_HOSTS[0]
    arrow = lab_inventory_with(tmp_path, hosts={target: {"tabpy_arrow_enable": True}})
    try:
        run = pyinfra("--limit", target, inventory=arrow)
        assert run.returncode == 0, run.output[-3000:]
        port = 13622
        assert connect_from("client1.lab.test", target, port) == "connected"
        assert connect_from("tabpydr.lab.test", target, port) == "ConnectionRefusedError"
    finally:
        back = pyinfra("--limit", target)
    assert back.returncode == 0, back.output[-3000:]

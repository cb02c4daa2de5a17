"""TabPy runs other people's code: fenced in (issue: fence TabPy). On the lab inventory, TabPy's
processes reach loopback, their clients and client1:22 (standing in for an analyst's
database); each process may use 1 GiB of address space and 512 tasks of its user."""

from __future__ import annotations

import json
import time

import pytest

from tabpy_provision.server import verify
from tests.integration.conftest import ROOT, TABPY_HOSTS, lab_host, lab_plans
from tests.integration.test_firewall import connect_from
from tests.load import Load

CONNECT = """
import socket
try:
    socket.create_connection((_arg1[0], _arg1[1]), timeout=5).close()
    return 'connected'
except OSError as error:
    return type(error).__name__
"""
ALLOCATE = """
try:
    block = bytearray(_arg1[0] << 30)
    return 'allocated'
except MemoryError:
    return 'MemoryError'
"""
FORK = """
import os, signal
children = []
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            signal.pause()
        children.append(pid)
    outcome = 'unbounded'
except OSError as error:
    outcome = type(error).__name__
finally:
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
return [outcome, len(children)]
"""


def password(user: str) -> str:
    return (ROOT / "secrets/lab/tabpy_users" / user).read_text().strip()


@pytest.fixture(scope="module")
def plans(converged):
    return lab_plans()


def evaluate(plan, script: str, *args):
    """A script sent to one TabPy process as Tableau would: its answer, or the HTTP status."""
    response = verify.request(
        "POST", "/evaluate", credentials=(plan.health_user, plan.health_password),
        body={"script": script, "data": {"_arg1": list(args)}}, timeout=60,
        **plan.endpoint_args)
    return json.loads(response.body) if response.status == 200 else response.status


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_a_script_reaches_only_loopback_and_what_the_inventory_allows(plans, fqdn):
    plan = plans[fqdn]
    assert evaluate(plan, CONNECT, "169.254.213.41", 22) == "ConnectionRefusedError"  # tabpydr
    assert evaluate(plan, CONNECT, "169.254.213.31", 22) == "connected"  # client1: allowed
    assert evaluate(plan, CONNECT, "127.0.0.1", 9004) == "connected"
    # the rest of the host is not fenced: root reaches tabpydr's ssh from the same host
    assert lab_host(fqdn).run("timeout 5 bash -c '</dev/tcp/169.254.213.41/22'").rc == 0
    assert verify.check_tabpy(credentials=plan.health_credentials, **plan.endpoint_args).ok


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_a_fork_bomb_stops_at_the_task_limit(plans, fqdn):
    outcome, forked = evaluate(plans[fqdn], FORK)
    assert outcome == "BlockingIOError" and 0 < forked < 512, (outcome, forked)
    assert verify.check_tabpy(credentials=plans[fqdn].health_credentials,
                              **plans[fqdn].endpoint_args).ok


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_a_script_past_the_memory_limit_fails_alone_while_the_pool_serves(plans, fqdn):
    """2 GiB in a 1 GiB process: the allocation fails inside the script; the process keeps
    serving (the next request on it is answered), and requests through the pool meanwhile all
    succeed."""
    plan = plans[fqdn]
    with Load("client1.lab.test", "tabpy.lab.test", "tableau", password("tableau"),
              concurrency=4, seconds=120, max_requests=2000) as load:
        time.sleep(1)
        outcomes = [evaluate(plan, ALLOCATE, 2) for _ in range(5)]
        started = time.monotonic()
        small = evaluate(plan, ALLOCATE, 0)
        recovered = time.monotonic() - started
        time.sleep(1)
    assert outcomes == ["MemoryError"] * 5 and small == "allocated"
    result = load.result
    print(f"\nFIGURE memory limit on {fqdn}: 5 allocations of 2 GiB refused in a 1 GiB "
          f"process, the next request on it answered in {recovered:.2f} s; through the pool "
          f"meanwhile {result['served']} served, {result['failed']} failed")
    assert result["failed"] == 0 and result["served"] > 0, result


LISTEN = """
import socket, threading
server = socket.create_server(('', _arg1[0]), family=socket.AF_INET6, dualstack_ipv6=True)
server.settimeout(20)
def serve():
    try:
        while True:
            server.accept()[0].close()
    except OSError:
        pass
    finally:
        server.close()
threading.Thread(target=serve, daemon=True).start()
return 'listening'
"""


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_a_listener_a_script_opens_cannot_answer_anyone_outside(plans, fqdn):
    """TabPy's user answers only from TabPy's own ports: a script's listener on another port is
    reached over loopback (the positive control) but cannot answer client1, which the fence
    admits on TabPy's port."""
    plan = plans[fqdn]
    port = 5555
    assert evaluate(plan, LISTEN, port) == "listening"
    assert evaluate(plan, CONNECT, "127.0.0.1", port) == "connected"
    assert connect_from("client1.lab.test", fqdn, port) != "connected"
    assert connect_from("client1.lab.test", fqdn, 9004) == "connected"

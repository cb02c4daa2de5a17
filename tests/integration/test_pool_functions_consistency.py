"""A pool never half-serves a function, on the lab as inventory/lab.py has it (the `converged`
lab: tabpy1 and tabpy2, one TabPy process each, behind tabpy.lab.test on two balancers).

- TabPy's own client, used as TabPy's docs say (deploy() with and without remote_server=True,
  remove()) through the pool's name, is refused by HAProxy with what to do instead, and no
  process serves what it tried to deploy.
- A function deployed on one process only, directly on its own port from its host (as the
  tool's publisher reaches each process), makes site_check and the balancers' deploy fail
  naming it and the processes. It is then removed and that process restarted out of the pool
  (TabPy 2.16 keeps serving a removed endpoint from memory until it restarts), so later tests
  see the lab as it was. An interrupted run may leave it on tabpy1: later deploys then fail at
  the balancers naming it.

No deploy of the TabPy servers: one balancer-only deploy, expected to fail."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import time
import urllib.parse

import pytest

from lab import hosts as lab_hosts
from lab import paths
from tabpy_provision.functions import check
from tabpy_provision.pool import balancer
from tabpy_provision.server import verify
from tests.integration.conftest import ROOT, TABPY_HOSTS, lab_host, lab_plans, pyinfra

pytestmark = pytest.mark.lab

SERVICE = "tabpy.lab.test"
PORT = 9004
BALANCERS = [h.fqdn for h in lab_hosts.LAB_HOSTS if "tabpy_lb" in h.groups]
REFUSAL = balancer.publishing_refusal(SERVICE, PORT)
NAME = "half_published"  # no lab inventory declares it

# An analyst's script, as TabPy's docs show it: TabPy's client deploys and removes through the
# pool's name. Run from a file (the remote_server=True deploy sends the function's source,
# which inspect reads from it); the order (credentials included) on stdin. Prints one JSON
# line: what each call returned or raised.
ANALYST = '''
import contextlib, io, json, os, sys, tempfile

order = json.load(sys.stdin)
with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as ca:
    ca.write(order["ca_pem"])
# The remote_server=True deploy posts with requests' own defaults: it verifies against this.
os.environ["REQUESTS_CA_BUNDLE"] = ca.name

from tabpy.tabpy_tools.client import Client


def doubled(_arg1):
    return [2 * value for value in _arg1]


def client(**options):
    made = Client(order["url"], **options)
    # TabPy's client switches verification off; on here (the requests it sends are the same).
    made._service.service_client.network_wrapper.session.verify = ca.name
    made.set_credentials(*order["credentials"])
    return made


said = {}
for label, call in (
        ("deploy", lambda: client().deploy(order["name"], doubled, "doubles")),
        ("deploy remote_server=True",
         lambda: client(remote_server=True).deploy(order["name"], doubled, "doubles")),
        ("remove", lambda: client().remove(order["name"]))):
    try:
        # the remote_server=True deploy prints the script it sends, credentials included
        with contextlib.redirect_stdout(io.StringIO()):
            said[label] = f"returned {call()!r}"
    except Exception as error:
        said[label] = f"{type(error).__name__}: {error}"
os.unlink(ca.name)
print(json.dumps(said))
'''

# On a TabPy host, as TabPy's account with its virtualenv's Python: TabPy's client on one
# process's own port, set up as the deploy's publisher sets it up (publisher._client: to
# 127.0.0.1, TLS verified for the host's name against its CA). argv[1]: the publisher's folder.
ON_ONE_PROCESS = '''
import json, sys
sys.path.insert(0, sys.argv[1])
import publisher

order = json.load(sys.stdin)
client = publisher._client(order, order["port"])
if order["action"] == "deploy":
    def doubled(_arg1):
        return [2 * value for value in _arg1]
    client.deploy(order["name"], doubled, "deployed on one process only")
else:
    client.remove(order["name"])
print(json.dumps(sorted(client.get_endpoints())))
'''


def ssh(host: str, command: str, order: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), host, command],
                          input=json.dumps(order), capture_output=True, text=True,
                          timeout=120, check=False)


def venv_python(host: str) -> str:
    return lab_host(host).check_output("readlink -f /etc/tabpy/current/venv") + "/bin/python"


def served_everywhere(plans) -> dict[str, dict | str]:
    """GET /endpoints of every TabPy process, each on its own port."""
    processes = [process for plan in plans.values() for process in check.host_processes(plan)]
    return check.served_by(processes, lambda calls: [call() for call in calls])


def query(plan, port: int | None = None, pool: bool = False) -> verify.Response:
    """POST /query/NAME on one process (its own port) or through the pool's name."""
    where = dict(plan.endpoint_args, port=port or plan["tabpy_port"])
    if pool:
        where = dict(where, fqdn=SERVICE, address=lab_hosts.SERVICE_NAMES[SERVICE], port=PORT)
    return verify.request("POST", "/query/" + urllib.parse.quote(NAME),
                          body={"data": {"_arg1": [1, 2]}}, credentials=plan.health_credentials,
                          **where)


def site_check() -> tuple[int, list[str]]:
    """site_check of the lab: its exit status and its FAIL lines."""
    done = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i",
                           "inventory/lab.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, check=False)
    return done.returncode, [line for line in done.stdout.splitlines() if " FAIL " in line]


def test_tabpys_client_through_the_pool_is_refused_saying_how_functions_are_published(
        converged):
    plans = lab_plans()
    plan = plans[TABPY_HOSTS[1]]
    order = {"url": f"https://{SERVICE}:{PORT}/", "name": NAME,
             "credentials": list(plan.health_credentials), "ca_pem": plan.tls.ca_pem.decode()}
    script = base64.b64encode(ANALYST.encode()).decode()
    # From a TabPy host (its virtualenv holds TabPy's client), as a user that can write
    # nowhere TabPy keeps its state: a deploy that got past the refusal could not stage a
    # model there either.
    command = ("f=$(mktemp /tmp/tabpy-client-XXXXXX.py) && "
               f"echo {shlex.quote(script)} | base64 -d > \"$f\" && chmod 0644 \"$f\" && "
               f"runuser -u nobody -- {shlex.quote(venv_python(plan.host))} -E -s -B \"$f\"; "
               "rc=$?; rm -f \"$f\"; exit $rc")
    done = ssh(plan.host, command, order)
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    print("\nTabPy's client through the pool:", json.dumps(said, indent=1))
    refusal = json.loads(REFUSAL)
    # deploy(): asks for the upload path first, refused before it writes anything
    assert said["deploy"] == f"ResponseError: (403) {refusal['message']} {refusal['info']}"
    # deploy(remote_server=True): its /evaluate script refused; the client returns the status
    assert said["deploy remote_server=True"] == "returned " + repr(f"403 - {REFUSAL}\n")
    assert said["remove"] == f"RuntimeError: {REFUSAL}"
    for found in served_everywhere(plans).values():
        assert isinstance(found, dict) and NAME not in found, found
    assert query(plan, pool=True).status == 404


def drained_restart(plan) -> None:
    """Restart the host's TabPy process out of both pools, back once its models are loaded and
    every balancer's own health check has it serving."""
    server = balancer.server_name(plan.host, plan["tabpy_port"])
    for lb in BALANCERS:
        lab_host(lb).check_output(balancer.runtime_command(balancer.set_state(server, "maint")))
    lab_host(plan.host).check_output(f"systemctl restart {plan.instances[0].unit}")
    loaded = verify.wait_for_tabpy(120, check=verify.check_models_loaded,
                                   credentials=plan.health_credentials, **plan.endpoint_args)
    for lb in BALANCERS:
        lab_host(lb).check_output(balancer.runtime_command(balancer.set_state(server, "ready")))
    assert loaded.ok, loaded.detail
    deadline = time.monotonic() + 30
    while True:
        stats = [balancer.parse_stat(lab_host(lb).check_output(balancer.runtime_command(
            balancer.SHOW_STAT))).get(server) for lb in BALANCERS]
        if all(stat is not None and stat.status == "UP" for stat in stats):
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.5)


def test_a_function_on_one_process_fails_site_check_and_the_balancers_naming_it(converged):
    plans = lab_plans()
    one, other = (plans[host] for host in TABPY_HOSTS)
    folder = f"{one['tabpy_install_dir']}/publisher"
    command = (f"runuser -u {shlex.quote(one['tabpy_system_user'])} -- "
               f"{shlex.quote(venv_python(one.host))} -E -s -B -c "
               f"{shlex.quote(ON_ONE_PROCESS)} {shlex.quote(folder)}")
    order = {"fqdn": one.fqdn, "https": True, "ca_file": one.ca_path,
             "credentials": list(one.health_credentials), "port": one["tabpy_port"],
             "name": NAME}
    done = ssh(one.host, command, {**order, "action": "deploy"})
    assert done.returncode == 0, done.stderr[-2000:]
    try:
        assert NAME in json.loads(done.stdout.strip().splitlines()[-1])
        answer = query(one)
        assert answer.status == 200 and answer.json()["response"] == [2, 4], answer
        assert query(other).status == 404
        expected = (f"'{NAME}': version 1 on {one.fqdn}:{one['tabpy_port']}; absent on "
                    f"{other.fqdn}:{other['tabpy_port']}")
        status, failed = site_check()
        print("\nsite_check with a function on one process:", *failed, sep="\n")
        assert status != 0
        assert len(failed) == 1, failed
        assert f"/endpoints behind {SERVICE}:{PORT}" in failed[0] and expected in failed[0]
        # the balancer's deploy proves the pool the same way, after every TabPy server
        run = pyinfra("--limit", BALANCERS[0], entry="deploy/balancer.py")
        assert run.returncode != 0
        assert f"the TabPy processes behind {SERVICE}:{PORT} serve different endpoints" \
            in run.output and expected in run.output, run.output[-3000:]
    finally:
        removed = ssh(one.host, command, {**order, "action": "remove"})
        assert removed.returncode == 0, removed.stderr[-2000:]
        assert NAME not in json.loads(removed.stdout.strip().splitlines()[-1])
        drained_restart(one)
    assert query(one).status == 404
    status, failed = site_check()
    assert (status, failed) == (0, []), failed

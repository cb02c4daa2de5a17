"""The analysts' side on the lab: function files and TabPy's pre-built models published on every
TabPy process (two per host here), each directly on its own port, answering through the pool;
an extra library and NLTK data in the virtualenv on both Debian versions, hosts offline.

Figures are printed as FIGURE lines (`pytest -s`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from lab import hosts as lab_hosts
from lab import paths
from tabpy_provision.functions import source
from tabpy_provision.server import verify
from tests.integration.conftest import (
    LAB_INVENTORY,
    PYINFRA,
    ROOT,
    TABPY_HOSTS,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)
from tests.load import Load

pytestmark = pytest.mark.lab

CLIENT = "client1.lab.test"
SERVICE = "tabpy.lab.test"
PORTS = (9101, 9102)
STEP = "Functions and pre-built models on every TabPy process, each answering its examples"
# add_one through /evaluate, as a dashboard's SCRIPT_ calls it: the load generator sends 41
# (double quotes: Load passes the script in single quotes on a shell command line).
QUERY_SCRIPT = 'return tabpy.query("add_one", _arg1)["response"][0]'

ADD_ONE = '''def add_one(_arg1):
    """Adds one to each value.

    >>> add_one([1, 2.5])
    [2, 3.5]
    """
    return [value + 1 for value in _arg1]
'''
# The same answers from another body: what a refactoring republishes.
ADD_ONE_REWRITTEN = '''def add_one(_arg1):
    """Adds one to each value (rewritten).

    >>> add_one([1, 2.5])
    [2, 3.5]
    """
    return list(map(lambda value: value + 1, _arg1))
'''
# A body whose answer its own example contradicts: it must never stay published.
ADD_ONE_WRONG = ADD_ONE_REWRITTEN.replace("value + 1", "value + 2")


def password(user: str) -> str:
    return (ROOT / "secrets/lab/tabpy_users" / user).read_text().strip()


def deploy(inventory: str, *, ok: bool = True):
    run = pyinfra("--json", inventory=inventory)
    assert (run.returncode == 0) is ok, run.stderr[-3000:]
    return run


def lost_no_request(result: dict, took: float) -> None:
    """The load ran through the whole deploy (not ended by its bounds first) and lost nothing."""
    assert result["failed"] == 0 and result["served"] > 0, result
    assert result["seconds"] > took, (took, result)


def published(run) -> list[tuple[str, str, int]]:
    """(host, function, port) of each publish the run logged."""
    return [(host, name, int(port)) for host, name, port in re.findall(
        r"\[(\S+)\]\s+published '([^']+)' on port (\d+)", run.stderr)]


def preview(inventory: str) -> str:
    """`pyinfra --dry` without -y (pyinfra's -y skips the detection of changes): its output."""
    done = subprocess.run([PYINFRA, "--dry", inventory, "deploy/site.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def query(plan, name: str, data, port: int | None = None, pool: bool = False):
    """POST /query/NAME on one process (its own port) or through the pool's name."""
    where = dict(plan.endpoint_args, port=port) if port else plan.endpoint_args
    if pool:
        where = dict(where, fqdn=SERVICE, address=lab_hosts.SERVICE_NAMES[SERVICE], port=9004)
    return verify.request("POST", "/query/" + urllib.parse.quote(name), body={"data": data},
                          credentials=plan.health_credentials, **where)


# The tests of the lab site as inventory/lab.py declares it come first: the two-process variant
# below stays in place until the module's last test.
@pytest.fixture(scope="module")
def processes(converged, tmp_path_factory):
    """The lab with two TabPy processes per host and a folder of one function; back to the
    lab inventory afterwards."""
    folder = tmp_path_factory.mktemp("functions")
    functions = folder / "functions"
    functions.mkdir()
    (functions / "add_one.py").write_text(ADD_ONE)
    inventory = lab_inventory_with(folder, tabpy_instances=2,
                                   tabpy_functions_dir=str(functions),
                                   tabpy_prebuilt_models=[])
    first = deploy(inventory)
    second = deploy(inventory)
    yield inventory, functions, first, second
    deploy(LAB_INVENTORY)


def test_the_lab_site_serves_its_models_and_functions_from_hosts_with_no_route_out(converged):
    """The main lab inventory: TabPy's pre-built models (Sentiment Analysis reads the VADER
    lexicon shipped with the wheelhouse) and functions/lab, checked on both Debian versions."""
    plans = lab_plans()
    declared = {function.name for plan in plans.values() for function in plan.functions}
    assert {"Sentiment Analysis", "anova", "ttest", "PCA", "add_one",
            "sentiment_label"} <= declared
    for plan in plans.values():
        routes = lab_host(plan.host).check_output("ip route show default; ip -6 route show "
                                                  "default")
        assert routes == "", routes  # no way out: nothing was downloaded
        answer = query(plan, "Sentiment Analysis", [["I love this", "This is terrible"]])
        assert answer.json()["response"] == [0.6369, -0.4767], answer
        data = lab_host(plan.host).check_output(
            "ls /etc/tabpy/current/venv/share/nltk_data/sentiment")
        assert data == "vader_lexicon.zip"


def test_the_declared_library_imports_in_evaluate_on_both_debian_versions(converged):
    for plan in lab_plans().values():
        wanted = [r for r in plan["tabpy_requirements"] if r.startswith("statsmodels")]
        assert wanted, plan["tabpy_requirements"]
        script = "import statsmodels; return statsmodels.__version__"
        answer = verify.request("POST", "/evaluate", body={"script": script, "data": {}},
                                credentials=plan.health_credentials, **plan.endpoint_args)
        assert answer.status == 200, answer
        assert f"statsmodels=={answer.json()}" == wanted[0], (plan.host, answer.body)


def test_a_requirement_conflicting_with_tabpys_pins_is_refused_before_any_host(converged,
                                                                                tmp_path):
    inventory = lab_inventory_with(tmp_path, tabpy_requirements=["numpy<2"])
    before = {host: lab_host(host).check_output("readlink /etc/tabpy/current")
              for host in TABPY_HOSTS}
    run = pyinfra(inventory=inventory)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.startswith("tabpy-provision:")
             and "refused (" not in line]
    assert lines and all("tabpy_requirements" in line and "numpy<2" in line
                         and "numpy==" in line for line in lines), lines
    assert "nothing was changed" in run.stderr
    assert before == {host: lab_host(host).check_output("readlink /etc/tabpy/current")
                      for host in TABPY_HOSTS}


def test_publisher_leaves_no_secret_behind(converged):
    """The publisher got the credentials on stdin: its record holds functions, no password."""
    for plan in lab_plans().values():
        record = lab_host(plan.host).file(f"{plan.instances[0].state_path}/"
                                          "tabpy-provision-functions.json")
        assert record.user == plan["tabpy_system_user"] and record.mode & 0o007 == 0
        text = record.content_string
        assert plan.health_password not in text
        assert set(json.loads(text)) == {function.name for function in plan.functions}


def test_the_publisher_verifies_tabpys_certificate_for_the_hosts_name(converged):
    """Negative control of its TLS: told another name than the certificate's, the publisher
    fails before it publishes anything (TabPy's own client would not have checked)."""
    plan = next(iter(lab_plans().values()))
    venv = lab_host(plan.host).check_output("readlink -f /etc/tabpy/current/venv")
    order = {"fqdn": "not-" + plan.fqdn, "https": True, "ca_file": plan.ca_path,
             "credentials": list(plan.health_credentials),
             "processes": [{"port": plan["tabpy_port"], "record": "/nonexistent/record"}],
             "functions": [f.to_publisher(venv) for f in plan.functions]}
    command = (f"runuser -u tabpy -- {venv}/bin/python -E -s "
               f"{plan['tabpy_install_dir']}/publisher/publisher.py")
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), plan.host, command],
                          input=json.dumps(order), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0
    assert "SSLError" in done.stderr and "not-" + plan.fqdn in done.stderr, done.stderr[-2000:]
    print("\npublisher told another name:", done.stderr.strip().splitlines()[-1][-200:])
    assert done.stdout == ""  # no report: nothing was published


def test_the_lab_function_files_pass_their_examples_as_declared():
    for function in source.read_folder(Path(ROOT / "functions/lab")):
        assert function.examples, function.name


def test_a_function_answers_on_every_process_and_through_the_pool_and_a_rerun_publishes_nothing(
        processes):
    inventory, _, first, second = processes
    assert {(host, port) for host, name, port in published(first) if name == "add_one"} == {
        (host, port) for host in TABPY_HOSTS for port in PORTS}
    assert second.changed() == {}
    assert not published(second)
    # each balancer proves it through its pool (shown at -v)
    shown = pyinfra("-v", inventory=inventory)
    assert shown.returncode == 0, shown.stderr[-3000:]
    for balancer in ("tabpylb1.lab.test", "tabpylb2.lab.test"):
        assert re.search(rf"\[{re.escape(balancer)}\]\s+noop: {SERVICE}: .*; the examples of 1 "
                         "function answered", shown.stdout + shown.stderr), shown.stderr[-3000:]
    plans = lab_plans(inventory)
    for plan in plans.values():
        for port in PORTS:
            answer = query(plan, "add_one", [[1, 2.5]], port=port)
            assert answer.status == 200 and answer.json()["response"] == [2, 3.5], answer
    table = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i", inventory],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert table.returncode == 0, table.stdout + table.stderr
    row = next(line for line in table.stdout.splitlines() if "/query/add_one" in line)
    assert "PASS" in row and all(f"{host}:{port}" in row for host in TABPY_HOSTS
                                 for port in PORTS) and f"{SERVICE}:9004" in row, row


def test_a_changed_body_republishes_once_per_process_losing_no_request(processes):
    inventory, functions, _, _ = processes
    (functions / "add_one.py").write_text(ADD_ONE_REWRITTEN)
    shown = preview(inventory)
    for host in TABPY_HOSTS:
        for port in PORTS:
            assert re.search(rf"\[{re.escape(host)}\]\s+functions on port {port}: "
                             r"publish changed 'add_one'\n", shown), shown[-3000:]
    assert "published 'add_one'" not in shown  # a preview publishes nothing
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4, seconds=120,
              max_requests=30_000, script=QUERY_SCRIPT, expect="42") as load:
        time.sleep(2)
        started = time.monotonic()
        run = deploy(inventory)
        took = time.monotonic() - started
        time.sleep(2)
    result = load.result
    lost_no_request(result, took)
    publishes = published(run)
    assert sorted((host, port) for host, name, port in publishes) == sorted(
        (host, port) for host in TABPY_HOSTS for port in PORTS)
    seconds = [float(s) for s in re.findall(r"published 'add_one' on port \d+ \(([\d.]+) s\)",
                                            run.stderr)]
    print(f"\nFIGURE republish of one function on 4 processes (2 hosts x 2): run {took:.1f} s, "
          f"per process {min(seconds):.1f}-{max(seconds):.1f} s; under load "
          f"{result['served']} served, {result['failed']} failed")
    rerun_started = time.monotonic()
    assert deploy(inventory).changed() == {}
    print(f"FIGURE rerun with the function in place: {time.monotonic() - rerun_started:.1f} s")


def test_a_wrong_answer_fails_the_host_and_rolls_the_function_back(processes):
    inventory, functions, _, _ = processes
    (functions / "add_one.py").write_text(ADD_ONE_WRONG)
    run = deploy(inventory, ok=False)
    assert "add_one([1, 2.5]) returned [3, 4.5], expected [2, 3.5]" in run.stderr
    assert "back to the version that passed before" in run.stderr
    for plan in lab_plans(inventory).values():
        for port in PORTS:
            answer = query(plan, "add_one", [[1, 2.5]], port=port)
            assert answer.json()["response"] == [2, 3.5], (plan.host, port, answer)
    (functions / "add_one.py").write_text(ADD_ONE_REWRITTEN)
    assert deploy(inventory).changed() == {}  # the rollback is what the folder says again


def test_a_removed_function_answers_404_everywhere(processes):
    inventory, functions, _, _ = processes
    (functions / "add_one.py").unlink()
    run = deploy(inventory)
    assert len(re.findall(r"removed 'add_one' from port", run.stderr)) == 4, run.stderr[-3000:]
    plans = lab_plans(inventory)
    for plan in plans.values():
        for port in PORTS:
            assert query(plan, "add_one", [[1]], port=port).status == 404
    assert query(next(iter(plans.values())), "add_one", [[1]], pool=True).status == 404
    assert deploy(inventory).changed() == {}


def test_a_library_change_is_a_new_release_rolled_through_the_pool_losing_no_request(
        processes, tmp_path):
    """Dropping the lab's extra library makes another virtualenv: a new release, rolled one
    process at a time behind the balancers while client1 calls through the pool."""
    inventory, functions, _, _ = processes
    without = lab_inventory_with(tmp_path, tabpy_instances=2, tabpy_functions_dir=str(functions),
                                 tabpy_prebuilt_models=[], tabpy_requirements=[])
    venvs = {host: lab_host(host).check_output("readlink -f /etc/tabpy/current/venv")
             for host in TABPY_HOSTS}
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4, seconds=180,
              max_requests=30_000) as load:
        time.sleep(2)
        started = time.monotonic()
        deploy(without)
        took = time.monotonic() - started
        time.sleep(2)
    result = load.result
    lost_no_request(result, took)
    print(f"\nFIGURE a library dropped, rolled on 4 processes (2 hosts x 2): run {took:.1f} s; "
          f"under load {result['served']} served, {result['failed']} failed")
    script = "import importlib.util; return importlib.util.find_spec('statsmodels') is None"
    for plan in lab_plans(without).values():
        assert lab_host(plan.host).check_output(
            "readlink -f /etc/tabpy/current/venv") != venvs[plan.host]
        for port in PORTS:
            answer = verify.request("POST", "/evaluate", body={"script": script, "data": {}},
                                    credentials=plan.health_credentials,
                                    **dict(plan.endpoint_args, port=port))
            assert answer.status == 200 and answer.json() is True, (plan.host, port, answer)
    assert deploy(without).changed() == {}

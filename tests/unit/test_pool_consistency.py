"""A pool never half-serves a function: the processes behind one name compared (what each
GET /endpoints lists), and the balancers refusing TabPy's client deploys (rendered HAProxy
configs, checked by `haproxy -c` where HAProxy is installed).

Pure: plans are built from inventory-like data; GET /endpoints is stood in for; nothing reaches
a host or the network."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.functions import check
from tabpy_provision.functions.consistency import differences, endpoints_problem, served_as
from tabpy_provision.functions.source import MARKER
from tabpy_provision.pool import balancer
from tabpy_provision.pool import deploy as pool_balancer
from tabpy_provision.pool.balancer import local_balancer
from tabpy_provision.server import render
from tests.unit.planning import planned, planned_balancer

HOST1, HOST2 = "tabpy1.example.com", "tabpy2.example.com"
SERVICE = "tabpy.example.com"
EXAMPLES = hypothesis_settings(max_examples=300, deadline=None, database=None)


def ours(digest: str, version: int = 1) -> dict:
    """An endpoint this deploy published (its digest at the end of the description)."""
    return {"description": f"Adds one. [tabpy-provision {digest}]", "version": version,
            "type": "model"}


def theirs(version: int = 1, kind: str = "model") -> dict:
    """An endpoint someone deployed with TabPy's client."""
    return {"description": "doubles", "version": version, "type": kind}


# --- the comparison (consistency.py) ----------------------------------------------------------

def test_an_endpoint_is_known_by_its_digest_when_the_deploy_published_it():
    assert served_as(ours("0123456789abcdef", version=3)) == \
        "tabpy-provision digest 0123456789abcdef"
    assert served_as(theirs(2)) == "version 2"
    assert served_as(theirs(1, "alias")) == "version 1 (alias)"
    assert MARKER.search(ours("0123456789abcdef")["description"])


def hosts_of(served: dict) -> dict:
    """label -> host, the label being host:port."""
    return {label: label.rsplit(":", 1)[0] for label in served}


def test_a_function_on_one_process_only_is_named_with_the_processes():
    served = {"tabpy1:9004": {"double": theirs()}, "tabpy2:9004": {}}
    assert differences(served, hosts_of(served)) == [
        "'double': version 1 on tabpy1:9004; absent on tabpy2:9004"]


def test_another_version_on_some_processes_is_named():
    served = {"a:9101": {"double": theirs(2)}, "a:9102": {"double": theirs(1)},
              "b:9101": {"double": theirs(2)}}
    assert differences(served, hosts_of(served)) == [
        "'double': version 2 on a:9101, b:9101; version 1 on a:9102"]


def test_the_same_content_at_another_version_is_no_difference():
    """A process added later gets version 1 of what the others hold at version 3."""
    served = {"a:9101": {"add_one": ours("0123456789abcdef", 3)},
              "a:9103": {"add_one": ours("0123456789abcdef", 1)}}
    assert differences(served, hosts_of(served)) == []


def test_another_digest_on_one_host_is_a_difference_on_another_host_it_is_not():
    """A host's processes share a virtualenv: two digests there are two contents. Another host
    may run another Python: the same file has another digest there."""
    stale = {"a:9101": {"add_one": ours("0123456789abcdef", 3)},
             "a:9102": {"add_one": ours("fedcba9876543210", 4)}}
    assert differences(stale, hosts_of(stale)) == [
        "'add_one': tabpy-provision digest 0123456789abcdef on a:9101; "
        "tabpy-provision digest fedcba9876543210 on a:9102"]
    other_python = {"a:9101": {"add_one": ours("0123456789abcdef")},
                    "a:9102": {"add_one": ours("0123456789abcdef")},
                    "b:9004": {"add_one": ours("fedcba9876543210")}}
    assert differences(other_python, hosts_of(other_python)) == []
    # ...but lacking it there, or serving someone else's endpoint of that name, differs
    lacking = {**other_python, "b:9004": {}}
    assert differences(lacking, hosts_of(lacking)) == [
        "'add_one': tabpy-provision digest 0123456789abcdef on a:9101, a:9102; absent on b:9004"]
    foreign = {**other_python, "b:9004": {"add_one": theirs(7)}}
    assert differences(foreign, hosts_of(foreign)) == [
        "'add_one': tabpy-provision digest 0123456789abcdef on a:9101, a:9102; version 7 on "
        "b:9004"]


def test_processes_serving_alike_make_no_line():
    same = {"add_one": ours("0123456789abcdef"), "double": theirs(4)}
    served = {"a:1": same, "b:2": dict(same), "c:3": dict(same)}
    assert differences(served, hosts_of(served)) == []
    assert differences({"a:1": {}, "b:2": {}}, {}) == []
    assert differences({}, {}) == []


@pytest.mark.parametrize(("answer", "problem"), [
    ({"double": theirs()}, None),
    ({}, None),
    ([], "not a JSON object: []"),
    ({"double": 1}, "'double' has no details: 1"),
])
def test_an_endpoints_answer_is_a_mapping_of_details(answer, problem):
    assert endpoints_problem(answer) == problem


# Generated sites: up to 6 processes on up to 3 hosts, each serving some of a few names, each
# name one of a few contents (ours by digest at any version, or theirs by version and type).
names = st.sampled_from(["add_one", "double", "Sentiment Analysis", "ttest"])
details = st.one_of(
    st.builds(ours, st.sampled_from(["0123456789abcdef", "fedcba9876543210"]),
              st.integers(1, 5)),
    st.builds(theirs, st.integers(1, 3), st.sampled_from(["model", "alias"])))
sites = st.lists(st.tuples(st.integers(1, 3), st.dictionaries(names, details, max_size=4)),
                 min_size=1, max_size=6).map(
    lambda found: {f"tabpy{host}.example.com:{9101 + i}": endpoints
                   for i, (host, endpoints) in enumerate(found)})


def _expected_flagged(served: dict) -> set[str]:
    """The rule spelled out another way: a name differs when its processes do not all lack
    it, all serve it as tabpy-provision published it, or all serve the same other version
    and type; or when one host's processes hold two digests of it."""
    flagged = set()
    for name in {name for endpoints in served.values() for name in endpoints}:
        seen = [endpoints.get(name) for endpoints in served.values()]
        kinds = {"absent" if d is None else "ours" if MARKER.search(d["description"])
                 else (d["version"], d["type"]) for d in seen}
        per_host = {}
        for label, endpoints in served.items():
            found = endpoints.get(name)
            if found is not None and MARKER.search(found["description"]):
                per_host.setdefault(hosts_of(served)[label], set()).add(
                    MARKER.search(found["description"]).group(1))
        if len(kinds) > 1 or any(len(digests) > 1 for digests in per_host.values()):
            flagged.add(name)
    return flagged


@EXAMPLES
@given(served=sites)
def test_a_name_is_reported_exactly_when_its_processes_serve_it_differently(served):
    flagged = {line.split(":", 1)[0].strip("'")
               for line in differences(served, hosts_of(served))}
    assert flagged == _expected_flagged(served)


@EXAMPLES
@given(served=sites)
def test_each_line_names_every_process_once_under_what_it_serves(served):
    for line in differences(served, hosts_of(served)):
        name, groups = line.split(": ", 1)
        seen = []
        for group in groups.split("; "):
            what, labels = group.split(" on ", 1)
            for label in labels.split(", "):
                found = served[label].get(name.strip("'"))
                assert what == ("absent" if found is None else served_as(found))
                seen.append(label)
        assert sorted(seen) == sorted(served)


@EXAMPLES
@given(served=sites, data=st.data())
def test_the_order_of_the_processes_changes_no_finding(served, data):
    order = data.draw(st.permutations(list(served)))
    again = differences({label: served[label] for label in order}, hosts_of(served))
    assert [line.split(":", 1)[0] for line in again] == \
        [line.split(":", 1)[0] for line in differences(served, hosts_of(served))]


@EXAMPLES
@given(served=sites, data=st.data())
def test_a_process_added_beside_one_changes_no_finding_but_its_own(served, data):
    """A new process serving what one of its host's processes serves (a scale-out, published
    at version 1) makes no new difference."""
    copied = data.draw(st.sampled_from(list(served)))
    host = copied.rsplit(":", 1)[0]
    fresh = {name: {**found, "version": 1} if MARKER.search(found["description"]) else found
             for name, found in served[copied].items()}
    grown = {**served, f"{host}:9999": fresh}
    assert [line.split(":", 1)[0] for line in differences(grown, hosts_of(grown))] == \
        [line.split(":", 1)[0] for line in differences(served, hosts_of(served))]


# --- the checks (check.py) --------------------------------------------------------------------

@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    monkeypatch.setenv("TABPY_MONITOR_PW", "monitor-password-1")
    return {"tabpy_users": {"tableau": "env:TABPY_TEST_PW", "monitor": "env:TABPY_MONITOR_PW"},
            "pki_dir": str(tmp_path / "pki"), "secrets_dir": str(tmp_path / "secrets")}


@pytest.fixture
def site(base):
    """tabpy1 with one process, tabpy2 with two behind its own balancer, a pool of both."""
    plans = {HOST1: planned(HOST1, {**base, "ssh_hostname": "192.0.2.1"}),
             HOST2: planned(HOST2, {**base, "ssh_hostname": "192.0.2.2", "tabpy_instances": 2,
                                    "tabpy_health_check_user": "monitor"})}
    pool = planned_balancer("tabpylb1.example.com",
                            {**base, "lb_service_name": SERVICE, "lb_monitor_user": "monitor",
                             "ssh_hostname": "192.0.2.10"},
                            list(plans.values()), {HOST1: "192.0.2.1", HOST2: "192.0.2.2"})
    return plans, pool


def one_by_one(calls):
    return [call() for call in calls]


def standing_in(monkeypatch, found: dict):
    """GET /endpoints of each process answered from `found` (by label; a str: unreadable)."""
    asked = []

    def served(process):
        asked.append(process.label)
        return found[process.label]

    monkeypatch.setattr(check, "served", served)
    return asked


def test_the_names_in_front_of_several_processes_are_the_host_balancer_and_the_pool(site):
    plans, pool = site
    groups = check.behind_names(plans, [pool, pool])  # two balancers of one pool: once
    assert {name: [p.label for p in found] for name, found in groups.items()} == {
        f"{HOST2}:9004": [f"{HOST2}:9101", f"{HOST2}:9102"],
        f"{SERVICE}:9004": [f"{HOST1}:9004", f"{HOST2}:9101", f"{HOST2}:9102"]}
    # each process on its own port, never through a balancer
    assert [p.where["port"] for p in groups[f"{SERVICE}:9004"]] == [9004, 9101, 9102]
    assert check.behind_names({HOST1: plans[HOST1]}, []) == {}  # one process: nothing to compare


def test_the_pools_processes_are_reached_as_the_balancer_verifies_them(site):
    _, pool = site
    (first, *_) = check.pool_processes(pool)
    assert first.label == f"{HOST1}:9004"
    assert first.where == {"fqdn": HOST1, "address": "192.0.2.1", "port": 9004, "https": True,
                           "ca_pem": pool.backend_ca_pem}
    assert first.credentials == ("monitor", "monitor-password-1")


def test_site_check_fails_a_function_served_by_one_process_naming_it_and_the_processes(
        site, monkeypatch):
    plans, pool = site
    lab = {"add_one": ours("0123456789abcdef")}
    asked = standing_in(monkeypatch, {f"{HOST1}:9004": {**lab, "double": theirs()},
                                      f"{HOST2}:9101": lab, f"{HOST2}:9102": lab})
    rows = check.consistency_rows(plans, [pool], one_by_one)
    assert sorted(asked) == sorted({f"{HOST1}:9004", f"{HOST2}:9101", f"{HOST2}:9102"})  # once
    assert rows == [
        {"host": "functions", "endpoint": f"/endpoints behind {HOST2}:9004", "result": "PASS",
         "detail": f"the same 1 endpoint on {HOST2}:9101, {HOST2}:9102"},
        {"host": "functions", "endpoint": f"/endpoints behind {SERVICE}:9004", "result": "FAIL",
         "detail": f"'double': version 1 on {HOST1}:9004; absent on {HOST2}:9101, {HOST2}:9102"}]


def test_site_check_fails_a_process_it_cannot_read(site, monkeypatch):
    plans, pool = site
    standing_in(monkeypatch, {f"{HOST1}:9004": {}, f"{HOST2}:9101": {},
                              f"{HOST2}:9102": "GET /endpoints answered HTTP 401"})
    rows = check.consistency_rows(plans, [pool], one_by_one)
    assert [(row["result"], row["detail"]) for row in rows] == [
        ("FAIL", f"{HOST2}:9102: GET /endpoints answered HTTP 401"),
        ("FAIL", f"{HOST2}:9102: GET /endpoints answered HTTP 401")]


def processes_of(found: dict) -> list[check.Process]:
    return [check.Process(label, label.rsplit(":", 1)[0], {}, None) for label in found]


def test_a_deploy_fails_naming_the_function_and_the_processes_and_skips_an_unread_one():
    found = {"a:9101": {"double": theirs(2)}, "a:9102": {"double": theirs(1)},
             "b:9101": {"double": theirs(2), "x": theirs()}, "b:9102": "ConnectionRefusedError"}
    ok, detail = check.alike("tabpy.example.com:9004", processes_of(found), found)
    assert not ok
    assert detail == ("the TabPy processes behind tabpy.example.com:9004 serve different "
                      "endpoints (a request answers by the process it reaches): 'double': "
                      "version 2 on a:9101, b:9101; version 1 on a:9102 | 'x': version 1 on "
                      "b:9101; absent on a:9101, a:9102 (docs/functions.md#one-name-one-set-"
                      "of-functions)")
    found = {"a:9101": {"double": theirs()}, "a:9102": {"double": theirs()},
             "b:9102": "ConnectionRefusedError: [Errno 111] Connection refused"}
    assert check.alike("a:9004", processes_of(found), found) == (
        True, "its 2 TabPy processes serve the same 1 endpoint (not read: b:9102: "
              "ConnectionRefusedError: [Errno 111] Connection refused)")


def test_the_balancers_deploy_fails_when_its_processes_differ(site, monkeypatch):
    from tabpy_provision.server import verify

    _, pool = site
    monkeypatch.setattr(verify, "wait_for_tabpy", lambda *a, **k: verify.CheckResult(
        True, "TabPy answered"))
    standing_in(monkeypatch, {f"{HOST1}:9004": {"double": theirs()}, f"{HOST2}:9101": {},
                              f"{HOST2}:9102": {}})
    ok, detail = pool_balancer._through_pool(pool)
    assert not ok
    assert f"'double': version 1 on {HOST1}:9004; absent on {HOST2}:9101, {HOST2}:9102 (" \
        in detail
    standing_in(monkeypatch, {label: {} for label in
                              (f"{HOST1}:9004", f"{HOST2}:9101", f"{HOST2}:9102")})
    assert pool_balancer._through_pool(pool) == (
        True, "TabPy answered; its 3 TabPy processes serve the same 0 endpoints")


def test_an_endpoints_answer_that_is_no_mapping_is_unreadable(monkeypatch):
    from tabpy_provision.server import verify

    process = check.Process("a:9101", "a", {"fqdn": "a", "address": "192.0.2.1", "port": 9101},
                            None)
    answers = iter([verify.Response(200, b'{"double": {"version": 1}}'),
                    verify.Response(401, b""), verify.Response(200, b"[]"),
                    verify.Response(200, b"<html>")])
    monkeypatch.setattr(verify, "request", lambda *a, **k: next(answers))
    assert check.served(process) == {"double": {"version": 1}}
    assert check.served(process) == "GET /endpoints answered HTTP 401"
    assert check.served(process) == "GET /endpoints: not a JSON object: []"
    assert check.served(process) == "GET /endpoints: not JSON: b'<html>'"


# --- the balancers refuse TabPy's client (templates/etc/haproxy/haproxy.cfg.j2) ---------------

REFUSED_IF = ("if endpoints !METH_GET || upload || evaluate client_script")


def refusal_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()
            if line.strip().startswith(("acl ", "http-request "))]


@pytest.mark.parametrize("kind", ["pool", "host"])
def test_every_balancer_refuses_the_paths_tabpys_client_deploys_and_removes_through(site, kind):
    plans, pool = site
    plan = pool if kind == "pool" else local_balancer(plans[HOST2])
    refusal = plan.publishing_refusal
    assert refusal_lines(balancer.render_config(plan)) == [
        "acl endpoints path /endpoints",
        "acl endpoints path_beg /endpoints/",
        "acl upload path /configurations/endpoint_upload_destination",
        "acl evaluate path /evaluate",
        "acl client_script req.body -m sub tabpy.tabpy_tools",
        "http-request deny deny_status 403 content-type application/json "
        f"string '{refusal}' {REFUSED_IF}"]
    said = json.loads(refusal)
    assert said["message"].startswith(f"{plan.service_name}:{plan.port} refuses to deploy")
    assert "tabpy_functions_dir" in said["info"] and "docs/functions.md" in said["info"]
    # single-quoted in the config; TabPy's remote_server=True deploy prints "null" as "Success"
    assert "'" not in refusal and "null" not in refusal


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed")
@pytest.mark.parametrize("kind", ["pool", "host", "http"])
def test_haproxy_accepts_the_rendered_configs(site, kind, tmp_path):
    plans, pool = site
    plan = {"pool": pool, "host": local_balancer(plans[HOST2]),
            "http": balancer.BalancerPlan(**{**pool.__dict__, "https": False, "tls": None,
                                             "backend_ca_pem": None})}[kind]
    service_pem, ca_file = tmp_path / "service.pem", tmp_path / "backend-ca.pem"
    if plan.tls is not None:
        service_pem.write_bytes(plan.tls.chain_pem + plan.tls.key_pem)
        ca_file.write_bytes(plan.backend_ca_pem)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render.haproxy_config(
        plan, ca_file=str(ca_file), service_pem=str(service_pem),
        socket=str(tmp_path / "admin.sock"), backend=balancer.BACKEND, marker=balancer.MARKER))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

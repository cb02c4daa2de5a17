"""`tabpy-provision check [-i INVENTORY] [--json]`: the verification table.

For every TabPy server of the inventory, and every pool balancer (through its service name),
from the controller, what Tableau does: HTTPS to the name with the certificate verified (the
private CA, or the OS trust store for supplied certificates), basic auth, GET /info and POST
/evaluate answering 42; plus the two refusals Tableau relies on (no credentials, wrong
password: 401). Then, from every Tableau Server node
whose connection is managed, Tableau's own "Test Connection" (over SSH: the node's OS trust
store, the configured name, port and credentials), Tableau Cloud's (from here, trusting only
the public roots), every client reaching each TabPy name through its own OS trust store, and
each Rserve server logged in to over TLS as Tableau does (a QAP login, `1+1`) and
refusing a wrong password, the password `*0` and plain QAP, the fence each TabPy server has
loaded
(who may reach its ports) against the one the inventory asks for, each published function
answering its examples on every TabPy process and through each pool, and, behind each name in
front of several TabPy processes (a host's own balancer, a pool), every process serving the
same endpoints (GET /endpoints of each: functions/consistency.py). Exit 1 when any row fails, 0 when
every row passes.
"""

from __future__ import annotations

import functools

from pyinfra.api import State
from pyinfra.context import ctx_host, ctx_state

from tabpy_provision import tableau
from tabpy_provision.cli import common
from tabpy_provision.controller.files import Staged
from tabpy_provision.firewall import site as fences
from tabpy_provision.firewall.facts import FenceLoaded
from tabpy_provision.functions import check as function_check
from tabpy_provision.pki.ca_names import permitted_sets
from tabpy_provision.pool.balancer import BalancerPlan
from tabpy_provision.rserve import verify as rserve_verify
from tabpy_provision.rserve.plan import RservePlan, plan_rserve
from tabpy_provision.run import remote
from tabpy_provision.run.preflight import (
    Preflight,
    plan_pools,
    tableau_pools,
)
from tabpy_provision.server import client_check, verify
from tabpy_provision.server.plan import TabpyServerPlan, plan_tabpy_server
from tabpy_provision.settings.groups import CLIENTS, RSERVE_SERVERS, TABPY_SERVERS
from tabpy_provision.settings.table import SettingsError
from tabpy_provision.tableau import cloud as tableau_cloud
from tabpy_provision.tableau.operations import tableau_side_check


def check_host(plan: TabpyServerPlan) -> dict[str, str]:
    return check_endpoint(plan.host, plan.endpoint_args, plan.health_credentials,
                          plan.settings.tabpy.tabpy_evaluate_enable)


def check_endpoint(host: str, where: dict, credentials: tuple[str, str] | None,
                   evaluate: bool) -> dict[str, str]:
    """Tableau's check of one endpoint (`where`: verify's keyword arguments), and the two
    refusals it relies on when authentication is on."""
    result = verify.check_tabpy(credentials=credentials, evaluate=evaluate, **where)
    row = {"host": host, "endpoint": f"{'https' if where['https'] else 'http'}://"
           f"{where['fqdn']}:{where['port']}", "result": "PASS" if result.ok else "FAIL",
           "detail": result.detail}
    if result.ok and credentials:
        refusals = []
        for label, creds in (("no auth", None), ("wrong password",
                                                  (credentials[0], "wrong-password"))):
            try:
                status = verify.request("GET", "/info", credentials=creds, **where).status
            except OSError as error:
                status = f"{type(error).__name__}"
            refusals.append(f"{label} {status}")
            if status != 401:
                row["result"] = "FAIL"
        row["detail"] += "; " + ", ".join(refusals)
    return row


def tableau_rows(state: State, tabpy_plans: list[TabpyServerPlan],
                 pools: dict[str, tuple[int, frozenset[str]]]) -> list[dict[str, str]]:
    """Tableau's Test Connection from every Tableau Server node whose connection is managed:
    over SSH, the node's python3 and OS trust store, the configured name and credentials."""
    rows = []
    with ctx_state.use(state):
        for host in state.inventory.get_group(tableau.GROUP, []):
            try:
                connection = tableau.plan_connection(host.name, host.data.dict(), tabpy_plans,
                                                     pools)
            except SettingsError as error:
                rows.append({"host": host.name, "endpoint": "-", "result": "FAIL",
                             "detail": "; ".join(error.problems)})
                continue
            if connection is None:
                continue
            problem = remote.connect_as_root(host)
            result = verify.CheckResult(False, problem) if problem else \
                tableau_side_check(host, connection)
            rows.append({"host": host.name, "endpoint": connection.url,
                         "result": "PASS" if result.ok else "FAIL", "detail": result.detail})
    return rows


def rserve_row(plan: RservePlan) -> dict[str, str]:
    """Tableau's login to one Rserve server, and the refusals it relies on."""
    ok, detail, _ = rserve_verify.login_check(plan)
    refused = rserve_verify.refusal_problems(plan) if ok else []
    if refused:
        ok, detail = False, f"{detail}; but {'; '.join(refused)}"
    elif ok:
        detail += "; refused a wrong password, *0 and plain QAP"
    return {"host": plan.host, "endpoint": f"qap+tls://{plan.fqdn}:{plan.port}",
            "result": "PASS" if ok else "FAIL", "detail": detail}


def client_rows(state: State, plans: dict[str, TabpyServerPlan],
                pools: dict[str, BalancerPlan],
                rserve: dict[str, RservePlan]) -> list[dict[str, str]]:
    """Each client (group clients) reaching every TabPy name over HTTPS and every Rserve name
    over TLS, verified through its own OS trust store only (client_check.py)."""
    endpoints = [(plan.fqdn, plan.settings.tabpy.tabpy_port) for plan in plans.values()
                 if plan.https]
    endpoints += list(dict.fromkeys((pool.service_name, pool.port) for pool in pools.values()
                                    if pool.https))
    qap = [(plan.fqdn, plan.port) for plan in rserve.values()]
    rows = []
    if not endpoints and not qap:
        return rows
    with ctx_state.use(state):
        for host in state.inventory.get_group(CLIENTS, []):
            problem = remote.connect_as_root(host)
            if problem:
                result = verify.CheckResult(False, problem)
            else:
                ran, output = remote.run(host, client_check.command(),
                                         stdin=client_check.stdin(endpoints, qap))
                result = client_check.result(host.name, ran, endpoints, output.stdout_lines,
                                             output.stderr_lines, qap)
            rows.append({"host": host.name, "endpoint": "OS trust store",
                         "result": "PASS" if result.ok else "FAIL", "detail": result.detail})
    return rows


def cloud_rows(inventory, plans: dict[str, TabpyServerPlan],
               pools: dict[str, BalancerPlan]) -> list[dict[str, str]]:
    """Tableau Cloud's Test Connection for every Cloud entry (group tableau_cloud), from the
    controller: TabPy's chain verified against the public roots only, basic auth, /evaluate."""
    rows = []
    for host in inventory.get_group(tableau_cloud.GROUP, []):
        try:
            plan = tableau_cloud.plan_tableau_cloud(host.name, host.data.dict(),
                                                    list(plans.values()),
                                                    tableau_pools(pools.values()))
        except SettingsError as error:
            rows.append({"host": host.name, "endpoint": "-", "result": "FAIL",
                         "detail": "; ".join(error.problems)})
            continue
        result = tableau_cloud.test_connection(plan, plans.values(), pools.values())
        rows.append({"host": f"{host.name} (Cloud)", "endpoint": plan.connection.url,
                     "result": "PASS" if result.ok else "FAIL",
                     "detail": f"Tableau Cloud's Test Connection: {result.detail}"})
    return rows


def fence_rows(state: State, plans: dict[str, TabpyServerPlan],
               pools: dict[str, BalancerPlan],
               rserve: dict[str, RservePlan]) -> list[dict[str, str]]:
    """The fence in force on each TabPy and Rserve server (read over SSH) against the planned
    one."""
    checked = Preflight(plans=plans, balancers=pools, rserve=rserve)
    rows = [{"host": line.split(":", 1)[0], "endpoint": "nftables", "result": "FAIL",
             "detail": line} for line in fences.plan_fences(state, checked)]
    with ctx_state.use(state):
        for name, fence in checked.fences.items():
            host = state.inventory.get_host(name)
            problem = remote.connect_as_root(host)
            if problem:
                rows.append({"host": name, "endpoint": "nftables", "result": "FAIL",
                             "detail": problem})
                continue
            with ctx_host.use(host):
                loaded = host.get_fact(FenceLoaded)
            if fence is None:
                ok, detail = loaded is None, "no fence (tabpy_firewall: false)" \
                    if loaded is None else "tabpy_firewall is false, but a fence is loaded"
            else:
                ok = loaded == fence.digest
                detail = "; ".join(fence.describe()) if ok else \
                    ("not loaded" if loaded is None else "differs from the inventory") + \
                    ": rerun the deploy"
            rows.append({"host": name, "endpoint": "nftables",
                         "result": "PASS" if ok else "FAIL", "detail": detail})
    return rows


#: The schema name of `check --json` (docs/cli.md).
SCHEMA = "tabpy-provision/check/1"


def register(sub) -> None:
    common.command(sub, "check", "the verification table: what Tableau does, from here and from "
                   "every Tableau node and client", __doc__, run, results="the rows")


def run(args) -> int:
    state = common.load_state(args)
    inventory = state.inventory
    files = Staged()  # a report: what planning would write is never applied
    permitted = permitted_sets(inventory)
    unplanned: list[dict[str, str]] = []

    def planned(group: str, planner) -> dict:
        found = {}
        for host in inventory.get_group(group, []):
            try:
                found[host.name] = planner(host.name, host.data.dict(), files=files,
                                           permitted=permitted)
            except SettingsError as error:
                unplanned.append({"host": host.name, "endpoint": "-", "result": "FAIL",
                                  "detail": "; ".join(error.problems)})
        return found

    plans = planned(TABPY_SERVERS, plan_tabpy_server)
    rserve = planned(RSERVE_SERVERS, plan_rserve)
    pools, problems = plan_pools(inventory, plans, files)
    unplanned += [{"host": line.split(":", 1)[0], "endpoint": "-", "result": "FAIL",
                   "detail": line} for line in problems]
    # Every check at once (greenlets): each waits on the network, not on this machine.
    checks = [*(functools.partial(lambda plan: [check_host(plan)], plan)
                for plan in plans.values()),
              *(functools.partial(lambda pool: [check_endpoint(
                  pool.host, pool.endpoint_args, pool.check_credentials, pool.evaluate)], pool)
                for pool in pools.values()),
              lambda: tableau_rows(state, list(plans.values()), tableau_pools(pools.values())),
              lambda: cloud_rows(inventory, plans, pools),
              *(functools.partial(lambda plan: [rserve_row(plan)], plan)
                for plan in rserve.values()),
              lambda: client_rows(state, plans, pools, rserve),
              *function_check.checks(plans, pools.values()),
              lambda: function_check.consistency_rows(plans, pools.values(), remote.at_once)]
    if not problems:
        checks.append(lambda: fence_rows(state, plans, pools, rserve))
    rows = list(unplanned)
    with ctx_state.use(state):  # set once, here, for the greenlets
        for found in remote.at_once(checks):
            rows += found
    passed = bool(rows) and all(r["result"] == "PASS" for r in rows)
    if args.json:
        common.print_json({"schema": SCHEMA, "ok": passed, "rows": rows})
    else:
        print(table(rows))
    return common.OK if passed else common.ERROR


def table(rows: list[dict[str, str]]) -> str:
    columns = ("host", "endpoint", "result", "detail")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns} if rows else {}
    lines = ["  ".join(c.ljust(widths.get(c, len(c))) for c in columns)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)

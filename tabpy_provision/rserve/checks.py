"""The Rserve servers' part of the run's checks (pyinfra side): each host's plan, its
distribution, and its values against what the host already has (an account, folders, a unit,
a port in use: run/host_claims.py), every host at once, before any host is touched."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pyinfra.api.host import Host
from pyinfra.api.state import State

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged
from tabpy_provision.platforms import Platform
from tabpy_provision.rserve.plan import (
    ACCOUNT_COMMENT,
    OWNED_FOLDERS,
    RservePlan,
    beside_tabpy_problems,
    plan_rserve,
)
from tabpy_provision.run import host_checks, host_claims, remote
from tabpy_provision.run.facts import HostClaims
from tabpy_provision.server.plan import TabpyServerPlan
from tabpy_provision.settings.groups import RSERVE_SERVERS
from tabpy_provision.settings.table import SettingsError


def plan_rserve_servers(state: State, files: Staged, permitted: Mapping[Path, pki.Permitted],
                        platform_of: Callable[[Host, list[str]], Platform | None],
                        rotation: Callable[[dict], frozenset[str] | None],
                        ) -> tuple[dict[str, RservePlan], list[str]]:
    """Each Rserve server's plan; `platform_of`: the host's distribution (None with a problem
    line); `rotation`: the users a host's data asks to rotate (run/preflight.py)."""
    plans: dict[str, RservePlan] = {}
    problems: list[str] = []
    for host in state.inventory.get_group(RSERVE_SERVERS, []):
        data = host.data.dict()
        try:
            plan = plan_rserve(host.name, data, files=files, permitted=permitted,
                               rotate=rotation(data))
        except SettingsError as error:
            problems += error.problems
            continue
        platform = platform_of(host, problems)
        if platform is None:
            continue
        if platform.packager != "apt":
            problems.append(f"{host.name}: {RSERVE_SERVERS}: Rserve comes from Debian's packages "
                            f"(r-cran-rserve): {platform.name} has none")
            continue
        plans[host.name] = plan
    return plans, problems


def claim_problems(state: State, plans: Mapping[str, RservePlan],
                   tabpy_plans: Mapping[str, TabpyServerPlan]) -> list[str]:
    """Each Rserve server's names against what its host has, and against its TabPy server's
    (`tabpy_plans`) when it serves both."""
    problems = [line for name, plan in plans.items() if name in tabpy_plans
                for line in beside_tabpy_problems(name, plan.values, tabpy_plans[name].values,
                                                  host_checks.tabpy_ports(tabpy_plans[name]))]
    hosts = [state.inventory.get_host(name) for name in plans]
    found = remote.on_every_host(hosts, lambda host: _problems(host, plans[host.name]))
    return problems + [line for lines in found for line in lines]


def _problems(host: Host, plan: RservePlan) -> list[str]:
    v = plan.values
    account, service = v["rserve_system_user"], v["rserve_service_name"]
    found = host_claims.parse(host.get_fact(
        HostClaims, account=account, paths=[v[name] for name in OWNED_FOLDERS],
        service=service))
    problems = host_claims.account_problems(host.name, account, v["rserve_workdir"], found,
                                            "rserve_system_user", ACCOUNT_COMMENT, "Rserve")
    ours_account = found.account is not None and host_claims.account_is_ours(
        found.account, v["rserve_workdir"], ACCOUNT_COMMENT)
    problems += host_claims.folder_problems(host.name, v, found, ours_account, OWNED_FOLDERS,
                                            "rserve_system_user", "Rserve")
    foreign_unit = host_claims.unit_problems(host.name, service, found, "rserve_service_name")
    problems += foreign_unit
    ours = set() if foreign_unit else {plan.unit}
    problems += host_claims.port_problems(host.name, {v["rserve_port"]: "rserve_port"}, ours,
                                          found)
    return problems

"""Each TabPy server's and pool balancer's values checked against what its host already is
(run/host_claims.py), read with one command per host, every host at once (pyinfra side)."""

from __future__ import annotations

from pyinfra.api.host import Host
from pyinfra.api.state import State

from tabpy_provision.pool.balancer import BalancerPlan
from tabpy_provision.run import host_claims, remote
from tabpy_provision.run.facts import HostClaims
from tabpy_provision.server.plan import TabpyServerPlan

HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf"


def claim_problems(state: State, plans: dict[str, TabpyServerPlan],
                   balancers: dict[str, BalancerPlan]) -> list[str]:
    hosts = [state.inventory.get_host(name) for name in {*plans, *balancers}]
    found = remote.on_every_host(
        hosts, lambda host: _problems(host, plans.get(host.name), balancers.get(host.name)))
    return [line for lines in found for line in lines]


def tabpy_ports(plan: TabpyServerPlan) -> dict[int, str]:
    """The ports a TabPy server takes on its host -> the setting that gives each."""
    v = plan.values
    ports = {v["tabpy_port"]: "tabpy_port"}
    if plan.local_balancer:
        ports.update({i.port: "tabpy_instance_ports_start" for i in plan.instances})
    if v["tabpy_arrow_enable"]:
        ports[v["tabpy_arrowflight_port"]] = "tabpy_arrowflight_port"
    return ports


def _problems(host: Host, plan: TabpyServerPlan | None, pool: BalancerPlan | None) -> list[str]:
    v = plan.values if plan else {}
    account = v.get("tabpy_system_user", "haproxy")
    paths = [v[name] for name in host_claims.OWNED_FOLDERS] if plan else []
    service = v.get("tabpy_service_name", "haproxy")
    found = host_claims.parse(host.get_fact(HostClaims, account=account, paths=paths,
                                            service=service))
    problems: list[str] = []
    ours: set[str] = set()
    wanted: dict[int, str] = {}
    configs = {}
    if plan:
        ours_account = found.account is not None and host_claims.account_is_ours(
            found.account, v["tabpy_state_path"])
        problems += host_claims.account_problems(host.name, account, v["tabpy_state_path"],
                                                 found)
        problems += host_claims.folder_problems(host.name, v, found, ours_account)
        foreign_unit = host_claims.unit_problems(host.name, service, found)
        problems += foreign_unit
        if not foreign_unit:  # a unit of that name is TabPy's only when it is ours
            ours |= host_claims.tabpy_units(service, (i.port for i in plan.instances))
        wanted.update(tabpy_ports(plan))
        if plan.local_balancer:
            configs[HAPROXY_CONFIG] = "tabpy_instances"
    if pool:
        wanted[pool.port] = "lb_port"
        configs[HAPROXY_CONFIG] = "lb_service_name"
        if pool.vrrp:
            configs[KEEPALIVED_CONFIG] = "lb_virtual_address"
    haproxy = found.configs.get(HAPROXY_CONFIG)
    if haproxy is None or haproxy[0].startswith(host_claims.MARKER):
        ours.add("haproxy.service")  # ours, or one without a config of its own yet
    problems += host_claims.port_problems(host.name, wanted, ours, found)
    for path, setting in configs.items():
        problems += host_claims.config_problems(
            host.name, setting, host_claims.HostState(
                configs={path: found.configs[path]} if path in found.configs else {}))
    return problems

"""Each TabPy and Rserve server's fence planned from the inventory (pyinfra side of
rules.py and outbound.py): the addresses of the hosts and groups it lists, the balancers in
front, the controller, and where each service's user may connect."""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

from pyinfra import logger
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from tabpy_provision import firewall
from tabpy_provision.firewall import addresses, outbound
from tabpy_provision.firewall.facts import Nameservers
from tabpy_provision.server.plan import TabpyServerPlan


def plan_fences(state: State, result: Any) -> list[str]:
    """Each TabPy and Rserve server's fence (`result`: the run's Preflight): who may reach its
    ports (firewall/rules.py), one table for a host serving both; a list that lets everyone in
    or out, as tabpy_fence_allow_everyone allows, is a warning line."""
    inventory = state.inventory
    groups = {name: [h.name for h in members] for name, members in inventory.groups.items()}
    address_of = functools.cache(
        lambda name: addresses.host_addresses(name, inventory.get_host(name).data.dict()))
    problems = []
    for name, plan in result.plans.items():
        tabpy, network = plan.settings.tabpy, plan.settings.network
        if not network.tabpy_firewall:
            result.fences[name] = None
            continue
        pools = [pool for pool in result.balancers.values()
                 if name in {server.host for server in pool.servers}]
        reach, problems_out = outbound.destinations(
            [*network.tabpy_outbound_allowed, *_oauth_destinations(plan, inventory)],
            lambda target: addresses.host_addresses(target, {}),
            f"{name}: tabpy_outbound_allowed")
        problems += problems_out
        fence, found = firewall.plan_firewall(
            name, service_port=tabpy.tabpy_port,
            process_ports=[instance.port for instance in plan.instances],
            allowed=network.tabpy_allowed_sources, groups=groups, address_of=address_of,
            balancers={pool.host: [*address_of(pool.host),
                                   *([pool.vrrp.address] if pool.vrrp else [])]
                       for pool in pools},
            controller=addresses.controller_source(plan.connect_address),
            user=tabpy.tabpy_system_user, outbound=reach, arrow_port=plan.arrow_port,
            allow_everyone=network.tabpy_fence_allow_everyone)
        problems += found
        result.fences[name] = fence
    for name, plan in result.rserve.items():
        rserve, network = plan.settings.rserve, plan.settings.network
        if not network.tabpy_firewall:
            result.fences.setdefault(name, None)
            continue
        reach, problems_out = outbound.destinations(
            list(rserve.rserve_outbound_allowed),
            lambda target: addresses.host_addresses(target, {}),
            f"{name}: rserve_outbound_allowed")
        problems += problems_out
        fence, found = firewall.plan_firewall(
            name, service_port=plan.port, process_ports=[],
            allowed=rserve.rserve_allowed_sources, groups=groups, address_of=address_of,
            balancers={}, controller=addresses.controller_source(plan.connect_address),
            user=rserve.rserve_system_user, outbound=reach,
            allow_everyone=network.tabpy_fence_allow_everyone, service="rserve")
        problems += found
        tabpy_fence = result.fences.get(name)
        result.fences[name] = tabpy_fence.joined(fence) if tabpy_fence and fence else fence
    for fence in result.fences.values():
        for line in fence.warnings if fence else ():
            logger.warning(f"tabpy-provision: {line}")
    return problems


def _oauth_destinations(plan: TabpyServerPlan, inventory: Inventory) -> list[str]:
    """With OAuth on, TabPy fetches its issuer's keys: those hosts, and the host's DNS
    resolvers (a loopback stub needs nothing)."""
    tabpy = plan.settings.tabpy
    if not tabpy.tabpy_oauth_enabled:
        return []
    found = []
    for url in (tabpy.tabpy_oauth_issuer, tabpy.tabpy_oauth_jwks_uri):
        parts = urllib.parse.urlsplit(url or "")
        if parts.hostname:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            found.append(f"{host}:{parts.port or 443}")
    resolvers = inventory.get_host(plan.host).get_fact(Nameservers)
    return found + [f"{item}:53/{protocol}" for item in resolvers for protocol in ("udp", "tcp")]

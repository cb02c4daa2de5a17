"""A published function checked from outside, the way a dashboard calls it: each example
through POST /query/NAME over verified TLS with basic auth; and what the TabPy processes
behind one name serve (GET /endpoints of each, compared: consistency.py). Pure: no pyinfra
import."""

from __future__ import annotations

import functools
import http.client
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tabpy_provision.functions.consistency import differences, endpoints_problem
from tabpy_provision.functions.source import Function
from tabpy_provision.pool.balancer import BalancerPlan
from tabpy_provision.server import verify
from tabpy_provision.server.plan import TabpyServerPlan


def example_problem(function: Function, where: dict,
                    credentials: tuple[str, str] | None) -> str | None:
    """Why `function` does not answer its examples at `where` (verify's keyword arguments:
    fqdn, address, port, https, ca_pem), or None."""
    path = "/query/" + urllib.parse.quote(function.name, safe="")
    for example in function.examples:
        try:
            response = verify.request("POST", path, body={"data": example.data},
                                      credentials=credentials, **where)
        except ssl.SSLCertVerificationError as error:
            return f"TLS verification failed: {error.verify_message}"
        except (OSError, http.client.HTTPException) as error:
            return f"{type(error).__name__}: {error}"
        if response.status != 200:
            return f"{example.call}: HTTP {response.status} " \
                   f"{response.body[:200].decode(errors='replace')}"
        try:
            answer = response.json().get("response")
        except (ValueError, AttributeError):
            return f"{example.call}: not a JSON answer: {response.body[:100]!r}"
        if problem := example.answer_problem(answer):
            return problem
    return None


@dataclass(frozen=True)
class Place:
    """Where a function is checked: a TabPy process on its own port, or a pool's name."""
    label: str
    function: Function  # as this place's host declares it
    where: dict = field(repr=False)  # verify's keyword arguments
    credentials: tuple[str, str] | None = field(repr=False)


def row(name: str, places: list[Place], missing: list[str]) -> dict[str, str]:
    """One verification-table row for a function: its examples at every place; `missing`:
    pools in front of a host that does not declare it (they answer 404 there)."""
    failures = [f"{place.label}: {problem}" for place in places
                if (problem := example_problem(place.function, place.where, place.credentials))]
    failures += missing
    count = len(places[0].function.examples) if places else 0
    detail = "; ".join(failures) if failures else (
        f"{count} example{'s' if count > 1 else ''} answered at "
        + ", ".join(place.label for place in places))
    return {"host": "functions", "endpoint": f"/query/{name}",
            "result": "FAIL" if failures else "PASS", "detail": detail}


def checks(plans: Mapping[str, TabpyServerPlan],
           pools: Iterable[BalancerPlan]) -> list[Callable[[], list[dict[str, str]]]]:
    """One check (a table row) per published function: its examples on every TabPy process
    that declares it, each on its own port, and through every pool in front of them."""
    places: dict[str, list[Place]] = {}
    missing: dict[str, list[str]] = {}
    for plan in plans.values():
        for function in plan.functions:
            places.setdefault(function.name, []).extend(
                Place(f"{plan.fqdn}:{instance.port}", function,
                      dict(plan.endpoint_args, port=instance.port), plan.health_credentials)
                for instance in plan.instances)
    services = {}
    for pool in pools:
        services.setdefault((pool.service_name, pool.port), pool)
    for (service, port), pool in services.items():
        behind = [plans[host] for host in dict.fromkeys(s.host for s in pool.servers)
                  if host in plans]
        for name in {function.name for plan in behind for function in plan.functions}:
            declared = [f for plan in behind for f in plan.functions if f.name == name]
            lacking = [plan.host for plan in behind
                       if name not in {f.name for f in plan.functions}]
            if lacking:
                missing.setdefault(name, []).append(
                    f"{service}:{port}: not declared on {', '.join(lacking)}, which the pool "
                    "also sends it to (404)")
            else:
                places[name].append(Place(f"{service}:{port}", declared[0],
                                          pool.endpoint_args, pool.check_credentials))
    return [functools.partial(lambda *args: [row(*args)], name, found, missing.get(name, []))
            for name, found in places.items()]


# --- what the processes behind one name serve ----------------------------------------------


#: What to do about processes serving different endpoints.
HELP = "docs/functions.md#one-name-one-set-of-functions"


@dataclass(frozen=True)
class Process:
    """One TabPy process, on its own port, as a check reaches it."""
    label: str  # fqdn:port
    host: str  # inventory name: a host's processes share one virtualenv
    where: dict = field(repr=False)  # verify's keyword arguments
    credentials: tuple[str, str] | None = field(repr=False)


def host_processes(plan: TabpyServerPlan) -> list[Process]:
    """Every TabPy process of a host, each on its own port, as the controller reaches it."""
    return [Process(f"{plan.fqdn}:{instance.port}", plan.host,
                    dict(plan.endpoint_args, port=instance.port), plan.health_credentials)
            for instance in plan.instances]


def pool_processes(pool: BalancerPlan) -> list[Process]:
    """Every TabPy process behind a pool balancer, as the controller reaches it from the
    pool's plan: each host's address and name, the CAs the balancer verifies them with, the
    monitor user (declared alike on every one)."""
    return [Process(f"{server.fqdn}:{server.port}", server.host,
                    dict(fqdn=server.fqdn, address=server.address, port=server.port,
                         https=pool.https, ca_pem=pool.backend_ca_pem), pool.check_credentials)
            for server in pool.servers]


def served(process: Process) -> dict | str:
    """GET /endpoints of one process: name -> details, or why it could not be read."""
    try:
        response = verify.request("GET", "/endpoints", credentials=process.credentials,
                                  **process.where)
    except ssl.SSLCertVerificationError as error:
        return f"TLS verification failed: {error.verify_message}"
    except (OSError, http.client.HTTPException) as error:
        return f"{type(error).__name__}: {error}"
    if response.status != 200:
        return f"GET /endpoints answered HTTP {response.status}"
    try:
        answer = response.json()
    except ValueError:
        return f"GET /endpoints: not JSON: {response.body[:100]!r}"
    problem = endpoints_problem(answer)
    return f"GET /endpoints: {problem}" if problem else answer


def served_by(processes: Iterable[Process],
              at_once: Callable[[Iterable[Callable[[], Any]]], list]) -> dict[str, dict | str]:
    """What each process serves (served), by label, read at once (`at_once`: the caller's
    way, e.g. remote.at_once's greenlets)."""
    processes = list(processes)
    return dict(zip((process.label for process in processes),
                    at_once(functools.partial(served, process) for process in processes),
                    strict=True))


def alike(name: str, processes: Iterable[Process],
          found: Mapping[str, dict | str]) -> tuple[bool, str]:
    """A deploy's check of the processes behind `name` (`found`: their served_by): fails
    naming each endpoint they serve differently and where; a process that could not be read
    is named but does not fail it (the balancer's own health checks keep such a process
    out)."""
    read = {label: endpoints for label, endpoints in found.items() if isinstance(endpoints, dict)}
    lines = differences(read, {process.label: process.host for process in processes})
    if lines:
        return False, (f"the TabPy processes behind {name} serve different endpoints (a "
                       "request answers by the process it reaches): " + " | ".join(lines)
                       + f" ({HELP})")
    unread = [f"{label}: {why}" for label, why in found.items() if isinstance(why, str)]
    return True, (f"its {len(read)} TabPy processes serve the same {_endpoints(read)}"
                  + (f" (not read: {'; '.join(unread)})" if unread else ""))


def behind_names(plans: Mapping[str, TabpyServerPlan],
                 pools: Iterable[BalancerPlan]) -> dict[str, list[Process]]:
    """Every name in front of several TabPy processes (a host's own balancer; each pool, once
    per service name and port) -> its processes, each reached on its own port."""
    groups = {f"{plan.fqdn}:{plan.settings.tabpy.tabpy_port}": host_processes(plan)
              for plan in plans.values() if plan.local_balancer}
    for pool in pools:
        hosts = dict.fromkeys(server.host for server in pool.servers)
        groups.setdefault(f"{pool.service_name}:{pool.port}", [
            process for host in hosts if host in plans for process in host_processes(plans[host])])
    return {name: processes for name, processes in groups.items() if len(processes) > 1}


def consistency_rows(plans: Mapping[str, TabpyServerPlan], pools: Iterable[BalancerPlan],
                     at_once: Callable[[Iterable[Callable[[], Any]]], list]) -> list[dict]:
    """site_check's rows: for each name in front of several processes, one row per endpoint
    they serve differently and per process that could not be read (FAIL), else one PASS."""
    groups = behind_names(plans, pools)
    found = served_by({process.label: process for processes in groups.values()
                       for process in processes}.values(), at_once)
    rows = []
    for name, processes in groups.items():
        mine = {process.label: found[process.label] for process in processes}
        read = {label: endpoints for label, endpoints in mine.items()
                if isinstance(endpoints, dict)}
        lines = differences(read, {process.label: process.host for process in processes}) + [
            f"{label}: {why}" for label, why in mine.items() if isinstance(why, str)]
        rows += [{"host": "functions", "endpoint": f"/endpoints behind {name}",
                  "result": "FAIL" if lines else "PASS", "detail": detail}
                 for detail in lines or [f"the same {_endpoints(read)} on " + ", ".join(mine)]]
    return rows


def _endpoints(read: Mapping[str, dict]) -> str:
    count = len({endpoint for endpoints in read.values() for endpoint in endpoints})
    return f"{count} endpoint{'' if count == 1 else 's'}"

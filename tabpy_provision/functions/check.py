"""A published function checked from outside, the way a dashboard calls it: each example
through POST /query/NAME over verified TLS with basic auth. Pure: no pyinfra import."""

from __future__ import annotations

import functools
import http.client
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tabpy_provision import verify
from tabpy_provision.functions.source import Function
from tabpy_provision.plan import TabpyServerPlan
from tabpy_provision.pool.balancer import BalancerPlan


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

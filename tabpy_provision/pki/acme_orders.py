"""ACME orders in a run (pyinfra glue; the pure side is pki/acme.py, the client
pki/acme_client.py): the certificates the plans could not reuse are ordered once every check of
every host passed, only by a real run, and the plans then hold them."""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import click
from pyinfra import logger
from pyinfra.api.inventory import Inventory

from tabpy_provision.controller.files import Staged
from tabpy_provision.run import remote


def ordering_allowed(argv: list[str] | None = None) -> bool:
    """Whether this run goes on to change things: the pyinfra command without --dry (its
    arguments read as pyinfra reads them: deploy files load in greenlets, without click's
    context). Reports and previews never order: an order is a change at the CA, and ACME CAs
    rate-limit them."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]) if argv else Path()
    if program.name != "pyinfra" and program.parent.name not in ("pyinfra", "pyinfra_cli"):
        return False
    from pyinfra_cli.cli import cli
    try:
        context = cli.make_context("pyinfra", list(argv[1:]), resilient_parsing=True)
    except click.ClickException:
        return False
    return context.params.get("dry") is False


def order_acme_certificates(plans: dict, balancers: dict, files: Staged,
                            inventory: Inventory) -> list[str]:
    """Order what the plans could not reuse, once per certificate (balancers of one service
    share it), after every check passed. A failed renewal leaves the current certificate
    serving (the host fails at the end of its run); a first order that fails stops the run."""
    planned = {**plans, **balancers}
    wanted: dict[Path, list[str]] = {}
    for name, plan in planned.items():
        if plan.tls is not None and plan.tls.acme_order is not None:
            wanted.setdefault(plan.tls.acme_order.folder, []).append(name)
    if not wanted:
        return []
    if not ordering_allowed():
        for hosts in wanted.values():
            order = planned[hosts[0]].tls.acme_order
            files.action(f"order an ACME certificate for {', '.join(order.names)} from "
                         f"{order.directory_url} ({order.reason})", lambda: None)
        return []
    # imported here: only a run that orders pays for the ACME client and its HTTP library
    from tabpy_provision.pki import acme_client
    problems = []
    for hosts in wanted.values():
        tls = planned[hosts[0]].tls
        order = tls.acme_order
        logger.info(f"--> ACME: ordering a certificate for {', '.join(order.names)} from "
                    f"{order.directory_url} ({order.reason})")
        try:
            chain_pem, key_pem = acme_client.order_certificate(
                order, files, log=lambda line: logger.info(f"    {line}"),
                serve_http01=functools.partial(
                    _responders, [inventory.get_host(host) for host in hosts],
                    timeout=order.timeout))
            ordered = replace(tls, chain_pem=chain_pem, key_pem=key_pem, acme_order=None,
                              notes=(*tls.notes, f"ACME certificate ordered: {order.reason}"))
        except (acme_client.AcmeError, ConnectionError) as error:
            failure = (f"ACME order for {order.names[0]} at {order.directory_url} failed: "
                       f"{error}")
            if order.current is None:
                problems += [f"{host}: acme_directory_url: {failure}" for host in hosts]
                continue
            logger.warning(f"tabpy-provision: {', '.join(hosts)}: {failure}; the current "
                           "certificate keeps serving")
            ordered = replace(tls, chain_pem=order.current.chain_pem,
                              key_pem=order.current.key_pem, acme_order=None, acme_error=failure)
        for host in hosts:
            holder = plans if host in plans else balancers
            holder[host] = replace(holder[host], tls=ordered)
    return problems


@contextlib.contextmanager
def _responders(hosts: list, tokens: Mapping[str, str], *, timeout: float) -> Iterator[None]:
    """HTTP-01: every host serving the names answers the tokens on port 80 while in the block
    (a pool's name: each of its balancers, wherever its address is)."""
    from tabpy_provision.pki.acme_client import HTTP01_RESPONDER, AcmeError
    with contextlib.ExitStack() as stack:
        for host in hosts:
            answer = stack.enter_context(remote.session(
                host, f"python3 -c {shlex.quote(HTTP01_RESPONDER)}",
                json.dumps(dict(tokens)).encode() + b"\n", timeout))
            if answer != "ready":
                raise AcmeError(f"{host.name}: HTTP-01: {answer}")
        yield

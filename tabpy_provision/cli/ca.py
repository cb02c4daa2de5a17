"""`tabpy-provision ca STEP [-i INVENTORY]`: rotate the private CA, one step at a time.

    rotate-intermediate  a new intermediate under the same root, at once; the next deploy
                         re-issues every leaf (TabPy restarts once); clients trusting the root
                         never notice
    rotate-root          1/3: stage a new root; the next deploy makes every client trust it too
                         (how a CA without name constraints moves to a constrained one)
    activate-root        2/3: the new root signs; the next deploy gives every server a leaf from
                         it (clients still trust the old root as well). Refused while the staged
                         root does not permit a name of the inventory
    retire-root          3/3: retire the old root; the next deploy removes it from every client.
                         Refused while a TabPy server still serves a chain from it (the chain is
                         read over TLS); --force retires anyway

It applies to every private CA (pki_dir) used by the inventory's TabPy servers. A new root or
intermediate is constrained to the names of every TabPy server and pool balancer that uses the
CA, and pki_permitted_names (ca_names.py). Each step prints what to run next. See
docs/certificates.md, "Renewal and rotation" and "Name constraints".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.cli import common
from tabpy_provision.controller.files import ControllerFileError
from tabpy_provision.pki.ca_names import CaNames, private_ca_names
from tabpy_provision.server import verify
from tabpy_provision.server.plan import endpoint, project_path
from tabpy_provision.settings import groups
from tabpy_provision.settings import table as settings

NEXT_STEP = {
    "rotate-intermediate": "deploy the site: every TabPy server gets a leaf from the new "
                           "intermediate (one restart each)",
    "rotate-root": "deploy the site (clients and Tableau nodes now trust both roots), "
                   "then: activate-root",
    "activate-root": "deploy the site (TabPy servers get leaves from the new root), "
                     "then: retire-root",
    "retire-root": "deploy the site: the old root leaves every client and Tableau node",
}


@dataclass
class PrivateCa:
    common_name: str
    servers: list[tuple[str, dict]]  # (host, data) of the TabPy servers it issues for
    names: CaNames  # what it must permit


def private_cas(inventory) -> dict[str, PrivateCa]:
    """pki_dir -> the private CA of the inventory's TabPy servers there."""
    servers = common.group_data(inventory, groups.TABPY_SERVERS)
    names = private_ca_names(servers, common.group_data(inventory, groups.POOL))
    cas: dict[str, PrivateCa] = {}
    for name, data in servers:
        values = settings.with_defaults(data)
        if values["tabpy_transfer_protocol"] == "https" and \
                values["tabpy_certificate_file"] is None:
            folder = project_path(values["pki_dir"])
            cas.setdefault(str(folder), PrivateCa(values["pki_common_name"], [],
                                                  names.get(folder, CaNames())))
            cas[str(folder)].servers.append((name, data))
    return cas


def servers_on(roots: Sequence[x509.Certificate],
               servers: Sequence[tuple[str, dict]]) -> list[str]:
    """Why each server that still serves a chain ending at one of `roots` (or cannot be read)
    blocks their retirement."""
    blockers = []
    for name, data in servers:
        where = endpoint(name, data)
        try:
            chain = [x509.load_pem_x509_certificate(pem) for pem in verify.served_chain(
                fqdn=where.fqdn, address=where.address, port=where.port)]
        except (OSError, ValueError) as error:
            blockers.append(f"{name}: cannot read its chain ({error})")
            continue
        for root in roots:
            if pki.anchored_at(chain, root):
                blockers.append(f"{name}: still serves a chain from {pki.subject_cn(root)}")
    return blockers


def described(cert: x509.Certificate) -> str:
    return f"{pki.subject_cn(cert)} (permits {pki.of_certificate(cert)})"


def check_staged(folder: str, names: CaNames) -> None:
    """The staged root must permit every name of the inventory before it signs."""
    staged = [c.cert for c in pki.load_ca(folder).registry if c.state == "next"]
    outside = [f"{name} ({host}: {field})" for host, field, name in names.uses
               if not all(pki.permits(cert, name) for cert in staged)]
    if outside:
        raise pki.PkiError(f"not activated: the staged root does not permit "
                           f"{', '.join(outside)}; remove {Path(folder) / pki.CA_DIR / 'next'} "
                           "and run rotate-root again")


def step(command: str, folder: str, ca: PrivateCa, force: bool) -> str:
    if command in ("rotate-intermediate", "rotate-root") and not ca.names.uses:
        # a certificate permitting none of them would be useless: the deploy names the problems
        raise pki.PkiError("no TabPy server or balancer on this CA has valid settings: fix the "
                           "inventory first")
    if command == "rotate-intermediate":
        done = pki.rotate_intermediate(folder, permitted=ca.names.permitted,
                                       common_name=ca.common_name)
        return f"new intermediate {described(done.intermediate_cert)}"
    if command == "rotate-root":
        done = pki.stage_root(folder, permitted=ca.names.permitted, common_name=ca.common_name)
        return "staged root " + described(
            next(c.cert for c in done.registry if c.state == "next" and c.role == pki.ROOT))
    if command == "activate-root":
        check_staged(folder, ca.names)
        return f"active root {pki.subject_cn(pki.activate_root(folder).root_cert)}"
    previous = [c.cert for c in pki.load_ca(folder).registry if c.state == "previous"]
    blockers = servers_on(previous, ca.servers)
    if blockers and not force:
        raise pki.PkiError("not retired: " + "; ".join(blockers) + " (deploy the site first, "
                           "or --force)")
    retired = pki.retire_previous_roots(folder)
    return "retired " + ", ".join(str(pki.subject_cn(c.cert)) for c in retired)


def register(sub) -> None:
    parser = sub.add_parser("ca", help="rotate the private CA, one step at a time",
                            description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("step", choices=sorted(NEXT_STEP))
    common.add_inventory(parser)
    parser.add_argument("--force", action="store_true",
                        help="retire-root even if a server still serves a chain from the root")
    parser.set_defaults(func=run)


def run(args) -> int:
    cas = private_cas(common.load_state(args).inventory)
    if not cas:
        raise common.Refused(["no TabPy server of this inventory uses the private CA"])
    status = common.OK
    for folder, ca in cas.items():
        try:
            print(f"{folder}: {step(args.step, folder, ca, args.force)}")
        except (pki.PkiError, ControllerFileError) as error:
            print(f"tabpy-provision: {folder}: {error}", file=sys.stderr)
            status = common.ERROR
    if status == common.OK:
        print(f"next: {NEXT_STEP[args.step]}")
    return status

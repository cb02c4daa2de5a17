"""`python -m tabpy_provision.ca INVENTORY COMMAND`: rotate the private CA, one step at a time.

    rotate-intermediate  a new intermediate under the same root, at once; the next deploy
                         re-issues every leaf (TabPy restarts once); clients trusting the root
                         never notice
    rotate-root          1/3: stage a new root; the next deploy makes every client trust it too
    activate-root        2/3: the new root signs; the next deploy gives every server a leaf from
                         it (clients still trust the old root as well)
    retire-root          3/3: retire the old root; the next deploy removes it from every client.
                         Refused while a TabPy server still serves a chain from it (the chain is
                         read over TLS); --force retires anyway

It applies to every private CA (pki_dir) used by the inventory's TabPy servers. Each step
prints what to run next. See docs/certificates.md, "Renewal and rotation".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cryptography import x509

from tabpy_provision import pki, settings, verify
from tabpy_provision.controller.files import ControllerFileError
from tabpy_provision.plan import endpoint, project_path
from tabpy_provision.site_check import load_tabpy_hosts

NEXT_STEP = {
    "rotate-intermediate": "deploy the site: every TabPy server gets a leaf from the new "
                           "intermediate (one restart each)",
    "rotate-root": "deploy the site (clients and Tableau nodes now trust both roots), "
                   "then: activate-root",
    "activate-root": "deploy the site (TabPy servers get leaves from the new root), "
                     "then: retire-root",
    "retire-root": "deploy the site: the old root leaves every client and Tableau node",
}


def private_cas(inventory: str) -> dict[str, tuple[str, list[tuple[str, dict]]]]:
    """pki_dir -> (common name, [(host, data)]) of the TabPy servers issued by the private CA."""
    cas: dict[str, tuple[str, list[tuple[str, dict]]]] = {}
    for name, data in load_tabpy_hosts(inventory):
        values = settings.with_defaults(data)
        if values["tabpy_transfer_protocol"] == "https" and \
                values["tabpy_certificate_file"] is None:
            folder = str(project_path(values["pki_dir"]))
            cas.setdefault(folder, (values["pki_common_name"], []))[1].append((name, data))
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


def run(command: str, folder: str, common_name: str, servers: Sequence[tuple[str, dict]],
        force: bool) -> str:
    if command == "rotate-intermediate":
        ca = pki.rotate_intermediate(folder, common_name=common_name)
        return f"new intermediate {pki.subject_cn(ca.intermediate_cert)}"
    if command == "rotate-root":
        ca = pki.stage_root(folder, common_name=common_name)
        staged = next(c for c in ca.registry if c.state == "next" and c.role == pki.ROOT)
        return f"staged root {pki.subject_cn(staged.cert)}"
    if command == "activate-root":
        return f"active root {pki.subject_cn(pki.activate_root(folder).root_cert)}"
    previous = [c.cert for c in pki.load_ca(folder).registry if c.state == "previous"]
    blockers = servers_on(previous, servers)
    if blockers and not force:
        raise pki.PkiError("not retired: " + "; ".join(blockers) + " (deploy the site first, "
                           "or --force)")
    retired = pki.retire_previous_roots(folder)
    return "retired " + ", ".join(str(pki.subject_cn(c.cert)) for c in retired)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tabpy_provision.ca",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("inventory")
    parser.add_argument("command", choices=sorted(NEXT_STEP))
    parser.add_argument("--force", action="store_true",
                        help="retire-root even if a server still serves a chain from the root")
    args = parser.parse_args(argv)
    cas = private_cas(args.inventory)
    if not cas:
        print("tabpy-provision: no TabPy server of this inventory uses the private CA",
              file=sys.stderr)
        return 1
    status = 0
    for folder, (common_name, servers) in cas.items():
        try:
            print(f"{folder}: {run(args.command, folder, common_name, servers, args.force)}")
        except (pki.PkiError, ControllerFileError) as error:
            print(f"tabpy-provision: {folder}: {error}", file=sys.stderr)
            status = 1
    if status == 0:
        print(f"next: {NEXT_STEP[args.command]}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What each private CA of an inventory must be able to issue for: the names of every TabPy
server and pool balancer that takes its certificate from it (the same pki_dir), and the
pki_permitted_names they declare.

Read from the whole inventory before any host is planned, so that a CA one host's plan creates
(or the ca command stages or rotates) permits the names of every host that shares it. Pure: no
pyinfra import (an inventory is only asked for its groups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabpy_provision import pki
from tabpy_provision.rserve.plan import endpoint as rserve_endpoint
from tabpy_provision.server.certificate import certificate_names
from tabpy_provision.server.plan import endpoint, project_path
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.groups import POOL, RSERVE_SERVERS, TABPY_SERVERS
from tabpy_provision.settings.typed import host_settings
from tabpy_provision.settings.value_checks import dns_name_problem

Hosts = Iterable[tuple[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class CaNames:
    uses: tuple[tuple[str, str, str], ...] = ()  # (host, setting, name)
    widen: tuple[str, ...] = ()  # pki_permitted_names

    @property
    def permitted(self) -> pki.Permitted:
        return pki.permitted_for([name for _, _, name in self.uses], self.widen)


def private_ca_names(tabpy_servers: Hosts, balancers: Hosts,
                     rserve_servers: Hosts = ()) -> dict[Path, CaNames]:
    """pki_dir -> what its CA issues for. Hosts with bad values are left out: their own
    plans refuse them."""
    found: dict[Path, CaNames] = {}
    hosts = [*((host, data, "tabpy") for host, data in tabpy_servers),
             *((host, data, "pool") for host, data in balancers),
             *((host, data, "rserve") for host, data in rserve_servers)]
    for host, data, role in hosts:
        if settings.check_values(host, data):
            continue
        given = host_settings(settings.with_defaults(data))
        certificates = given.certificates
        if certificates.acme_directory_url or certificates.tabpy_certificate_file:
            continue
        if role == "pool":
            if given.pool.lb_service_name is None:
                continue
            names = certificate_names(given.pool.lb_service_name, certificates, "lb_service_name")
        elif role == "rserve":
            fqdn = rserve_endpoint(host, data)[0]
            if dns_name_problem(fqdn):
                continue
            names = certificate_names(fqdn, certificates, "rserve_fqdn")
        else:
            fqdn = endpoint(host, data).fqdn
            if given.tabpy.tabpy_transfer_protocol != "https" or dns_name_problem(fqdn):
                continue
            names = certificate_names(fqdn, certificates)
        pki_dir = project_path(certificates.pki_dir)
        known = found.get(pki_dir, CaNames())
        found[pki_dir] = CaNames((*known.uses, *((host, field, name) for field, name in names)),
                                 tuple(dict.fromkeys((*known.widen,
                                                      *certificates.pki_permitted_names))))
    return found


def permitted_sets(inventory: Any) -> dict[Path, pki.Permitted]:
    """pki_dir -> the name constraints of its CA, from a pyinfra inventory."""
    groups = ([(host.name, host.data.dict()) for host in inventory.get_group(group, [])]
              for group in (TABPY_SERVERS, POOL, RSERVE_SERVERS))
    return {pki_dir: names.permitted for pki_dir, names in private_ca_names(*groups).items()}

"""`tabpy-provision certs [-i INVENTORY] [--json]`: every certificate the inventory uses in one
table; exit 1 when one is inside its renewal window or broken (for cron or a monitoring check).

It reads, and changes nothing: the private CA and supplied files on the controller, the chain
each TabPy server, pool balancer and Rserve server SERVES over TLS (so a certificate changed by
hand, or not deployed, is caught), and the OS trust store of every client and Tableau node
over SSH (the same facts the trust deploy uses). Statuses and windows: see cert_status.py.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from cryptography import x509
from pyinfra.api import State
from pyinfra.api.connect import connect_all
from pyinfra.context import ctx_state

from tabpy_provision import pki
from tabpy_provision.cli import common
from tabpy_provision.pki import cert_status
from tabpy_provision.pki.cert_status import BROKEN, OK, Row, ServerCerts, TrustHost
from tabpy_provision.run import remote
from tabpy_provision.run.preflight import detect_trust_os, trust_hosts
from tabpy_provision.server import verify
from tabpy_provision.settings.groups import POOL, RSERVE_SERVERS, TABPY_SERVERS
from tabpy_provision.trust import plan as trust
from tabpy_provision.trust.facts import KeychainSha1s, ManagedTrustFiles


def served_chains(servers: list[ServerCerts]) -> dict[str, list[x509.Certificate] | str]:
    """host -> the chain it serves, or why it could not be read."""
    chains: dict[str, list[x509.Certificate] | str] = {}
    for server in servers:
        try:
            chains[server.host] = [x509.load_pem_x509_certificate(pem) for pem in
                                   verify.served_chain(fqdn=server.fqdn, address=server.address,
                                                       port=server.port)]
        except (OSError, ValueError) as error:
            chains[server.host] = str(error)
    return chains


def read_trust_hosts(state: State, servers: list[ServerCerts], now: datetime) -> list[TrustHost]:
    hosts = trust_hosts(state.inventory)
    expected = cert_status.expected_by_host(
        servers, {name: host.data.dict() for name, host in hosts.items()}, now)
    known = [ca for server in servers for ca in server.cas]
    found = []
    for name, host in hosts.items():
        problem = remote.connect_as_root(host)
        if problem:
            found.append(TrustHost(name, expected[name], None, problem))
            continue
        family = host.data.dict().get("trust_os_family") or detect_trust_os(host)[0]
        if family == "macos":
            held = cert_status.held_sha256s(None, host.get_fact(
                KeychainSha1s, keychain=trust.SYSTEM_KEYCHAIN), known)
        elif family in trust.LINUX_STORES:
            held = cert_status.held_sha256s(host.get_fact(
                ManagedTrustFiles, folder=trust.LINUX_STORES[family].anchor_dir,
                prefix=trust.MANAGED_PREFIX), None, known)
        else:
            found.append(TrustHost(name, expected[name], None, "unknown trust store "
                                   "(set trust_os_family)"))
            continue
        found.append(TrustHost(name, expected[name], held))
    return found


#: The schema name of `certs --json` (docs/cli.md).
SCHEMA = "tabpy-provision/certs/1"


def record(row: Row, now: datetime) -> dict:
    """One row of `certs --json`, typed."""
    cert = row.cert
    return {"host": row.host, "role": row.role, "status": row.status, "detail": row.detail,
            "trusted_on": row.trusted_on,
            "subject": pki.subject_cn(cert) if cert else None,
            "sans": pki.san_list(cert) if cert else [],
            "issuer": pki.subject_cn(cert, issuer=True) if cert else None,
            "not_after": cert.not_valid_after_utc.isoformat() if cert else None,
            "days_left": (cert.not_valid_after_utc - now).days if cert else None}


def register(sub) -> None:
    common.command(sub, "certs", "every certificate the site uses, in one table", __doc__, run,
                   results="the rows")


def run(args) -> int:
    now = datetime.now(UTC)
    state = common.load_state(args)
    inventory = state.inventory
    servers = [s for s in (cert_status.expected_certs(host.name, host.data.dict())
                           for host in inventory.get_group(TABPY_SERVERS, [])) if s]
    if servers:  # a pool serves https when its TabPy servers do
        servers += [s for s in (cert_status.expected_pool_certs(host.name, host.data.dict())
                                for host in inventory.get_group(POOL, [])) if s]
    servers += [s for s in (cert_status.expected_rserve_certs(host.name, host.data.dict())
                            for host in inventory.get_group(RSERVE_SERVERS, [])) if s]
    with ctx_state.use(state):
        connect_all(state)
        hosts = read_trust_hosts(state, servers, now)
    rows = cert_status.ca_rows(servers, hosts, now)
    chains = served_chains(servers)
    rows += [cert_status.leaf_row(server, chains[server.host], hosts, now) for server in servers]
    rows += [Row(h.name, "trust store", None, "", BROKEN, h.problem) for h in hosts
             if h.held is None]
    attention = [row for row in rows if row.status != OK]
    if args.json:
        common.print_json({"schema": SCHEMA, "ok": not attention,
                           "rows": [record(row, now) for row in rows]})
    else:
        print(cert_status.table(rows, now))
    if attention:
        print(f"\n{len(attention)} certificate(s) need attention", file=sys.stderr)
    return common.ERROR if attention else common.OK

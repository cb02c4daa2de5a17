"""HAProxy in front of TabPy processes: the plan of one balancer, its files, its runtime API.

Two kinds of balancer, one shape:
- a pool balancer (a host of group tabpy_lb) serves `lb_service_name` on `lb_port` and spreads
  requests over every TabPy process of the hosts in `lb_backend_group`;
- a host's own balancer, when the host runs several TabPy processes (tabpy_instances above 1),
  serves the host's name on tabpy_port and spreads requests over its processes.

TLS is terminated at HAProxy with the certificate of the name it serves and re-encrypted to
each TabPy, whose certificate HAProxy verifies (CA and name). Termination, not pass-through,
because it makes a drain lose nothing: HAProxy routes each HTTP request, so a drained process
gets no new request while Tableau's keep-alive connections stay open to HAProxy; with TCP
pass-through a connection stays pinned to one process and a restart cuts it.

Health checks sign in as a monitor user on GET /info (authenticated), so a process whose
password file is wrong (401) or that is not serving leaves the pool. Pure: no pyinfra import.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged
from tabpy_provision.functions.source import Function
from tabpy_provision.server import render
from tabpy_provision.server.certificate import Tls, plan_tls
from tabpy_provision.server.plan import TabpyServerPlan, endpoint
from tabpy_provision.server.tls_profile import TlsProfile, strictest
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.groups import POOL as GROUP
from tabpy_provision.settings.typed import host_settings
from tabpy_provision.settings.values import PoolSettings

PACKAGES = ["haproxy", "socat"]  # socat: the runtime API from the deploy
VRRP_PACKAGES = ["keepalived"]
KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf"
#: How keepalived tells that this balancer can serve: its HAProxy runs.
HEALTH_SCRIPT = "/usr/bin/systemctl is-active --quiet haproxy.service"
CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
FILES_DIR = "/etc/haproxy/tabpy"
SERVICE_PEM = f"{FILES_DIR}/service.pem"
BACKEND_CA = f"{FILES_DIR}/backend-ca.pem"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
BACKEND = "tabpy"
#: How the configs this project writes begin (how a host's own balancer is recognised).
MARKER = "# Managed by tabpy-provision"
HOST_MARKER = f"{MARKER} (host balancer)"
POOL_MARKER = f"{MARKER} (pool balancer)"


@dataclass(frozen=True)
class Server:
    """One TabPy process as HAProxy knows it."""
    host: str  # inventory name of the TabPy host
    fqdn: str  # the name its certificate carries (verified)
    address: str
    port: int

    @property
    def name(self) -> str:
        return server_name(self.host, self.port)


def server_name(host: str, port: int) -> str:
    return f"{host}-{port}"


@dataclass(frozen=True)
class Membership:
    """A TabPy process (by port) as a server of the balancer on `balancer_host`."""
    balancer_host: str  # inventory name
    server: str  # HAProxy server name
    port: int


def memberships(plan: TabpyServerPlan, pools: Sequence[BalancerPlan]) -> list[Membership]:
    """Every balancer in front of each TabPy process of a host: its own, and the pools'."""
    members = [Membership(plan.host, server_name(plan.host, i.port), i.port)
               for i in plan.instances] if plan.local_balancer else []
    return members + [Membership(pool.host, server.name, server.port) for pool in pools
                      for server in pool.servers if server.host == plan.host]


@dataclass(frozen=True)
class Vrrp:
    """keepalived on a pool balancer: the service address, held by one balancer at a time."""
    address: str
    router_id: int
    priority: int  # the group's first host highest: it takes the address first
    interface: str | None  # None: the one the host routes `address` through


@dataclass(frozen=True)
class BalancerPlan:
    host: str
    service_name: str  # what clients ask for (the certificate's name)
    connect_address: str  # what the controller dials for its checks
    port: int
    servers: tuple[Server, ...]
    https: bool
    tls: Tls | None  # the certificate HAProxy serves (https)
    #: Its TLS on both sides: the host's own, or the strictest of the pool's servers (a
    #: client the pool serves is served by each of them, and each accepts what HAProxy offers).
    tls_profile: TlsProfile
    backend_ca_pem: bytes | None  # CAs that verify the TabPy processes; None: OS bundle
    monitor_user: str | None
    monitor_password: str | None = field(repr=False)
    check_interval_ms: int = 1000
    check_fall: int = 2
    check_rise: int = 2
    server_timeout_s: int = 60
    evaluate: bool = True  # every TabPy behind it runs /evaluate (what a check can ask)
    local: bool = False  # the TabPy host's own balancer
    vrrp: Vrrp | None = None
    #: The functions every TabPy server behind it declares: the deploy proves their examples
    #: through the pool too.
    functions: tuple[Function, ...] = ()

    @property
    def check_authorization(self) -> str | None:
        """The Authorization header of the health checks (in the 0600 config only)."""
        if self.monitor_user is None:
            return None
        token = f"{self.monitor_user}:{self.monitor_password}".encode()
        return "Basic " + base64.b64encode(token).decode()

    def files(self, backend_cas: bytes | None = None) -> tuple[tuple[str, bytes, str, bool], ...]:
        """(path, content, mode, secret) of every file HAProxy reads; `backend_cas`: what
        the backend CA file holds instead of exactly backend_ca_pem (see with_cas)."""
        result = [(CONFIG_PATH, render_config(self).encode(), "0600", True)]
        if self.tls is not None:
            result.append((SERVICE_PEM, self.tls.chain_pem + self.tls.key_pem, "0600", True))
        if self.backend_ca_pem is not None:
            result.append((BACKEND_CA, backend_cas or self.backend_ca_pem, "0644", False))
        return tuple(result)

    @property
    def endpoint_args(self) -> dict[str, Any]:
        """How a client reaches the service (the keyword arguments of verify's requests)."""
        return dict(fqdn=self.service_name, address=self.connect_address, port=self.port,
                    https=self.https, ca_pem=self.tls.ca_pem if self.tls else None)

    @property
    def check_credentials(self) -> tuple[str, str] | None:
        return (self.monitor_user, self.monitor_password) if self.monitor_user else None

    @property
    def publishing_refusal(self) -> str:
        return publishing_refusal(self.service_name, self.port)


def publishing_refusal(service_name: str, port: int) -> str:
    """What a balancer answers (403, JSON) to TabPy's client deploying or removing a function
    through it. TabPy's client shows `message` and `info` (deploy), the raw body (remove), or
    prints it (remote_server=True, which turns "null" into "Success"); the config quotes it in
    single quotes."""
    return json.dumps({
        "message": f"{service_name}:{port} refuses to deploy or remove functions: through a "
                   "balancer, the TabPy client reaches one TabPy process of several.",
        "info": "tabpy-provision publishes functions on every TabPy process: add the function "
                "as a file to tabpy_functions_dir and run the deploy (docs/functions.md)."})


def with_cas(current: bytes, wanted: bytes) -> bytes:
    """A backend CA file that keeps what `current` trusts and adds the `wanted` CAs it lacks
    (`current` itself when it lacks none): what a balancer trusts while its TabPy processes
    move to new CAs, so one restarted on a new certificate passes the balancer's check while
    the others still serve the old one. Narrowed to `wanted` once every process moved."""
    have = set(x509.load_pem_x509_certificates(current)) if b"-BEGIN" in current else set()
    missing = [cert for cert in x509.load_pem_x509_certificates(wanted) if cert not in have]
    return current + b"".join(pki.to_pem(cert) for cert in missing)


def render_config(plan: BalancerPlan) -> str:
    return render.haproxy_config(plan, ca_file=BACKEND_CA if plan.backend_ca_pem else
                                 SYSTEM_CA_BUNDLE, service_pem=SERVICE_PEM,
                                 socket=ADMIN_SOCKET, backend=BACKEND,
                                 marker=HOST_MARKER if plan.local else POOL_MARKER)


def _server_timeout(plans: Sequence[TabpyServerPlan]) -> int:
    """Longer than the longest /evaluate TabPy allows, so TabPy's own 408 reaches the client."""
    return int(max(p.settings.tabpy.tabpy_evaluate_timeout for p in plans)) + 30


def _backend_cas(plans: Sequence[TabpyServerPlan]) -> bytes | None:
    if not all(p.tls and p.tls.ca_pem for p in plans):
        return None  # some TabPy has a publicly trusted certificate: the OS bundle
    return b"".join(dict.fromkeys(p.tls.ca_pem for p in plans))


def local_balancer(plan: TabpyServerPlan) -> BalancerPlan:
    """The balancer on a TabPy host with several processes: its own name and certificate."""
    pool = plan.settings.pool
    return BalancerPlan(
        host=plan.host, service_name=plan.fqdn, connect_address=plan.connect_address,
        port=plan.settings.tabpy.tabpy_port,
        servers=tuple(Server(plan.host, plan.fqdn, "127.0.0.1", i.port) for i in plan.instances),
        https=plan.https, tls=plan.tls, tls_profile=plan.tls_profile,
        backend_ca_pem=_backend_cas([plan]),
        monitor_user=plan.health_user, monitor_password=plan.health_password,
        check_interval_ms=pool.lb_check_interval_ms, check_fall=pool.lb_check_fall,
        check_rise=pool.lb_check_rise, server_timeout_s=_server_timeout([plan]),
        evaluate=plan.settings.tabpy.tabpy_evaluate_enable, local=True)


def plan_balancer(host: str, data: Mapping[str, Any], backends: Sequence[TabpyServerPlan],
                  addresses: Mapping[str, str], *, rank: int = 0,
                  now: datetime | None = None, files: Staged | None = None,
                  permitted: Mapping[Path, pki.Permitted] | None = None) -> BalancerPlan:
    """Check a tabpy_lb host's inputs against the TabPy plans of its backend group; raise
    SettingsError listing `host: field: problem` lines. `addresses`: how the balancer reaches
    each TabPy host (its ssh_hostname or name); `rank`: its place among the balancers of its
    service (0 first: the highest VRRP priority); `permitted`: see plan_tabpy_server."""
    problems = settings.check_values(host, data)
    if problems:
        raise settings.SettingsError(problems)
    given = host_settings(settings.with_defaults(data))
    pool = given.pool
    service = pool.lb_service_name
    if service is None:
        raise settings.SettingsError([f"{host}: lb_service_name: required on a {GROUP} host "
                                      "(the name Tableau uses for the pool)"])
    service = service.lower()
    if not backends:
        raise settings.SettingsError([f"{host}: lb_backend_group: group "
                                      f"{pool.lb_backend_group!r} has no TabPy server"])
    protocols = {p.https for p in backends}
    if len(protocols) > 1:
        problems.append(f"{host}: lb_backend_group: its TabPy servers mix https and http")
    https = protocols == {True}
    monitor_user, monitor_password = _monitor(host, pool, backends, problems)
    tls = None
    if https:
        # The certificate of the service name, from the same PKI settings as a TabPy host's.
        tls = plan_tls(host, service, given, problems, now,
                       files if files is not None else Staged(), renew=data.get("acme_renew"),
                       permitted=permitted, name_field="lb_service_name")
    if problems:
        raise settings.SettingsError(problems)
    servers = tuple(Server(p.host, p.fqdn, addresses.get(p.host, p.fqdn), instance.port)
                    for p in backends for instance in p.instances)
    return BalancerPlan(
        host=host, service_name=service,
        connect_address=endpoint(host, data).address, port=pool.lb_port,
        servers=servers, https=https, tls=tls,
        tls_profile=strictest(p.tls_profile for p in backends),
        backend_ca_pem=_backend_cas(backends) if https else None,
        monitor_user=monitor_user, monitor_password=monitor_password,
        check_interval_ms=pool.lb_check_interval_ms, check_fall=pool.lb_check_fall,
        check_rise=pool.lb_check_rise, server_timeout_s=_server_timeout(backends),
        evaluate=all(p.settings.tabpy.tabpy_evaluate_enable for p in backends),
        vrrp=Vrrp(pool.lb_virtual_address, pool.lb_vrrp_router_id, 150 - 10 * rank,
                  pool.lb_vrrp_interface) if pool.lb_virtual_address else None,
        functions=tuple(function for function in backends[0].functions
                        if all(function in other.functions for other in backends[1:])))


def shared_problems(pools: Sequence[BalancerPlan]) -> list[str]:
    """Balancers of one service name must agree on what clients see and on VRRP."""
    problems = []
    by_service: dict[str, list[BalancerPlan]] = {}
    for pool in pools:
        by_service.setdefault(pool.service_name, []).append(pool)
    for service, group in by_service.items():
        first = group[0]
        for other in group[1:]:
            for field_name, mine, theirs in (
                    ("lb_port", other.port, first.port),
                    ("lb_virtual_address", other.vrrp and other.vrrp.address,
                     first.vrrp and first.vrrp.address),
                    ("lb_vrrp_router_id", other.vrrp and other.vrrp.router_id,
                     first.vrrp and first.vrrp.router_id)):
                if mine != theirs:
                    problems.append(f"{other.host}: {field_name}: {mine!r}, but {first.host} "
                                    f"serves {service} with {theirs!r}")
    return problems


def keepalived_config(plan: BalancerPlan) -> str:
    """(plan.vrrp.interface resolved: see preflight)"""
    return render.keepalived_config(plan, health=HEALTH_SCRIPT)


def _monitor(host: str, pool: PoolSettings, backends: Sequence[TabpyServerPlan],
             problems: list[str]) -> tuple[str | None, str | None]:
    """The monitor user and its password: the same on every backend (one check config)."""
    authenticated = [p for p in backends if p.settings.tabpy.tabpy_auth_enabled]
    if not authenticated:
        return None, None
    user = pool.lb_monitor_user
    if user is None:
        users = {p.health_user for p in authenticated}
        if len(users) > 1:
            problems.append(f"{host}: lb_monitor_user: the TabPy servers check with different "
                            f"users ({', '.join(sorted(users))}): set it")
            return None, None
        user = users.pop()
    key = user.lower()
    missing = [p.host for p in authenticated if key not in p.passwords]
    if missing:
        problems.append(f"{host}: lb_monitor_user: {user!r} is not in tabpy_users of "
                        f"{', '.join(missing)}")
        return None, None
    if len({p.passwords[key] for p in authenticated}) > 1:
        problems.append(f"{host}: lb_monitor_user: {user!r} has different passwords on the "
                        "TabPy servers (HAProxy checks them all with one)")
        return None, None
    return key, authenticated[0].passwords[key]


# --- the runtime API (through socat on the balancer host) ---------------------------------

def runtime_command(*commands: str) -> str:
    """A shell command sending runtime API commands to HAProxy (one answer per command)."""
    joined = "; ".join(commands)
    return f"echo '{joined}' | socat -t 5 stdio UNIX-CONNECT:{ADMIN_SOCKET}"


def set_state(server: str, state: str) -> str:
    """`ready`, `drain` (no new requests) or `maint` (out of the pool)."""
    return f"set server {BACKEND}/{server} state {state}"


SHOW_STAT = "show stat"


def reload_command() -> str:
    """Reload HAProxy and wait until a new worker answers on the runtime API: `systemctl
    reload` returns once the master is signalled, and until the new worker is up the old one
    (old config, old certificate) still takes connections."""
    pid = f"{runtime_command('show info')} 2>/dev/null | sed -n 's/^Pid: //p'"
    return (f"old=$({pid}); systemctl reload haproxy.service && for i in $(seq 100); do "
            f'new=$({pid}); [ -n "$new" ] && [ "$new" != "$old" ] && exit 0; sleep 0.1; done; '
            "echo 'HAProxy did not finish its reload within 10 s' >&2; exit 1")


@dataclass(frozen=True)
class ServerStat:
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", "DOWN 1/2", "no check"
    sessions: int  # requests in flight
    check: str  # last check result, e.g. L7OK, L7STS (HTTP status), L4CON

    @property
    def serving(self) -> bool:
        return self.status.startswith("UP") or self.status == "no check"


def parse_stat(output: str) -> dict[str, ServerStat]:
    """`show stat` CSV -> the servers of the TabPy backend, by name."""
    text = output.lstrip("# ")
    result = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND",
                                                                       None):
            # "* L7OK": the last result, with a check under way
            result[row["svname"]] = ServerStat(row["status"], int(row["scur"] or 0),
                                               (row.get("check_status") or "").lstrip("* "))
    return result

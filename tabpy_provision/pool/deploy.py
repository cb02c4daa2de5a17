"""The pool balancer @deploy (hosts of group tabpy_lb): HAProxy serving the pool's name in front
of every TabPy process of its backend group (see pool/balancer.py for why TLS ends here), and, with
lb_virtual_address, keepalived keeping that address on a balancer whose HAProxy runs."""

from __future__ import annotations

import functools

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from tabpy_provision.functions import check as functions_check
from tabpy_provision.platforms import Platform
from tabpy_provision.platforms.facts import FirewallPorts, SelinuxMode
from tabpy_provision.platforms.operations import (
    firewall_ports_open,
    os_packages,
    selinux_labelled,
)
from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import BalancerPlan
from tabpy_provision.pool.operations import (
    SERVICE,
    balancer_files,
    balancer_service,
    keepalived_files,
    pool_report,
    sandbox_path,
    service_sandboxed,
)
from tabpy_provision.run import remote
from tabpy_provision.run.facts import Sha256s
from tabpy_provision.run.lease import release_lease, take_lease
from tabpy_provision.run.operations import controller_check
from tabpy_provision.server import verify


@deploy("TabPy pool balancer")
def pool_balancer(plan: BalancerPlan, platform: Platform) -> None:
    take_lease(name="Take the deploy lease (one deploy per host at a time)")
    os_packages(platform, [*balancer.PACKAGES, *(balancer.VRRP_PACKAGES if plan.vrrp else ())],
                name="HAProxy" + (" and keepalived" if plan.vrrp else ""))
    written = balancer_files(name="HAProxy config and certificate", plan=plan,
                             keep_current_cas=lambda: bool(host.state.failed_hosts))
    firewall_ports_open(name=f"The pool's port open in {platform.firewall or 'no'} firewall "
                             "front end", platform=platform, ports=[plan.port])
    selinux_labelled(name="SELinux labels of the pool's port and HAProxy's files (when "
                          "SELinux is on)", ports=[plan.port], balancer=True,
                     paths=[balancer.FILES_DIR, balancer.CONFIG_PATH])
    service_sandboxed(name="HAProxy sandboxed (systemd drop-in)")
    balancer_service(name="HAProxy running (reloaded on change)", reload=written.did_change)
    if plan.vrrp:
        vrrp = keepalived_files(name=f"keepalived config ({plan.vrrp.address}, priority "
                                     f"{plan.vrrp.priority}, checked by keepalived)", plan=plan)
        service_sandboxed(name="keepalived sandboxed (systemd drop-in)",
                          service="keepalived.service")
        balancer_service(name="keepalived running (reloaded on change)", reload=vrrp.did_change,
                         service="keepalived.service")
    pool_report(name="Every TabPy process in the pool serving", plan=plan)
    controller_check(name=f"{plan.service_name}: a request through the pool, as Tableau does",
                     check=lambda: _through_pool(plan), success_note=f"{plan.service_name}: ")
    release_lease(name="Release the deploy lease")


def facts_asked(plan: BalancerPlan, platform: Platform) -> list[tuple[type, dict]]:
    """The facts the balancer's operations (and backend_cas_widened before the TabPy roll)
    ask for on a host where nothing changes, with their operations' own arguments: read
    together in one command (run/fact_batch.py)."""
    services = [SERVICE, *(["keepalived.service"] if plan.vrrp else [])]
    return [
        (FileContents, {"path": balancer.BACKEND_CA}),
        *([(DebPackages, {})] if platform.packager == "apt" else []),
        (Sha256s, {"paths": [path for path, *_ in plan.files()]}),
        *([(FirewallPorts, {"frontend": platform.firewall})] if platform.firewall else []),
        (SelinuxMode, {}),
        *([(Sha256s, {"paths": [balancer.KEEPALIVED_CONFIG]})] if plan.vrrp else []),
        *[(Sha256s, {"paths": [sandbox_path(service)]}) for service in services],
        *[(fact, {"services": service}) for service in services
          for fact in (SystemdStatus, SystemdEnabled)],
    ]


def _through_pool(plan: BalancerPlan) -> tuple[bool, str]:
    """TabPy answering through the pool as Tableau asks it, every function the servers
    behind it declare answering its examples there, and every process behind it serving the
    same endpoints (a function deployed on some of them answers 404 on the others)."""
    result = verify.wait_for_tabpy(30, credentials=plan.check_credentials,
                                   evaluate=plan.evaluate, **plan.endpoint_args)
    if not result.ok:
        return result.ok, result.detail
    detail = result.detail
    if plan.functions:
        problems = remote.at_once(
            functools.partial(functions_check.example_problem, function, plan.endpoint_args,
                              plan.check_credentials) for function in plan.functions)
        for function, problem in zip(plan.functions, problems, strict=True):
            if problem:
                return False, f"/query/{function.name} through the pool: {problem}"
        count = len(plan.functions)
        detail += f"; the examples of {count} function{'s' if count > 1 else ''} answered"
    ok, alike = processes_alike(f"{plan.service_name}:{plan.port}",
                                functions_check.pool_processes(plan))
    return ok, f"{detail}; {alike}" if ok else alike


def processes_alike(name: str, processes: list[functions_check.Process]) -> tuple[bool, str]:
    """The processes behind `name` serve the same endpoints (functions_check.alike), each
    read on its own port from the controller."""
    return functions_check.alike(name, processes,
                                 functions_check.served_by(processes, remote.at_once))


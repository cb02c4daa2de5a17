"""The TabPy server @deploy: user, venv, release (config, password file, TLS), systemd unit,
activation with rollback, the host's own balancer when it runs several TabPy processes,
health check.

Everything it writes comes from a TabpyServerPlan made (and validated) before any host is
touched. Files TabPy reads form an immutable release (release.py); TabPy is restarted only when
the release it runs, or its unit, changed; a failed start rolls back to the previous release.
Hosts activate in batches of `tabpy_rolling_batch` (one at a time by default), each verified
before the next, and a failure stops the roll. Each TabPy process restarts in turn, drained
from every balancer in front of it first and put back once its balancers see it serving, so a
pool of two or more loses no request. A healthy rerun reports no changes.
"""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import systemd

from tabpy_provision.firewall import FirewallPlan
from tabpy_provision.firewall import rules as fence_rules
from tabpy_provision.firewall.operations import facts_asked as fence_facts
from tabpy_provision.firewall.operations import tabpy_fence
from tabpy_provision.functions import check as functions_check
from tabpy_provision.functions.facts import PublishedFunctions
from tabpy_provision.functions.operations import RECORD as FUNCTIONS_RECORD
from tabpy_provision.functions.operations import tabpy_functions
from tabpy_provision.platforms import Platform
from tabpy_provision.platforms.facts import FirewallPorts, SelinuxMode
from tabpy_provision.platforms.operations import (
    firewall_ports_open,
    os_packages,
    selinux_labelled,
)
from tabpy_provision.pool import balancer
from tabpy_provision.pool import deploy as pool_balancer
from tabpy_provision.pool.balancer import Membership
from tabpy_provision.pool.operations import (
    SERVICE,
    backend_cas_widened,
    balancer_files,
    balancer_service,
    host_balancer_stopped,
    service_sandboxed,
)
from tabpy_provision.run import disk_space, fact_batch
from tabpy_provision.run.facts import (
    FileState,
    FirstLine,
    FolderStates,
    IntactManifest,
    LinkName,
    SubfoldersByAge,
    SystemAccount,
)
from tabpy_provision.run.lease import release_lease, take_lease
from tabpy_provision.run.operations import (
    controller_check,
    file_content,
    folders,
    room_for,
    system_account,
)
from tabpy_provision.run.release import Release
from tabpy_provision.run.release_operations import prune_releases, release_folder
from tabpy_provision.server import render, verify
from tabpy_provision.server.facts import ReferencedVenvs, RunningRelease, TabpyUnits
from tabpy_provision.server.operations import (
    other_units_stopped,
    prune_venvs,
)
from tabpy_provision.server.plan import TabpyServerPlan
from tabpy_provision.server.release import build_release
from tabpy_provision.server.roll import check_args, tabpy_activate
from tabpy_provision.server.venv import VenvJob, tabpy_venv
from tabpy_provision.settings import table as settings
from tabpy_provision.wheelhouse import venvs
from tabpy_provision.wheelhouse.build import Wheelhouse
from tabpy_provision.wheelhouse.nltk_data import NltkData
from tabpy_provision.wheelhouse.venvs import MARKER as VENV_MARKER

REMOTE_CACHE = "/var/cache/tabpy-provision"


@deploy("TabPy server", data_defaults=settings.defaults())
def tabpy_server(plan: TabpyServerPlan, wheelhouse: Wheelhouse, data: NltkData | None,
                 members: list[Membership], fence: FirewallPlan | None,
                 platform: Platform) -> None:
    """`data`: the NLTK data installed with the virtualenv (None: none); `members`: the
    balancers in front of each TabPy process (drained around restarts);
    `fence`: who may reach its ports (None: no fence of ours); `platform`: the host's
    distribution."""
    tabpy = plan.settings.tabpy
    account = tabpy.tabpy_system_user
    install_dir = tabpy.tabpy_install_dir
    units = [instance.unit for instance in plan.instances]
    identity = venv_identity(wheelhouse, data)
    venv = venv_path(plan, wheelhouse, data)
    job = VenvJob(venvs.VenvKind(venv, identity, platform.key, platform.python),
                  wheelhouse.archive,
                  (f"tabpy=={wheelhouse.tabpy_version}", *wheelhouse.requirements),
                  f"{REMOTE_CACHE}/install", data.archive if data else None,
                  venvs.default_cache_dir())
    release = build_release(plan, venv)
    fact_batch.read_together(host, facts_asked(plan, platform, venv, release.name))

    take_lease(name="Take the deploy lease (one deploy per host at a time)")
    room_for(name="Room on the host's disks for what this deploy writes",
             needs=lambda: disk_needs(plan, job, release))
    system_account(name="TabPy system user and group", account=account,
                   home=tabpy.tabpy_state_path)
    folders(name="TabPy folders", wanted=tabpy_folders(plan))
    # Before TabPy (re)starts: a new host never serves unfenced.
    os_packages(platform, [*platform.python_packages, *venvs.PACKAGES,
                           *(fence_rules.PACKAGES if fence is not None else ())],
                name=f"Python for TabPy ({platform.python}), zstd (its shipped virtualenv)"
                     + (" and nftables (the fence's tool)" if fence is not None else ""))
    tabpy_fence(name="Fence: who may reach TabPy (nftables table inet tabpy_provision)",
                plan=fence)

    tabpy_venv(name=f"TabPy {wheelhouse.tabpy_version} virtualenv"
                    + (f" with NLTK data ({', '.join(data.resources) or 'a folder'})"
                       if data else ""), job=job)
    built = release_folder(name="TabPy release (config, users, TLS, venv)",
                           config_dir=plan.config_dir, release=release, users=plan.user_names,
                           service="TabPy")
    if plan.tls is not None and plan.tls.ca_pem:
        file_content(name="CA certificate (for checks on the host)", path=plan.ca_path,
                     content=plan.tls.ca_pem, group=account)
    unit = file_content(name="systemd unit", path=f"/etc/systemd/system/{plan.unit_file}",
                        content=render.systemd_unit(plan).encode())
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    local = balancer.local_balancer(plan) if plan.local_balancer else None
    if local:
        os_packages(platform, balancer.PACKAGES, name="HAProxy (this host's balancer)")
        backend_cas_widened(name="This host's balancer also trusts the new CA",
                            ca_pem=local.backend_ca_pem)
    else:
        # One TabPy process again: it takes tabpy_port back from the host's balancer.
        host_balancer_stopped(name="This host's balancer stopped (one TabPy process)")

    ports = sorted({tabpy.tabpy_port, *(instance.port for instance in plan.instances),
                    *([plan.arrow_port] if plan.arrow_port else [])})
    firewall_ports_open(name=f"TabPy's ports open in {platform.firewall or 'no'} firewall "
                             "front end (the fence decides who)", platform=platform, ports=ports)
    selinux_labelled(name="SELinux labels of TabPy's ports and files (when SELinux is on)",
                     ports=ports, balancer=bool(local), paths=[
                         plan.config_dir, tabpy.tabpy_state_path, tabpy.tabpy_query_object_path,
                         tabpy.tabpy_log_dir, f"/etc/systemd/system/{plan.unit_file}"])
    tabpy_activate(
        name="Activate the release (rolling; rollback on a failed start)",
        plan=plan, release_name=release.name, members=members,
        restart_anyway=lambda: unit.did_change() or built.did_change(),
        _parallel=tabpy.tabpy_rolling_batch)
    for name in units:
        systemd.service(name=f"{name} enabled at boot", service=name, running=None,
                        enabled=True)
    other_units_stopped(name="TabPy units of another process count stopped",
                        service=tabpy.tabpy_service_name, wanted=units)
    if local:
        written = balancer_files(name="This host's balancer: HAProxy config and certificate",
                                 plan=local)
        service_sandboxed(name="This host's balancer sandboxed (systemd drop-in)")
        balancer_service(name="This host's balancer running (reloaded on change)",
                         reload=written.did_change)
    prune_releases(name="Prune old releases", config_dir=plan.config_dir,
                   keep=tabpy.tabpy_releases_to_keep)
    prune_venvs(name="Prune unused virtualenvs", venvs_dir=f"{install_dir}/venvs",
                config_dir=plan.config_dir, protect=venv.rsplit("/", 1)[1])
    controller_check(name="Health check as Tableau would do it",
                     check=lambda: _health(plan), success_note=f"{plan.fqdn}: ")
    tabpy_functions(name="Functions and pre-built models on every TabPy process, each "
                         "answering its examples", plan=plan, functions=plan.functions,
                    venv=venv, members=members)
    if local:
        name = f"{plan.fqdn}:{tabpy.tabpy_port}"
        controller_check(name="Every TabPy process behind this host's balancer serving the "
                              "same endpoints",
                         check=lambda: pool_balancer.processes_alike(
                             name, functions_check.host_processes(plan)),
                         success_note=f"{name}: ")
    release_lease(name="Release the deploy lease")


def disk_needs(plan: TabpyServerPlan, job: VenvJob, release: Release) -> list[disk_space.Need]:
    """What this deploy writes on the host: a virtualenv not installed yet (shipped finished,
    or built once its wheelhouse is: not in a preview that has none yet) and a release it does
    not have."""
    needs = []
    kind, install_dir = job.kind, job.kind.venv.rsplit("/", 1)[0]
    if host.get_fact(FirstLine, path=f"{kind.venv}/{VENV_MARKER}") != kind.identity:
        finished = venvs.cached(kind, job.cache_dir)
        if finished is not None:
            needs.append(disk_space.Need("tabpy_install_dir", install_dir,
                                         finished["unpacked_bytes"],
                                         "the new virtualenv (shipped finished)"))
        elif job.wheelhouse.is_file():
            needs += disk_space.venv_needs(archive=job.wheelhouse, nltk_archive=job.nltk_archive,
                                           work_dir=job.work_dir, install_dir=install_dir)
    if host.get_fact(IntactManifest,
                     path=f"{plan.releases_dir}/{release.name}") != release.manifest:
        size = sum(len(item.content) for item in release.files) + len(release.manifest)
        needs.append(disk_space.Need("tabpy_config_dir", plan.config_dir, size,
                                     "the new release"))
    return needs


def tabpy_folders(plan: TabpyServerPlan) -> tuple[tuple[str, str, str, str], ...]:
    """(path, owner, group, mode) of every folder TabPy's files live in."""
    tabpy = plan.settings.tabpy
    account, install_dir = tabpy.tabpy_system_user, tabpy.tabpy_install_dir
    return (
        (REMOTE_CACHE, "root", "root", "0700"),
        (install_dir, "root", "root", "0755"),
        (f"{install_dir}/venvs", "root", "root", "0755"),
        (plan.config_dir, "root", account, "0750"),
        (plan.releases_dir, "root", account, "0750"),
        (tabpy.tabpy_state_path, account, account, "0750"),
        (tabpy.tabpy_query_object_path, account, account, "0750"),
        (tabpy.tabpy_log_dir, account, account, "0750"),
        *[(path, account, account, "0750") for instance in plan.instances if plan.local_balancer
          for path in (instance.state_path, instance.query_object_path)],
    )


def venv_path(plan: TabpyServerPlan, wheelhouse: Wheelhouse, data: NltkData | None) -> str:
    """Where the virtualenv of this wheelhouse and NLTK data lives (one per content)."""
    identity = venv_identity(wheelhouse, data)
    return f"{plan.settings.tabpy.tabpy_install_dir}/venvs/{wheelhouse.name}-{identity[:12]}"


def facts_asked(plan: TabpyServerPlan, platform: Platform, venv: str,
                release_name: str) -> list[tuple[type, dict]]:
    """The facts this deploy's operations ask for on a host where nothing changes, with their
    operations' own arguments: read together in one command (run/fact_batch.py)."""
    tabpy, config_dir = plan.settings.tabpy, plan.config_dir
    services = {"machine": None, "user_mode": False, "user_name": None}
    return [
        (SystemAccount, {"account": tabpy.tabpy_system_user}),
        (FolderStates, {"paths": [path for path, *_ in tabpy_folders(plan)]}),
        *([(DebPackages, {})] if platform.packager == "apt" else []),
        *fence_facts(),
        (FirstLine, {"path": f"{venv}/{VENV_MARKER}"}),
        (IntactManifest, {"path": f"{plan.releases_dir}/{release_name}"}),
        (FileState, {"path": plan.ca_path}),
        (FileState, {"path": f"/etc/systemd/system/{plan.unit_file}"}),
        (FirstLine, {"path": balancer.CONFIG_PATH}),
        *(pool_balancer.facts_asked(balancer.local_balancer(plan), platform)
          if plan.local_balancer else [(SystemdStatus, {"services": SERVICE}),
                                       (SystemdEnabled, {"services": SERVICE})]),
        *([(FirewallPorts, {"frontend": platform.firewall})] if platform.firewall else []),
        (SelinuxMode, {}),
        (LinkName, {"path": f"{config_dir}/current"}),
        (LinkName, {"path": f"{config_dir}/previous"}),
        *[(RunningRelease, {"service": instance.unit}) for instance in plan.instances],
        *[(fact, {**services, "services": [instance.unit]}) for instance in plan.instances
          for fact in (SystemdStatus, SystemdEnabled)],
        (TabpyUnits, {"service": tabpy.tabpy_service_name}),
        (SubfoldersByAge, {"path": plan.releases_dir}),
        (ReferencedVenvs, {"releases_dir": plan.releases_dir}),
        (SubfoldersByAge, {"path": f"{tabpy.tabpy_install_dir}/venvs"}),
        (PublishedFunctions, {"folders": [instance.state_path for instance in plan.instances],
                              "record": FUNCTIONS_RECORD}),
    ]


def venv_identity(wheelhouse: Wheelhouse, data: NltkData | None) -> str:
    """What a virtualenv holds: the wheelhouse's identity, and the NLTK data's when it has
    some (a virtualenv without data keeps the wheelhouse's own, as before data existed)."""
    if data is None:
        return wheelhouse.identity
    return hashlib.sha256(f"{wheelhouse.identity} {data.identity}".encode()).hexdigest()


def _health(plan: TabpyServerPlan) -> tuple[bool, str]:
    result = verify.wait_for_tabpy(plan.settings.secrets.tabpy_health_check_timeout,
                                   **check_args(plan))
    return result.ok, result.detail



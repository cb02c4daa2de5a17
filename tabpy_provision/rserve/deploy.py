"""The Rserve server @deploy: its account, folders, Debian's R and Rserve, an immutable release
(config, login function, users, TLS), its hardened unit, activation with rollback, and a QAP
login over TLS as Tableau would make it. A healthy rerun reports no changes."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import systemd

from tabpy_provision.firewall import FirewallPlan
from tabpy_provision.firewall import rules as fence_rules
from tabpy_provision.firewall.operations import facts_asked as fence_facts
from tabpy_provision.firewall.operations import tabpy_fence
from tabpy_provision.platforms import Platform
from tabpy_provision.platforms.operations import os_packages
from tabpy_provision.rserve import render
from tabpy_provision.rserve.facts import RunningRserveRelease
from tabpy_provision.rserve.operations import rserve_activate
from tabpy_provision.rserve.plan import ACCOUNT_COMMENT, RservePlan
from tabpy_provision.rserve.release import build_release, params
from tabpy_provision.rserve.verify import login_check
from tabpy_provision.run import fact_batch
from tabpy_provision.run.facts import (
    FileState,
    FolderStates,
    IntactManifest,
    LinkName,
    SubfoldersByAge,
    SystemAccount,
)
from tabpy_provision.run.lease import release_lease, take_lease
from tabpy_provision.run.operations import controller_check, file_content, folders, system_account
from tabpy_provision.run.release_operations import prune_releases, release_folder
from tabpy_provision.settings import table as settings

#: Debian's R, Rserve, and R's openssl (the login function's key derivation).
PACKAGES = ("r-base-core", "r-cran-rserve", "r-cran-openssl")


@deploy("Rserve server", data_defaults=settings.defaults())
def rserve_server(plan: RservePlan, platform: Platform, fence: FirewallPlan | None) -> None:
    """`fence`: who may reach its port and where its R sessions may connect (None: no fence
    of ours)."""
    rserve = plan.settings.rserve
    release = build_release(plan)
    unit_path = f"/etc/systemd/system/{plan.unit}"
    fact_batch.read_together(host, facts_asked(plan, platform, release.name))

    take_lease(name="Take the deploy lease (one deploy per host at a time)")
    system_account(name="Rserve system user and group", account=rserve.rserve_system_user,
                   home=rserve.rserve_workdir, comment=ACCOUNT_COMMENT)
    folders(name="Rserve folders", wanted=rserve_folders(plan))
    os_packages(platform, [*PACKAGES, *(fence_rules.PACKAGES if fence is not None else ())],
                name="R, Rserve and R's openssl (Debian's packages)"
                     + (" and nftables (the fence's tool)" if fence is not None else ""))
    # Before Rserve (re)starts: a new host never serves unfenced.
    tabpy_fence(name="Fence: who may reach Rserve (nftables table inet tabpy_provision)",
                plan=fence)
    built = release_folder(name="Rserve release (config, login function, users, TLS)",
                           config_dir=plan.config_dir, release=release,
                           users=tuple(sorted(plan.passwords)), service="Rserve",
                           names_lowered=False)
    unit = file_content(name="Rserve's systemd unit", path=unit_path,
                        content=render.render_unit(
                            params(plan, plan.current_dir), config_dir=plan.config_dir).encode())
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    rserve_activate(name="Activate the release (rollback on a failed start)", plan=plan,
                    release_name=release.name,
                    restart_anyway=lambda: unit.did_change() or built.did_change())
    systemd.service(name=f"{plan.unit} enabled at boot", service=plan.unit, running=None,
                    enabled=True)
    prune_releases(name="Prune old Rserve releases", config_dir=plan.config_dir,
                   keep=rserve.rserve_releases_to_keep)
    controller_check(name="A QAP login over TLS as Tableau would make it",
                     check=lambda: login_check(plan)[:2], success_note=f"{plan.fqdn}: ")
    release_lease(name="Release the deploy lease")


def rserve_folders(plan: RservePlan) -> tuple[tuple[str, str, str, str], ...]:
    """(path, owner, group, mode) of Rserve's folders."""
    account = plan.settings.rserve.rserve_system_user
    return ((plan.config_dir, "root", account, "0750"),
            (plan.releases_dir, "root", account, "0750"),
            (plan.settings.rserve.rserve_workdir, account, account, "0700"))


def facts_asked(plan: RservePlan, platform: Platform,
                release_name: str) -> list[tuple[type, dict]]:
    """The facts this deploy's operations ask for on a host where nothing changes, read
    together in one command (run/fact_batch.py)."""
    services = {"machine": None, "user_mode": False, "user_name": None}
    return [
        (SystemAccount, {"account": plan.settings.rserve.rserve_system_user}),
        (FolderStates, {"paths": [path for path, *_ in rserve_folders(plan)]}),
        *([(DebPackages, {})] if platform.packager == "apt" else []),
        (IntactManifest, {"path": f"{plan.releases_dir}/{release_name}"}),
        (FileState, {"path": f"/etc/systemd/system/{plan.unit}"}),
        (LinkName, {"path": f"{plan.config_dir}/current"}),
        (LinkName, {"path": f"{plan.config_dir}/previous"}),
        (RunningRserveRelease, {"service": plan.unit}),
        (SystemdEnabled, {**services, "services": [plan.unit]}),
        *fence_facts(),
        (SubfoldersByAge, {"path": plan.releases_dir}),
    ]

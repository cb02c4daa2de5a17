"""The TabPy server @deploy: user, venv, config, password file, TLS, systemd unit, health check.

Everything it writes comes from a TabpyServerPlan made (and validated) before any host is
touched. TabPy restarts only when something it reads changed; the unit is reloaded only when it
changed; a healthy rerun reports no changes.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from tabpy_provision import render, settings, verify
from tabpy_provision.operations import (
    controller_check,
    prune_venvs,
    secret_file,
    tabpy_password_file,
    tabpy_venv,
)
from tabpy_provision.plan import TabpyServerPlan
from tabpy_provision.wheelhouse import Wheelhouse

REMOTE_CACHE = "/var/cache/tabpy-provision"


@deploy("TabPy server", data_defaults=settings.defaults())
def tabpy_server(plan: TabpyServerPlan, wheelhouse: Wheelhouse) -> None:
    v = plan.values
    account = v["tabpy_system_user"]
    install_dir = v["tabpy_install_dir"]

    server.group(name="TabPy system group", group=account, system=True)
    server.user(name="TabPy system user", user=account, group=account, system=True,
                shell="/usr/sbin/nologin", home=v["tabpy_state_path"], create_home=False)

    for path, owner, group, mode in (
        (install_dir, "root", "root", "0755"),
        (f"{install_dir}/venvs", "root", "root", "0755"),
        (plan.config_dir, "root", account, "0750"),
        (plan.tls_dir, "root", account, "0750"),
        (v["tabpy_state_path"], account, account, "0750"),
        (v["tabpy_query_object_path"], account, account, "0750"),
        (v["tabpy_log_dir"], account, account, "0750"),
    ):
        files.directory(name=f"Folder {path}", path=path, user=owner, group=group, mode=mode)

    venv = f"{install_dir}/venvs/{wheelhouse.name}-{wheelhouse.sha256[:12]}"
    installed = tabpy_venv(name=f"TabPy {wheelhouse.tabpy_version} virtualenv", venv=venv,
                           archive=wheelhouse.archive, archive_sha256=wheelhouse.sha256,
                           tabpy_version=wheelhouse.tabpy_version,
                           work_dir=f"{REMOTE_CACHE}/install")
    switched = files.link(name="Activate the virtualenv", path=plan.venv_link, target=venv)
    prune_venvs(name="Prune old virtualenvs", venvs_dir=f"{install_dir}/venvs",
                keep=v["tabpy_venvs_to_keep"], protect=venv.rsplit("/", 1)[1])

    changes = [installed, switched]
    if plan.tls is not None:
        changes.append(files.put(name="TLS certificate chain", src=StringIO(
            plan.tls.chain_pem.decode()), dest=plan.certificate_path, user="root", group=account,
            mode="0644"))
        changes.append(secret_file(name="TLS private key", path=plan.key_path,
                                   content=plan.tls.key_pem, user=account, group=account,
                                   mode="0600"))
        if plan.tls.ca_pem:
            files.put(name="CA certificate (for local checks)", src=StringIO(
                plan.tls.ca_pem.decode()), dest=plan.ca_path, user="root", group=account,
                mode="0644")
    if plan.password_file is not None:
        changes.append(tabpy_password_file(name="TabPy password file", path=plan.password_path,
                                           content=plan.password_file, users=plan.user_names,
                                           account=account))
    changes.append(files.put(name="TabPy config", src=StringIO(render.tabpy_config(plan)),
                             dest=plan.config_path, user="root", group=account, mode="0640"))
    unit = files.put(name="systemd unit", src=StringIO(render.systemd_unit(plan)),
                     dest=f"/etc/systemd/system/{v['tabpy_service_name']}.service",
                     user="root", group="root", mode="0644")
    changes.append(unit)

    service = f"{v['tabpy_service_name']}.service"
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    # Restart only a running TabPy whose inputs changed; the next op starts a stopped one.
    systemd.service(name="Restart TabPy (what it reads changed)", service=service,
                    running=None, restarted=True,
                    _if=lambda: any(op.did_change() for op in changes))
    systemd.service(name="TabPy running and enabled", service=service, running=True,
                    enabled=True)

    controller_check(name="Health check as Tableau would do it",
                     check=lambda: _health(plan), success_note=f"{plan.fqdn}: ")


def _health(plan: TabpyServerPlan) -> tuple[bool, str]:
    credentials = (plan.health_user, plan.health_password) if plan.health_user else None
    result = verify.wait_for_tabpy(
        plan["tabpy_health_check_timeout"], fqdn=plan.fqdn, address=plan.connect_address,
        port=plan["tabpy_port"], https=plan.https, ca_pem=plan.tls.ca_pem if plan.tls else None,
        credentials=credentials)
    return result.ok, result.detail

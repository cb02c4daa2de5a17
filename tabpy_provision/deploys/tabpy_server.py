"""The TabPy server @deploy: user, venv, release (config, password file, TLS), systemd unit,
activation with rollback, health check.

Everything it writes comes from a TabpyServerPlan made (and validated) before any host is
touched. Files TabPy reads form an immutable release (release.py); TabPy is restarted only when
the release it runs, or its unit, changed; a failed start rolls back to the previous release.
Hosts activate in batches of `tabpy_rolling_batch` (one at a time by default), each verified
before the next, and a failure stops the roll. A healthy rerun reports no changes.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, deploy
from pyinfra.operations import files, server, systemd

from tabpy_provision import render, settings, verify
from tabpy_provision.lease import release_lease, take_lease
from tabpy_provision.operations import (
    controller_check,
    prune_releases,
    prune_venvs,
    switch_command,
    tabpy_activate,
    tabpy_release,
    tabpy_venv,
)
from tabpy_provision.plan import TabpyServerPlan
from tabpy_provision.release import build_release
from tabpy_provision.summary import note_failure
from tabpy_provision.wheelhouse import Wheelhouse

REMOTE_CACHE = "/var/cache/tabpy-provision"
JOURNAL_ERROR_LINES = 8
# Hosts whose activation failed in a run (keyed by the run's state): stops the roll.
_failed_activations: dict[int, list[str]] = {}


@deploy("TabPy server", data_defaults=settings.defaults())
def tabpy_server(plan: TabpyServerPlan, wheelhouse: Wheelhouse) -> None:
    v = plan.values
    account = v["tabpy_system_user"]
    install_dir = v["tabpy_install_dir"]
    service = f"{v['tabpy_service_name']}.service"

    take_lease(name="Take the deploy lease (one deploy per host at a time)")
    server.group(name="TabPy system group", group=account, system=True)
    server.user(name="TabPy system user", user=account, group=account, system=True,
                shell="/usr/sbin/nologin", home=v["tabpy_state_path"], create_home=False)

    for path, owner, group, mode in (
        (REMOTE_CACHE, "root", "root", "0700"),
        (install_dir, "root", "root", "0755"),
        (f"{install_dir}/venvs", "root", "root", "0755"),
        (plan.config_dir, "root", account, "0750"),
        (plan.releases_dir, "root", account, "0750"),
        (v["tabpy_state_path"], account, account, "0750"),
        (v["tabpy_query_object_path"], account, account, "0750"),
        (v["tabpy_log_dir"], account, account, "0750"),
    ):
        files.directory(name=f"Folder {path}", path=path, user=owner, group=group, mode=mode)

    venv = f"{install_dir}/venvs/{wheelhouse.name}-{wheelhouse.sha256[:12]}"
    tabpy_venv(name=f"TabPy {wheelhouse.tabpy_version} virtualenv", venv=venv,
               archive=wheelhouse.archive, archive_sha256=wheelhouse.sha256,
               tabpy_version=wheelhouse.tabpy_version, work_dir=f"{REMOTE_CACHE}/install")
    release = build_release(plan, venv)
    tabpy_release(name="TabPy release (config, users, TLS, venv)", config_dir=plan.config_dir,
                  release=release, users=plan.user_names)
    if plan.tls is not None and plan.tls.ca_pem:
        files.put(name="CA certificate (for checks on the host)",
                  src=StringIO(plan.tls.ca_pem.decode()), dest=plan.ca_path, user="root",
                  group=account, mode="0644")
    unit = files.put(name="systemd unit", src=StringIO(render.systemd_unit(plan)),
                     dest=f"/etc/systemd/system/{service}", user="root", group="root",
                     mode="0644")
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)

    failed = _failed_activations.setdefault(id(host.state), [])
    tabpy_activate(
        name="Activate the release (rolling; rollback on a failed start)",
        config_dir=plan.config_dir, release_name=release.name, service=service,
        unit_changed=unit.did_change,
        # A closure, not args: FunctionCommand's repr (shown at -vv) would print its args.
        restart_and_verify=lambda previous: FunctionCommand(
            lambda state, host: _restart_and_verify(host, plan, release.name, previous, failed),
            (), {}),
        roll_stopped=lambda: ", ".join(failed) or None,
        _parallel=v["tabpy_rolling_batch"])
    systemd.service(name="TabPy enabled at boot", service=service, running=None, enabled=True)
    prune_releases(name="Prune old releases", config_dir=plan.config_dir,
                   keep=v["tabpy_releases_to_keep"])
    prune_venvs(name="Prune unused virtualenvs", venvs_dir=f"{install_dir}/venvs",
                config_dir=plan.config_dir, protect=venv.rsplit("/", 1)[1])
    controller_check(name="Health check as Tableau would do it",
                     check=lambda: _health(plan), success_note=f"{plan.fqdn}: ")
    release_lease(name="Release the deploy lease")


def _check_args(plan: TabpyServerPlan) -> dict:
    return dict(plan.endpoint_args, credentials=plan.health_credentials,
                evaluate=plan["tabpy_evaluate_enable"])


def _health(plan: TabpyServerPlan) -> tuple[bool, str]:
    result = verify.wait_for_tabpy(plan["tabpy_health_check_timeout"], **_check_args(plan))
    return result.ok, result.detail


def _shell(host, *command) -> tuple[bool, list[str]]:
    ok, output = host.run_shell_command(StringCommand(*command))
    return ok, output.stdout_lines


def _restart_and_verify(host, plan: TabpyServerPlan, release: str,
                        previous: str | None, failed: list[str]) -> bool:
    """Restart into `release` and run Tableau's check; on failure put `previous` back,
    restart, check that TabPy serves again, and fail with what TabPy said."""
    service = f"{plan['tabpy_service_name']}.service"
    _, cursor = _shell(host, "journalctl -u", service, "-n 0 --show-cursor --no-pager",
                       "| sed -n 's/^-- cursor: //p'")

    def exited() -> str | None:
        _, lines = _shell(host, "systemctl show -p NRestarts -p ActiveState --value", service)
        restarts, active = (lines + ["0", ""])[:2]
        if active == "failed" or restarts not in ("", "0"):
            return f"TabPy exited ({active}, restarted {restarts or 0} times by systemd)"
        return None

    def restart() -> None:
        _shell(host, "systemctl reset-failed", service, "; systemctl restart", service)

    restart()
    result = verify.wait_for_tabpy(plan["tabpy_health_check_timeout"], give_up=exited,
                                   **_check_args(plan))
    if result.ok:
        return True
    failed.append(host.name)
    outcome = f"rolled back to {previous}" if previous else "nothing to roll back to"
    note_failure(host.state, host.name,
                 f"TabPy did not start release {release} ({result.detail}); {outcome}")
    after = QuoteString(f"--after-cursor={cursor[0]}") if cursor else "-n 200"
    _, said = _shell(host, "journalctl -u", service, after, "-o cat --no-pager",
                     r"| grep -E '\b(ERROR|CRITICAL)\b|Error:|Exception:' | tail -n",
                     JOURNAL_ERROR_LINES)
    host.log_styled(f"TabPy failed to start release {release}: {result.detail}", fg="red")
    for line in said:
        host.log_styled(f"  TabPy said: {line}", fg="red")
    if previous and previous != release:
        _shell(host, switch_command(plan.config_dir, "current", previous))
        restart()
        back = verify.wait_for_tabpy(plan["tabpy_health_check_timeout"], give_up=exited,
                                     check=verify.check_serving, **_check_args(plan))
        host.log_styled(f"rolled back to release {previous}: {back.detail}",
                        fg="yellow" if back.ok else "red")
    else:
        host.log_styled("no previous release to roll back to", fg="red")
    return False

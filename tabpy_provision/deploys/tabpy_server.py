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

from io import StringIO

from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, deploy
from pyinfra.operations import apt, files, server, systemd

from tabpy_provision import render, settings, verify
from tabpy_provision.lease import release_lease, take_lease
from tabpy_provision.operations import (
    controller_check,
    other_units_stopped,
    prune_releases,
    prune_venvs,
    switch_command,
    tabpy_activate,
    tabpy_release,
    tabpy_venv,
)
from tabpy_provision.plan import Instance, TabpyServerPlan
from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import Membership
from tabpy_provision.pool.operations import (
    Drain,
    backend_cas_widened,
    balancer_files,
    balancer_service,
    host_balancer_stopped,
)
from tabpy_provision.release import build_release
from tabpy_provision.run import run_of
from tabpy_provision.summary import note_failure
from tabpy_provision.wheelhouse import Wheelhouse

REMOTE_CACHE = "/var/cache/tabpy-provision"
JOURNAL_ERROR_LINES = 8
# Hosts whose activation failed in a run (keyed by the run's state): stops the roll.


@deploy("TabPy server", data_defaults=settings.defaults())
def tabpy_server(plan: TabpyServerPlan, wheelhouse: Wheelhouse,
                 members: list[Membership]) -> None:
    """`members`: the balancers in front of each TabPy process (drained around restarts)."""
    v = plan.values
    account = v["tabpy_system_user"]
    install_dir = v["tabpy_install_dir"]
    units = [instance.unit for instance in plan.instances]

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
        *[(path, account, account, "0750") for instance in plan.instances if plan.local_balancer
          for path in (instance.state_path, instance.query_object_path)],
    ):
        files.directory(name=f"Folder {path}", path=path, user=owner, group=group, mode=mode)

    venv = f"{install_dir}/venvs/{wheelhouse.name}-{wheelhouse.identity[:12]}"
    tabpy_venv(name=f"TabPy {wheelhouse.tabpy_version} virtualenv", venv=venv,
               archive=wheelhouse.archive, identity=wheelhouse.identity,
               tabpy_version=wheelhouse.tabpy_version, work_dir=f"{REMOTE_CACHE}/install")
    release = build_release(plan, venv)
    built = tabpy_release(name="TabPy release (config, users, TLS, venv)",
                          config_dir=plan.config_dir, release=release, users=plan.user_names)
    if plan.tls is not None and plan.tls.ca_pem:
        files.put(name="CA certificate (for checks on the host)",
                  src=StringIO(plan.tls.ca_pem.decode()), dest=plan.ca_path, user="root",
                  group=account, mode="0644")
    unit = files.put(name="systemd unit", src=StringIO(render.systemd_unit(plan)),
                     dest=f"/etc/systemd/system/{plan.unit_file}", user="root", group="root",
                     mode="0644")
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    local = balancer.local_balancer(plan) if plan.local_balancer else None
    if local:
        apt.packages(name="HAProxy (this host's balancer)", packages=balancer.PACKAGES)
        backend_cas_widened(name="This host's balancer also trusts the new CA",
                            ca_pem=local.backend_ca_pem)
    else:
        # One TabPy process again: it takes tabpy_port back from the host's balancer.
        host_balancer_stopped(name="This host's balancer stopped (one TabPy process)")

    failed = run_of(host.state).failed_activations
    tabpy_activate(
        name="Activate the release (rolling; rollback on a failed start)",
        config_dir=plan.config_dir, release_name=release.name, services=units,
        restart_anyway=lambda: unit.did_change() or built.did_change(),
        # A closure, not args: FunctionCommand's repr (shown at -vv) would print its args.
        restart_and_verify=lambda previous: FunctionCommand(
            lambda state, host: _restart_and_verify(host, plan, release.name, previous, failed,
                                                    members),
            (), {}),
        roll_stopped=lambda: ", ".join(failed) or None,
        _parallel=v["tabpy_rolling_batch"])
    for name in units:
        systemd.service(name=f"{name} enabled at boot", service=name, running=None,
                        enabled=True)
    other_units_stopped(name="TabPy units of another process count stopped",
                        service=v["tabpy_service_name"], wanted=units)
    if local:
        written = balancer_files(name="This host's balancer: HAProxy config and certificate",
                                 plan=local)
        balancer_service(name="This host's balancer running (reloaded on change)",
                         reload=written.did_change)
    prune_releases(name="Prune old releases", config_dir=plan.config_dir,
                   keep=v["tabpy_releases_to_keep"])
    prune_venvs(name="Prune unused virtualenvs", venvs_dir=f"{install_dir}/venvs",
                config_dir=plan.config_dir, protect=venv.rsplit("/", 1)[1])
    controller_check(name="Health check as Tableau would do it",
                     check=lambda: _health(plan), success_note=f"{plan.fqdn}: ")
    release_lease(name="Release the deploy lease")


def _check_args(plan: TabpyServerPlan, instance: Instance | None = None) -> dict:
    """How a check reaches TabPy: on tabpy_port, or one process on its own port."""
    where = dict(plan.endpoint_args, port=instance.port) if instance else plan.endpoint_args
    return dict(where, credentials=plan.health_credentials,
                evaluate=plan["tabpy_evaluate_enable"])


def _health(plan: TabpyServerPlan) -> tuple[bool, str]:
    result = verify.wait_for_tabpy(plan["tabpy_health_check_timeout"], **_check_args(plan))
    return result.ok, result.detail


def _shell(host, *command) -> tuple[bool, list[str]]:
    ok, output = host.run_shell_command(StringCommand(*command))
    return ok, output.stdout_lines


def _restart_and_verify(host, plan: TabpyServerPlan, release: str, previous: str | None,
                        failed: list[str], members: list[Membership]) -> bool:
    """Restart each TabPy process into `release` in turn and run Tableau's check on it; on a
    failure put `previous` back, restart the processes already moved, check that they serve
    again, and fail with what TabPy said."""
    moved: list[Instance] = []
    for instance in plan.instances:
        cursor = _journal_cursor(host, instance.unit)
        result = _restart(host, plan, instance, members)
        if result.ok:
            moved.append(instance)
            continue
        failed.append(host.name)
        outcome = f"rolled back to {previous}" if previous else "nothing to roll back to"
        note_failure(host.state, host.name, f"TabPy ({instance.unit}) did not start release "
                     f"{release} ({result.detail}); {outcome}")
        host.log_styled(f"{instance.unit} failed to start release {release}: {result.detail}",
                        fg="red")
        for line in _journal_errors(host, instance.unit, cursor):
            host.log_styled(f"  TabPy said: {line}", fg="red")
        if previous and previous != release:
            _shell(host, switch_command(plan.config_dir, "current", previous))
            for restarted in (*moved, instance):
                ok, _ = _shell(host, "test -f", f"{plan.current_dir}/{restarted.config_name}")
                if not ok:  # the previous release had another process count: its units run
                    _shell(host, "systemctl stop", restarted.unit)
                    continue
                back = _restart(host, plan, restarted, members, check=verify.check_serving)
                host.log_styled(f"{restarted.unit} rolled back to release {previous}: "
                                f"{back.detail}", fg="yellow" if back.ok else "red")
        else:
            host.log_styled("no previous release to roll back to", fg="red")
        return False
    return True


def _restart(host, plan: TabpyServerPlan, instance: Instance, members: list[Membership],
             check=verify.check_tabpy) -> verify.CheckResult:
    """Restart one TabPy process, drained from the balancers in front of it meanwhile; back
    in once it passes `check` and every balancer's own health check sees it serving."""
    unit = instance.unit
    interval = plan["lb_check_interval_ms"] / 1000

    def exited() -> str | None:
        _, lines = _shell(host, "systemctl show -p NRestarts -p ActiveState", unit)
        shown = dict(line.split("=", 1) for line in lines if "=" in line)
        active, restarts = shown.get("ActiveState", ""), int(shown.get("NRestarts") or 0)
        # One restart by systemd is waited out: systemd itself sometimes fails to spawn a
        # process (result 'resources') and its restart succeeds; TabPy failing twice is final.
        if active == "failed" or restarts >= 2:
            return f"TabPy exited ({active}, restarted {restarts} times by systemd)"
        return None

    drain = Drain(host, [m for m in members if m.port == instance.port],
                  timeout=plan["lb_drain_timeout"],
                  back_timeout=(plan["lb_check_rise"] + 2) * interval + 10,
                  log=lambda line: host.log(f"{unit}: {line}"))
    drain.out()
    _shell(host, "systemctl reset-failed", unit, "; systemctl restart", unit)
    result = verify.wait_for_tabpy(plan["tabpy_health_check_timeout"], give_up=exited,
                                   check=check, **_check_args(plan, instance))
    if result.ok and not drain.back():
        return verify.CheckResult(False, f"{result.detail}, but a balancer's health check "
                                  "does not see it serving (lb_monitor_user?)")
    return result


def _journal_cursor(host, unit: str) -> str | None:
    _, cursor = _shell(host, "journalctl -u", unit, "-n 0 --show-cursor --no-pager",
                       "| sed -n 's/^-- cursor: //p'")
    return cursor[0] if cursor else None


def _journal_errors(host, unit: str, cursor: str | None) -> list[str]:
    after = QuoteString(f"--after-cursor={cursor}") if cursor else "-n 200"
    _, said = _shell(host, "journalctl -u", unit, after, "-o cat --no-pager",
                     r"| grep -E '\b(ERROR|CRITICAL)\b|Error:|Exception:' | tail -n",
                     JOURNAL_ERROR_LINES)
    return said

"""Activating a release on a TabPy host, one process at a time (pyinfra side).

The steps, in order: nothing to do when every process already runs the release (unless its
unit changed or the release was repaired in place); nothing either once another host's
activation failed in this run (the roll stops); else `current` switches to the release (the
old one becomes `previous`), then each process in turn is drained from every balancer in front
of it, restarted, checked the way Tableau checks it, and put back once its balancers see it
serving. When a process fails, `previous` comes back, the processes already moved restart
into it and are checked serving, and the host fails with what TabPy said in its journal.
"""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from tabpy_provision.firewall.operations import restore_fence
from tabpy_provision.pool.balancer import Membership
from tabpy_provision.pool.operations import Drain
from tabpy_provision.run import remote
from tabpy_provision.run.current import run_of
from tabpy_provision.run.facts import LinkName
from tabpy_provision.run.release_operations import switch_command, switched
from tabpy_provision.run.summary import note_failure
from tabpy_provision.server import verify
from tabpy_provision.server.facts import RunningRelease
from tabpy_provision.server.plan import Instance, TabpyServerPlan

JOURNAL_ERROR_LINES = 8


@operation()
def tabpy_activate(plan: TabpyServerPlan, release_name: str, members: list[Membership],
                   restart_anyway: Callable[[], bool]):
    """Make `release_name` the release every TabPy process of the host serves (see the module
    docstring). `members`: the balancers in front of each process."""
    config_dir = plan.config_dir
    current = host.get_fact(LinkName, path=f"{config_dir}/current")
    running = {host.get_fact(RunningRelease, service=instance.unit)
               for instance in plan.instances}
    if current == release_name and running == {release_name} and not (
            host.state.is_executing and restart_anyway()):
        return
    failed = run_of(host.state).failed_activations
    if failed:
        host.noop(f"not activated: the roll stopped after {', '.join(failed)} failed")
        if host.name in run_of(host.state).fences_before:  # its fence goes with the release
            yield FunctionCommand(lambda state, host: _fence_back(host), (), {})
        return
    commands, previous = switched(config_dir, current, release_name)
    yield from commands
    # A closure, not arguments: FunctionCommand's repr (shown at -vv) would print them.
    yield FunctionCommand(lambda state, host: restart_each(host, plan, release_name, previous,
                                                           members), (), {})


def restart_each(host, plan: TabpyServerPlan, release: str, previous: str | None,
                 members: list[Membership]) -> bool:
    """Restart each TabPy process into `release` in turn, checked; on a failure roll back."""
    moved: list[Instance] = []
    for instance in plan.instances:
        cursor = remote.journal_cursor(host, instance.unit)
        result = restart_process(host, plan, instance, members)
        if result.ok:
            moved.append(instance)
            continue
        _report_failure(host, instance, release, previous, result, cursor)
        _roll_back(host, plan, previous, release, [*moved, instance], members)
        _fence_back(host)
        return False
    return True


def _fence_back(host) -> bool:
    """The fence this run replaced comes back with the release that ran with it (said in the
    log and the run's summary)."""
    restored = restore_fence(host)
    if restored:
        ok, said = restored
        host.log_styled(f"fence: {said}", fg="yellow" if ok else "red")
        failures = run_of(host.state).failures
        if host.name in failures:
            failures[host.name] += f"; {said}"
    return True


def _report_failure(host, instance: Instance, release: str, previous: str | None,
                    result: verify.CheckResult, cursor: str | None) -> None:
    run_of(host.state).failed_activations.append(host.name)
    outcome = f"rolled back to {previous}" if previous else "nothing to roll back to"
    note_failure(host.state, host.name, f"TabPy ({instance.unit}) did not start release "
                 f"{release} ({result.detail}); {outcome}")
    host.log_styled(f"{instance.unit} failed to start release {release}: {result.detail}",
                    fg="red")
    for line in _journal_errors(host, instance.unit, cursor):
        host.log_styled(f"  TabPy said: {line}", fg="red")


def _roll_back(host, plan: TabpyServerPlan, previous: str | None, release: str,
               touched: list[Instance], members: list[Membership]) -> None:
    """`previous` becomes current again; the processes touched restart into it, checked
    serving (or stop, when the previous release had another process count)."""
    if not previous or previous == release:
        host.log_styled("no previous release to roll back to", fg="red")
        return
    remote.run_lines(host, switch_command(plan.config_dir, "current", previous))
    for instance in touched:
        ok, _ = remote.run_lines(host, "test -f", f"{plan.current_dir}/{instance.config_name}")
        if not ok:  # the previous release had another process count: its units run
            remote.run_lines(host, "systemctl stop", instance.unit)
            continue
        back = restart_process(host, plan, instance, members, check=verify.check_serving)
        host.log_styled(f"{instance.unit} rolled back to release {previous}: {back.detail}",
                        fg="yellow" if back.ok else "red")


def restart_process(host, plan: TabpyServerPlan, instance: Instance, members: list[Membership],
             check=verify.check_tabpy) -> verify.CheckResult:
    """Restart one TabPy process, drained from the balancers in front of it meanwhile; back
    in once it passes `check` and every balancer's own health check sees it serving."""
    unit = instance.unit
    pool, timeout = plan.settings.pool, plan.settings.secrets.tabpy_health_check_timeout
    interval = pool.lb_check_interval_ms / 1000

    drain = Drain(host, [m for m in members if m.port == instance.port],
                  timeout=pool.lb_drain_timeout,
                  back_timeout=(pool.lb_check_rise + 2) * interval + 10,
                  log=lambda line: host.log(f"{unit}: {line}"))
    drain.out()
    remote.run_lines(host, "systemctl reset-failed", unit, "; systemctl restart", unit)

    def exited() -> str | None:
        return remote.unit_gave_up(host, unit, "TabPy")

    result = verify.wait_for_tabpy(timeout, give_up=exited,
                                   check=check, **check_args(plan, instance))
    if result.ok and check is verify.check_tabpy:  # back only once /query answers too
        loaded = verify.wait_for_tabpy(timeout, give_up=exited,
                                       check=verify.check_models_loaded,
                                       **check_args(plan, instance))
        result = result if loaded.ok else loaded
    if result.ok and not drain.back():
        return verify.CheckResult(False, f"{result.detail}, but a balancer's health check "
                                  "does not see it serving (lb_monitor_user?)")
    return result


def check_args(plan: TabpyServerPlan, instance: Instance | None = None) -> dict:
    """How a check reaches TabPy: on tabpy_port, or one process on its own port."""
    where = dict(plan.endpoint_args, port=instance.port) if instance else plan.endpoint_args
    return dict(where, credentials=plan.health_credentials,
                evaluate=plan.settings.tabpy.tabpy_evaluate_enable)


def _journal_errors(host, unit: str, cursor: str | None) -> list[str]:
    # A TabPy exiting while it loads published functions logs "can't register atexit after
    # shutdown" for each: a consequence of the exit, which would push its cause out of view.
    return remote.journal_since(host, unit, cursor, JOURNAL_ERROR_LINES,
                                keep=r"grep -E '\b(ERROR|CRITICAL)\b|Error:|Exception:' "
                                     r"| grep -v 'after shutdown'")

"""Activating an Rserve release (pyinfra side): switch `current`, restart, check with a real
QAP login over TLS the way Tableau would log in; when that fails, `previous` comes back and
Rserve restarts into it, and the host fails with what Rserve said in its journal."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from tabpy_provision.firewall.operations import restore_fence
from tabpy_provision.rserve.facts import RunningRserveRelease
from tabpy_provision.rserve.plan import RservePlan
from tabpy_provision.rserve.verify import wait_for_login
from tabpy_provision.run import remote
from tabpy_provision.run.facts import LinkName
from tabpy_provision.run.release_operations import switch_command, switched
from tabpy_provision.run.summary import note_failure

JOURNAL_LINES = 8


@operation()
def rserve_activate(plan: RservePlan, release_name: str, restart_anyway: Callable[[], bool]):
    """Make `release_name` the release Rserve serves (see the module docstring)."""
    config_dir = plan.config_dir
    current = host.get_fact(LinkName, path=f"{config_dir}/current")
    running = host.get_fact(RunningRserveRelease, service=plan.unit)
    if current == release_name and running == release_name and not (
            host.state.is_executing and restart_anyway()):
        return
    commands, previous = switched(config_dir, current, release_name)
    yield from commands
    # A closure, not arguments: FunctionCommand's repr (shown at -vv) would print them.
    yield FunctionCommand(lambda state, host: _restart(host, plan, release_name, previous),
                          (), {})


def _restart(host, plan: RservePlan, release: str, previous: str | None) -> bool:
    cursor = remote.journal_cursor(host, plan.unit)
    ok, detail = _restart_checked(host, plan)
    if ok:
        return True
    outcome = f"rolled back to {previous}" if previous and previous != release else \
        "nothing to roll back to"
    note_failure(host.state, host.name, f"Rserve did not start release {release} ({detail}); "
                 f"{outcome}")
    host.log_styled(f"{plan.unit} failed to start release {release}: {detail}", fg="red")
    for line in remote.journal_since(host, plan.unit, cursor, JOURNAL_LINES):
        host.log_styled(f"  Rserve said: {line}", fg="red")
    if previous and previous != release:
        remote.run(host, switch_command(plan.config_dir, "current", previous))
        back, said = _restart_checked(host, plan)
        host.log_styled(f"{plan.unit} rolled back to release {previous}: {said}",
                        fg="yellow" if back else "red")
    restored = restore_fence(host)  # the fence the old release ran with
    if restored:
        host.log_styled(f"fence: {restored[1]}", fg="yellow" if restored[0] else "red")
    return False


def _restart_checked(host, plan: RservePlan) -> tuple[bool, str]:
    remote.run(host, "systemctl reset-failed", plan.unit, "; systemctl restart", plan.unit)
    return wait_for_login(plan, lambda: remote.unit_gave_up(host, plan.unit, "Rserve"))

"""The end-of-run summary: every host that failed, and where, so an engineer with many hosts
sees at a glance what a rerun has to finish. (pyinfra removes a failed host from the run and
goes on with the others; its own output shows each error where it happened.)"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.state import BaseStateCallback, State

from tabpy_provision.run import report as run_report
from tabpy_provision.run.current import run_of

SUMMARY_HEADER = "host(s) failed; a rerun finishes them:"


class FailureRecorder(BaseStateCallback):
    @staticmethod
    def operation_host_error(state, host, op_hash, retry_attempt=0, max_retries=0):
        names = state.get_op_meta(op_hash).names
        failures = run_of(state).failures
        failures.setdefault(host.name, f"failed in '{' / '.join(sorted(names))}'")
        run_report.failures(failures)


def record_failures(state: State) -> None:
    """Start recording (idempotent: the deploy file is loaded once per host)."""
    run = run_of(state)
    if not run.recording_failures:
        run.recording_failures = True
        state.add_callback_handler(FailureRecorder())


def note_failure(state: State, host_name: str, reason: str) -> None:
    """A more precise reason than the operation's name (e.g. why TabPy did not start)."""
    failures = run_of(state).failures
    failures[host_name] = reason
    run_report.failures(failures)


def summary_lines(state: State) -> list[str]:
    reasons = run_of(state).failures
    return [f"{host.name}: {reasons.get(host.name, 'unreachable (could not connect)')}"
            for host in sorted(state.failed_hosts, key=lambda h: h.name)]


@operation()
def failure_summary():
    """Print the summary once, from the first host still running; never a change."""
    state = host.state
    if not state.is_executing or host.name != min(h.name for h in state.active_hosts):
        return
    lines = summary_lines(state)
    if lines:
        host.log_styled(f"{len(lines)} {SUMMARY_HEADER}", fg="red")
        for line in lines:
            host.log_styled(f"  {line}", fg="red")
    yield from ()

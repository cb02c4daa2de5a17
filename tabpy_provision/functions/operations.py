"""Publishing functions and pre-built models on a TabPy host (pyinfra side).

What each TabPy process serves is read from its state.ini (no credentials needed, nothing
run); only when some process differs does the deploy upload the publisher and run it there,
as TabPy's account, with the virtualenv's Python (publisher.py), the credentials on stdin.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation

from tabpy_provision.functions import source
from tabpy_provision.functions.facts import PublishedFunctions
from tabpy_provision.functions.source import Function
from tabpy_provision.pool.balancer import Membership
from tabpy_provision.run import remote
from tabpy_provision.run.summary import note_failure
from tabpy_provision.server.plan import TabpyServerPlan
from tabpy_provision.server.roll import restart_process

HERE = Path(__file__).resolve().parent
#: Where the publisher and source.py lie on a host (root's, readable by TabPy's account).
PUBLISHER_DIR = "publisher"
#: In each process's state folder: the functions that last passed their examples there (what
#: a failed one rolls back to).
RECORD = "tabpy-provision-functions.json"


@operation()
def tabpy_functions(plan: TabpyServerPlan, functions: tuple[Function, ...], venv: str,
                    members: list[Membership]):
    """Every TabPy process of the host serves exactly `functions` (those this deploy
    published; models others deployed are left alone), each proven by its examples.
    `members`: the balancers in front of each process (a restart drains it first)."""
    found = host.get_fact(PublishedFunctions, record=RECORD,
                          folders=[instance.state_path for instance in plan.instances])
    pending = source.pending_changes(functions, venv, {
        f"port {instance.port}": found.get(instance.state_path, ({}, False))
        for instance in plan.instances})
    if not pending:
        return
    # What --dry shows (pyinfra runs this to detect changes), and a real run before it acts.
    for line in pending:
        host.log(f"functions on {line}")
    account = plan.settings.tabpy.tabpy_system_user
    folder = f"{plan.settings.tabpy.tabpy_install_dir}/{PUBLISHER_DIR}"
    yield StringCommand("install -d -m 0755", shlex.quote(folder))
    for name in ("publisher.py", "source.py"):
        yield remote.upload(HERE / name, f"{folder}/{name}", mode="0644")
    order = {
        "fqdn": plan.fqdn, "https": plan.https,
        "ca_file": plan.ca_path if plan.tls is not None and plan.tls.ca_pem else None,
        "credentials": list(plan.health_credentials) if plan.health_credentials else None,
        "processes": [{"port": instance.port, "record": f"{instance.state_path}/{RECORD}"}
                      for instance in plan.instances],
        "functions": [function.to_publisher(venv) for function in functions],
    }
    command = (f"runuser -u {shlex.quote(account)} -- {shlex.quote(venv + '/bin/python')} "
               f"-E -s {shlex.quote(folder + '/publisher.py')}")
    # A closure, not arguments: FunctionCommand's repr (shown at -vv) would print them.
    yield FunctionCommand(lambda state, host: _publish(host, plan, members, command, order),
                          (), {})


def _publish(host, plan: TabpyServerPlan, members: list[Membership], command: str,
             order: dict) -> bool:
    status, out, err = remote.stream(host, command, json.dumps(order).encode())
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        said = err.decode(errors="replace").strip().splitlines()
        reason = f"the function publisher failed (exit {status}): " \
                 f"{said[-1] if said else 'no output'}"
        note_failure(host.state, host.name, reason)
        host.log_styled(reason, fg="red")
        return False
    for port, name, seconds in report["published"]:
        host.log(f"published {name!r} on port {port} ({seconds:.1f} s)")
    for port, name in report["removed"]:
        host.log(f"removed {name!r} from port {port}")
    for line in report["rolled_back"]:
        host.log_styled(f"rolled back: {line}", fg="yellow")
    failed = list(report["failed"])
    # TabPy 2.16 drops a removed endpoint from its state but keeps serving it from memory
    # (its DELETE handler fails before unloading it): only a restart unloads it.
    for instance in plan.instances:
        if instance.port in report["unload"]:
            result = restart_process(host, plan, instance, members)
            host.log(f"{instance.unit} restarted to unload removed endpoints: {result.detail}")
            if not result.ok:
                failed.append(f"{instance.port}: restart after a removal failed: "
                              f"{result.detail}")
    if not failed and status == 0:
        return True
    reason = "functions failed their examples: " + "; ".join(failed)
    note_failure(host.state, host.name, reason)
    host.log_styled(reason, fg="red")
    return False

"""A deploy lease per host: two deploys must not change one TabPy host at the same time.

The lease is a folder in /run (gone at reboot) holding its owner: controller, pid, run id and
expiry. Taking and releasing it are bookkeeping, not changes: a rerun still reports none. A
lease is taken over when it expired, or when its controller is this machine and its process is
gone (a killed deploy); otherwise the host fails with who holds it.
"""

from __future__ import annotations

import os
import shlex
import socket
import time

from pyinfra import host
from pyinfra.api import operation

from tabpy_provision.run import remote
from tabpy_provision.run.current import run_of
from tabpy_provision.run.operations import fail_command

LEASE = "/run/tabpy-provision.lease"
TTL_SECONDS = 900  # a deploy that died on another controller blocks at most this long


def _owner() -> str:
    run_id = run_of(host.state).lease_id
    expires = int(time.time()) + TTL_SECONDS
    return f"{socket.gethostname()} {os.getpid()} {run_id} {expires}"


def holder_is_live(owner: str, run_id: str) -> bool:
    """Whether a lease recorded as `owner` still belongs to another live deploy."""
    try:
        controller, pid, held_by, expires = owner.split()
        if held_by == run_id or int(expires) < time.time():
            return False
        if controller == socket.gethostname():
            os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


def _run(command: str) -> list[str]:
    _, output = remote.run(host, command)
    return output.stdout_lines


@operation()
def take_lease():
    if not host.state.is_executing:
        return
    owner = _owner()
    held = _run(f"mkdir {LEASE} 2>/dev/null && echo {shlex.quote(owner)} > {LEASE}/owner"
                f" || cat {LEASE}/owner 2>/dev/null || true")
    if not held:
        return
    if holder_is_live(held[0], owner.split()[2]):
        controller, pid, run_id, expires = held[0].split()
        yield fail_command(f"another deploy holds this host (run {run_id}, pid {pid} on "
                           f"{controller}, until {time.ctime(int(expires))}); retry later or "
                           f"remove {LEASE}")
        return
    _run(f"echo {shlex.quote(owner)} > {LEASE}/owner")


@operation()
def release_lease():
    if host.state.is_executing:
        run_id = _owner().split()[2]
        _run(f"grep -qs ' {run_id} ' {LEASE}/owner && rm -rf {LEASE} || true")
    yield from ()

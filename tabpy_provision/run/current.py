"""One pyinfra run of a deploy: what it checked, what the controller must prepare, which hosts
failed and why. pyinfra loads each deploy file once per host, in greenlets: the run lives on
pyinfra's State, so every host's load and every callback sees the same one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from gevent.lock import RLock
from pyinfra.api.state import State

from tabpy_provision.controller.files import Staged


@dataclass
class Run:
    #: The checked plans (a Preflight), or the BadInput that stopped the run; None until the
    #: first deploy file asked.
    checked: Any = None
    #: What the controller must write (CA, certificates, passwords, wheelhouses, trust
    #: artifacts): staged while checking, applied by the run's first operation.
    files: Staged = field(default_factory=Staged)
    #: Hosts whose operations already start with preparing the controller.
    prepared_on: set[str] = field(default_factory=set)
    #: Why each failed host failed (the end-of-run summary).
    failures: dict[str, str] = field(default_factory=dict)
    recording_failures: bool = False
    #: Hosts whose TabPy did not start the new release: the roll stops.
    failed_activations: list[str] = field(default_factory=list)
    #: The fence each host had before this run replaced it (the ruleset's text): the fence
    #: of the release a failed activation rolls back to.
    fences_before: dict[str, str] = field(default_factory=dict)
    #: deploy/restore.py: the verified archives and plans (or the BadInput that stopped it).
    restore: Any = None
    #: Names this run in the deploy leases it takes on hosts.
    lease_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: Reentrant: the restore check runs the preflight inside its own check.
    lock: RLock = field(default_factory=RLock)


def run_of(state: State) -> Run:
    """The run of this pyinfra State (made on first use)."""
    run = getattr(state, "tabpy_provision_run", None)
    if run is None:
        run = Run()
        state.tabpy_provision_run = run
    return run

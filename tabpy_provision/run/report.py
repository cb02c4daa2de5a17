"""What a pyinfra run tells the `tabpy-provision` command that started it, as JSON lines on a
nameless file the command passes down (TABPY_PROVISION_REPORT_FD): the controller's own planned
writes and why each failed host failed. Nothing is parsed from printed output; a run started by
plain `pyinfra` has no such file and reports nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

ENVIRONMENT_KEY = "TABPY_PROVISION_REPORT_FD"


def _send(message: dict) -> None:
    descriptor = os.environ.get(ENVIRONMENT_KEY)
    if not descriptor:
        return
    line = json.dumps(message, sort_keys=True).encode() + b"\n"
    with os.fdopen(os.dup(int(descriptor)), "wb") as pipe:
        pipe.write(line)


def controller_writes(changes: Iterable[str]) -> None:
    """What the run would write on the controller (names only: never a secret)."""
    _send({"controller": list(changes)})


def failures(reasons: Mapping[str, str]) -> None:
    """Every failed host's reason so far (the last message holds them all)."""
    _send({"failures": dict(reasons)})


def read(lines: Iterable[bytes]) -> dict:
    """The messages of a run, merged: {"controller": [...], "failures": {...}}."""
    merged: dict = {"controller": [], "failures": {}}
    for line in lines:
        if line.strip():
            merged.update(json.loads(line))
    return merged

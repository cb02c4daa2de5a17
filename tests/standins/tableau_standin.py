"""STAND-IN support shared by the Tableau Server stand-ins (tsm_standin.py and
tableau_rest_standin.py), for tests only: no Tableau Server can run here.

A JSON state file shared under a lock. (Neither stand-in connects to TabPy when a connection
is applied or saved: Tableau is not documented to; the deploy's own Test Connection does.)
Standard library only: it runs with a lab host's
/usr/bin/python3 (3.11).
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager, suppress
from pathlib import Path


class StateFile:
    """A JSON document in a file, changed under an exclusive lock (`with state.change() as s`).
    The file is created mode 0660 (owner and group: the stand-in's admins)."""

    def __init__(self, path: Path, initial: dict):
        self.path = path
        self.initial = initial

    def read(self) -> dict:
        with self._locked(fcntl.LOCK_SH):
            return self._load()

    @contextmanager
    def change(self):
        with self._locked(fcntl.LOCK_EX):
            data = self._load()
            yield data
            temp = self.path.with_name(f".{self.path.name}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o660)
            os.fchmod(fd, 0o660)  # whatever the umask
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(temp, self.path)

    def _load(self) -> dict:
        if not self.path.exists():
            return json.loads(json.dumps(self.initial))
        return json.loads(self.path.read_text())

    @contextmanager
    def _locked(self, mode: int):
        lock = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            with suppress(PermissionError):  # created by another admin: already 0660
                os.fchmod(fd, 0o660)
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

"""STAND-IN support shared by the Tableau Server stand-ins (tsm_standin.py and
tableau_rest_standin.py), for tests only: no Tableau Server can run here.

What Tableau Server does with an analytics-extension connection it is given: it connects to
TabPy - over TLS trusting only the machine's OS trust store (docs/facts-tableau.md), with basic auth
when credentials are set - and runs a script (`/evaluate`), as its "Test Connection" does.
Also a JSON state file shared under a lock. Standard library only: it runs with a lab host's
/usr/bin/python3 (3.11).
"""

from __future__ import annotations

import base64
import fcntl
import http.client
import json
import os
import ssl
from contextlib import contextmanager, suppress
from pathlib import Path

TEST_SCRIPT = {"script": "return [x * 2 for x in _arg1]", "data": {"_arg1": [21]}}
TEST_ANSWER = [42]


def connection_test(host: str, port: int, use_ssl: bool, username: str | None,
                    password: str | None, timeout: float = 10,
                    cafile: str | None = None) -> tuple[bool, str]:
    """(passed, what happened): Tableau's test of a TabPy connection from this machine,
    trusting its OS trust store, or only the roots in `cafile` (Tableau Cloud's public
    roots)."""
    where = f"{'https' if use_ssl else 'http'}://{host}:{port}"
    try:
        if use_ssl:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context(cafile=cafile))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn.request("POST", "/evaluate", body=json.dumps(TEST_SCRIPT), headers=headers)
        response = conn.getresponse()
        body = response.read()
        conn.close()
    except ssl.SSLError as error:
        return False, f"{where}: TLS handshake failed: {error}"
    except OSError as error:
        return False, f"{where}: cannot connect: {type(error).__name__}: {error}"
    except http.client.HTTPException as error:
        return False, f"{where}: bad answer: {type(error).__name__}: {error}"
    if response.status == 401:
        return False, f"{where}: TabPy refused the credentials (HTTP 401)"
    if response.status != 200:
        return False, f"{where}: /evaluate answered HTTP {response.status}"
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if answer != TEST_ANSWER:
        return False, f"{where}: /evaluate returned {body[:80]!r}, expected {TEST_ANSWER}"
    return True, f"{where}: /evaluate answered {answer}"


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

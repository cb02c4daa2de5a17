"""Run tests/load_generator.py on a lab client, in the background, over the lab's SSH."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lab import paths

GENERATOR = Path(__file__).with_name("load_generator.py")
# In the home of the user the generator runs as.
REMOTE = "tabpy-load-generator.py"
STOP_FILE = "tabpy-load.stop"


def _ssh_command(client: str, ssh_user: str, command: str) -> list[str]:
    return ["ssh", "-F", str(paths.ssh_config_path()), "-l", ssh_user, client, command]


def _ssh(client: str, ssh_user: str, command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(_ssh_command(client, ssh_user, command), capture_output=True,
                          text=True, timeout=60, check=True, **kwargs)


class Load:
    """`with Load(...) as load:` runs the generator until the block ends (or its bounds);
    `load.result` is its JSON report."""

    def __init__(self, client: str, service: str, user: str, password: str, *,
                 concurrency: int = 4, seconds: float = 300, max_requests: int = 200_000,
                 script: str | None = None, expect: str | None = None,
                 ssh_user: str = "root"):
        self.client, self.password, self.ssh_user = client, password, ssh_user
        self.args = ["--host", service, "--user", user, "--concurrency", str(concurrency),
                     "--seconds", str(seconds), "--max-requests", str(max_requests),
                     "--stop-file", STOP_FILE]
        if script is not None:
            self.args += ["--script", script, "--expect", expect or ""]
        self.seconds = seconds
        self.result: dict | None = None

    def __enter__(self) -> Load:
        _ssh(self.client, self.ssh_user, f"cat > {REMOTE}; rm -f {STOP_FILE}",
             input=GENERATOR.read_text())
        command = " ".join(["python3", REMOTE, *(f"'{a}'" for a in self.args)])
        self.process = subprocess.Popen(
            _ssh_command(self.client, self.ssh_user, command), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.process.stdin.write(self.password + "\n")
        self.process.stdin.flush()
        return self

    def stop(self) -> dict:
        if self.result is None:
            _ssh(self.client, self.ssh_user, f"touch {STOP_FILE}")
            out, err = self.process.communicate(timeout=self.seconds + 120)
            if self.process.returncode != 0:
                raise RuntimeError(f"load generator failed: {err[-2000:]}")
            self.result = json.loads(out)
        return self.result

    def __exit__(self, *exc) -> None:
        self.stop()

"""pip run on the controller, in a subprocess with the controller's own pip configuration: its
output, or WheelhouseError with its last error lines."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabpy_provision.wheelhouse import pinning
from tabpy_provision.wheelhouse.pinning import WheelhouseError


def error(what: str, returncode: int, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    tail = errors[-3:] or [line for line in lines if not line.startswith("WARNING:")][-3:]
    detail = " | ".join(tail) or "no output"
    return (
        f"{what} failed (exit {returncode}): {detail} "
        "- check the controller's access to PyPI (pip config list) and the lock file"
    )


def process(python: str, args: Sequence[str], what: str) -> subprocess.CompletedProcess:
    """Run ``python -m pip ARGS``, whatever its exit status; WheelhouseError if it cannot run."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(pinning.EPOCH), PIP_DISABLE_PIP_VERSION_CHECK="1")
    command = [python, "-m", "pip", *args, "--no-input", "--progress-bar", "off"]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise WheelhouseError(f"{what}: cannot run {python}: {exc}") from exc


def run(python: str, args: Sequence[str], what: str) -> str:
    """Run ``python -m pip ARGS``; its stdout, or WheelhouseError with pip's last error lines."""
    done = process(python, args, what)
    if done.returncode != 0:
        raise WheelhouseError(error(what, done.returncode, done.stderr))
    return done.stdout


def build_sdist_wheels(python: str, dest: Path, pins: Mapping[str, str]) -> None:
    reqs = [f"{name}=={pins[name]}" for name in pinning.SDIST_ONLY]
    # No wheel cache: with SOURCE_DATE_EPOCH set the built wheels are byte-stable.
    run(
        python,
        ["wheel", "--no-deps", "--no-cache-dir", "-w", str(dest), *reqs],
        "pip wheel " + " ".join(reqs),
    )
    for path in dest.iterdir():
        if path.name.endswith(".whl") and not path.name.endswith("-none-any.whl"):
            raise WheelhouseError(f"{path.name} is not a pure wheel: it would tie to one ABI")

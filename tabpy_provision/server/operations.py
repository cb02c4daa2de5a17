"""A TabPy server's operations (pyinfra): its virtualenvs and units (its releases:
run/release_operations.py)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from tabpy_provision.run.facts import SubfoldersByAge
from tabpy_provision.server.facts import ReferencedVenvs, TabpyUnits


@operation()
def other_units_stopped(service: str, wanted: list[str]):
    """TabPy units not in `wanted` (another process count: tabpy.service, tabpy@PORT)
    stopped and disabled."""
    for name in host.get_fact(TabpyUnits, service=service):
        if name not in wanted:
            yield StringCommand("systemctl disable --now --quiet", QuoteString(name))


@operation()
def prune_venvs(venvs_dir: str, config_dir: str, protect: str):
    """Remove virtualenvs no release uses any more (`protect`: the one being deployed)."""
    used = set(host.get_fact(ReferencedVenvs, releases_dir=f"{config_dir}/releases")) | {protect}
    for name in host.get_fact(SubfoldersByAge, path=venvs_dir):
        if name not in used:
            yield StringCommand("rm -rf", QuoteString(f"{venvs_dir}/{name}"))

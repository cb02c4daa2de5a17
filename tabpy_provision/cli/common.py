"""What every subcommand shares: the site folder and its inventory (read, then checked by the one
check every command runs), refusals, exit codes, JSON on stdout, and pyinfra runs of the packaged
deploy files. Commands never import each other; they import this."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabpy_provision.settings.errors import ProvisionError

#: Exit codes, as Terraform's `-detailed-exitcode`: a drift check is one line in cron or CI.
OK, ERROR, CHANGES = 0, 1, 2
#: The inventory a site folder made by `tabpy-provision init` holds.
DEFAULT_INVENTORY = "inventory.py"


class Refused(ProvisionError):
    """Input that stops a command before it does anything: one `host: field: problem` line
    each."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def command(sub, name: str, text: str, doc: str, run, *, results: str | None = None,
            inventory: bool = True) -> argparse.ArgumentParser:
    """A subcommand: `text` in the list of commands, the first paragraph of `doc` (its module's
    docstring) on its --help, `run(args)` its body; `-i` when it reads an inventory, `--json`
    when it has `results`."""
    parser = sub.add_parser(name, help=text, description=doc.split("\n\n")[0])
    if inventory:
        add_inventory(parser)
    if results:
        add_json(parser, results)
    parser.set_defaults(func=run)
    return parser


def add_inventory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", default=DEFAULT_INVENTORY, metavar="INVENTORY",
                        help="the site's pyinfra inventory file (default: inventory.py of the "
                             "current folder, the site folder)")


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"{what} as JSON on stdout (schema: docs/cli.md); logs on stderr")


def inventory_path(args: argparse.Namespace) -> str:
    path = Path(args.inventory)
    if not path.is_file():
        raise Refused([f"{args.inventory}: no such inventory file (run from the site folder, "
                       "or give -i INVENTORY)"])
    return str(path)


def load_state(args: argparse.Namespace, *, values_checked_by_the_run: bool = False):
    """A pyinfra State of the inventory, its hosts not yet connected, after the one check of
    every host's data (settings.input_problems: unknown keys, then every value). A job's run
    checks the values itself, with its plans' own checks, so that all of a host's problems are
    listed at once (`values_checked_by_the_run`: unknown keys only here, as its run starts)."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    from tabpy_provision.run.hosts import correct_pyinfra
    from tabpy_provision.settings import table as settings

    path = inventory_path(args)
    if os.getcwd() not in sys.path:  # as pyinfra does: the site's own modules import
        sys.path.append(os.getcwd())
    state = State()
    try:
        with ctx_state.use(state):  # pyinfra's loader records the file on a state
            inventory = make_inventory(path)
    except Exception as error:  # the inventory is the site's code: any error of it
        cause = error.__cause__ or error.__context__ or error
        raise Refused(f"{path}: cannot be read: {type(cause).__name__}: {cause}") from None
    check = settings.unknown_keys if values_checked_by_the_run else settings.input_problems
    problems = [line for host in inventory for line in check(host.name, host.data.dict())]
    if problems:
        raise Refused(problems)
    state.init(inventory, Config())
    correct_pyinfra()
    return state


def group_data(inventory, *groups: str) -> list[tuple[str, dict]]:
    """(name, data) of every host of the given groups of a pyinfra Inventory, once."""
    hosts = {host.name: host for group in groups for host in inventory.get_group(group, [])}
    return [(name, host.data.dict()) for name, host in hosts.items()]


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


@dataclass
class RunResult:
    """A finished pyinfra run of a deploy file."""
    returncode: int
    #: pyinfra's `--json` payload: {"plan": [...], "results": {...} or None}.
    payload: dict = field(default_factory=dict)
    #: What the run reported on its pipe (run/report.py).
    report: dict = field(default_factory=dict)


def run_deploy(inventory: str, deploy: str, *, dry: bool, limit: Sequence[str] = (),
               data: dict[str, str] | None = None, log: Any = None) -> RunResult:
    """Run a packaged deploy file with pyinfra in a process of its own (pyinfra's gevent stays
    there). Its logs go to our stderr (or `log`, a file); its JSON and its report come back."""
    from tabpy_provision.deploy_files import path as deploy_path
    from tabpy_provision.run import report as run_report

    # A preview without -y: with it pyinfra skips its change detection, and every operation
    # would look unchanged.
    command = [sys.executable, "-m", "pyinfra", "--json", "--dry" if dry else "-y"]
    for host in limit:
        command += ["--limit", host]
    for key, value in (data or {}).items():
        command += ["--data", f"{key}={value}"]
    command += [inventory, str(deploy_path(deploy))]
    # The report's file has no name (O_TMPFILE): nothing is left anywhere, even by a preview.
    with tempfile.TemporaryFile() as report:
        environment = {**os.environ, run_report.ENVIRONMENT_KEY: str(report.fileno())}
        done = subprocess.run(command, env=environment, pass_fds=(report.fileno(),),
                              check=False, stdout=subprocess.PIPE, stderr=log or sys.stderr)
        report.seek(0)
        lines = report.readlines()
    try:
        payload = json.loads(done.stdout) if done.stdout.strip() else {}
    except json.JSONDecodeError:
        payload = {}
    return RunResult(done.returncode, payload, run_report.read(lines))

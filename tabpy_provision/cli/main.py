"""`tabpy-provision`: every job of the tool, one subcommand each, run from the site folder.

Exit codes: 0 done (a preview: nothing would change), 2 a preview found changes pending, 1 an
error or a refused input. Results go to stdout (`--json` where a result is data), logs to
stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tabpy_provision.cli import (
    ca,
    certs,
    check,
    common,
    init,
    jobs,
    password,
    platforms,
    settings,
    state,
    wheelhouse,
)
from tabpy_provision.settings.table import refusal_lines

#: In the order `--help` lists them.
COMMANDS = (init, jobs, check, certs, password, ca, state, wheelhouse, settings, platforms)


class Parser(argparse.ArgumentParser):
    """A usage error exits 1, never 2: 2 means "changes pending" to a drift check."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(common.ERROR, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="tabpy-provision", description=__doc__.split("\n\n")[0],
                 epilog=__doc__.split("\n\n", 1)[1])
    sub = top.add_subparsers(dest="subcommand", required=True, metavar="COMMAND",
                             parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except common.Refused as refused:
        for line in refusal_lines(refused.problems):
            print(line, file=sys.stderr)
        return common.ERROR

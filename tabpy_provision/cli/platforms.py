"""`tabpy-provision platforms --write-docs DOC...`: the supported platforms' table into the
documents that show it (docs/platforms.md and the README, between their markers)."""

from __future__ import annotations

from pathlib import Path

from tabpy_provision.cli.common import OK, Refused, command
from tabpy_provision.platforms import TABLE_BEGIN, with_support_table


def register(sub) -> None:
    parser = command(sub, "platforms", "write the supported platforms' table into documents",
                     __doc__, run, inventory=False)
    parser.add_argument("--write-docs", type=Path, nargs="+", required=True, metavar="DOC")


def run(args) -> int:
    for document in args.write_docs:
        text = document.read_text()
        if TABLE_BEGIN not in text:
            raise Refused(f"{document}: no support table marker ({TABLE_BEGIN})")
        document.write_text(with_support_table(text))
    return OK

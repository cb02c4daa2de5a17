"""`tabpy-provision settings`: every setting, its role, default and meaning (Markdown), the
reference docs/settings.md is generated from (a test keeps the two equal). Pure: no pyinfra
import.

    tabpy-provision settings                   # print every setting as a table
    tabpy-provision settings --write-docs DOC  # regenerate the reference (docs/settings.md)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabpy_provision.cli.common import OK, command
from tabpy_provision.settings.table import ROLES, RUN_OPTIONS, SETTINGS


def markdown_table() -> str:
    """The settings reference (docs/settings.md), one table per role, generated from SETTINGS
    (a test keeps them equal)."""
    sections = []
    for role in ROLES:
        where = "every host" if role.groups is None else ", ".join(f"`{g}`" for g in role.groups)
        lines = [f"### {role.title}", "", f"Read on: {where}.", "",
                 "| setting | default | meaning |", "|---|---|---|"]
        for s in SETTINGS:
            if s.role == role.name:
                default = "(see meaning)" if s.default is None else \
                    f"`{_render_default(s.default)}`"
                lines.append(f"| `{s.name}` | {default} | {s.meaning} |")
        sections.append("\n".join(lines))
    options = ["### Run options (the subcommands' options; pyinfra: `--data KEY=VALUE`)", "",
               "| option | meaning |", "|---|---|",
               *(f"| `{name}` | {meaning} |" for name, meaning in RUN_OPTIONS.items())]
    return "\n\n".join([*sections, "\n".join(options)])


def _render_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return f"[{', '.join(map(str, value))}]"
    return str(value)


MARKERS = ("<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->")


def write_reference(path) -> None:
    """Replace the tables between the settings reference's markers."""
    text = path.read_text()
    start, end = MARKERS
    head, rest = text.split(start, 1)
    path.write_text(head + start + markdown_table() + end + rest.split(end, 1)[1])



def register(sub) -> None:
    parser = command(sub, "settings", "every setting: role, default, meaning", __doc__, run,
                     inventory=False)
    parser.add_argument("--write-docs", type=Path, metavar="DOC",
                        help="replace the tables between the markers of DOC instead")


def run(args) -> int:
    if args.write_docs:
        write_reference(args.write_docs)
    else:
        print(markdown_table())
    return OK

"""The settings reference, docs/settings.md, generated from tabpy_provision.settings (a test
keeps the two equal). Pure: no pyinfra import.

    python -m tabpy_provision.settings_reference               # print every setting as a table
    python -m tabpy_provision.settings_reference --write-docs  # regenerate docs/settings.md
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
    options = ["### Run options (`--data`)", "", "| option | meaning |", "|---|---|",
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


REFERENCE = "docs/settings.md"
MARKERS = ("<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->")


def write_reference(path) -> None:
    """Replace the tables between the settings reference's markers."""
    text = path.read_text()
    start, end = MARKERS
    head, rest = text.split(start, 1)
    path.write_text(head + start + markdown_table() + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-docs"]:
        write_reference(Path(__file__).resolve().parents[1] / REFERENCE)
    else:
        print(markdown_table())

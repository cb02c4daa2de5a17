"""Tableau Server's facts (pyinfra): where tsm is."""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand


class TsmPrograms(FactBase):
    """Paths of tsm on a Tableau Server node: each `customer-bin.<version>/tsm` matching `glob`
    (an upgrade leaves the old ones) and the one on PATH; [] when there is none."""

    default = list

    def command(self, glob):
        return StringCommand(f'for path in {glob}; do [ -x "$path" ] && echo "$path"; done;',
                             "command -v tsm || true")

    def process(self, output):
        return sorted(set(output))

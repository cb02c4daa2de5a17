"""The functions a TabPy process serves, as a fact (pyinfra)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand

from tabpy_provision.functions import source as functions_source
from tabpy_provision.run.facts import files_by_header


class PublishedFunctions(FactBase):
    """{state folder: ({endpoint: the digest this deploy published it with, or None}, whether
    the folder holds the publisher's `record`)} of each TabPy process; ({}, False) for a
    process without endpoints, a state.ini or a record yet."""

    default = dict

    def command(self, folders, record):
        return StringCommand(
            "for d in", *map(shlex.quote, folders), '; do echo "==> state $d";',
            '[ ! -f "$d/state.ini" ] || cat "$d/state.ini";',
            f'[ ! -f "$d/{record}" ] || echo "==> record $d"; done')

    def process(self, output):
        found = files_by_header(output)
        return {key[len("state "):]: (functions_source.published_in_state("\n".join(lines)),
                                      f"record {key[len('state '):]}" in found)
                for key, lines in found.items() if key.startswith("state ")}

"""The shell commands a backup and a restore run on a TabPy host, with GNU tar. Pure: command
texts only (deploys/backup_restore.py runs them; the unit tests run them on folders here).

Names in a snapshot tar are absolute paths without their leading `/` (`tar -C /`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

#: Where a host keeps a snapshot while it travels (root's, 0700, removed after).
WORK = "/var/cache/tabpy-provision/backup"


def _regex(path: str) -> str:
    """`path` matched literally in a POSIX extended regular expression (delimiter `,`)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\,])", r"\\\1", path)


def _replacement(path: str) -> str:
    return re.sub(r"([\\&,])", r"\\\1", path)


def extract_command(tar: str, moves: Sequence[tuple[str, str]], *, into: str = "/") -> str:
    """Extract from `tar` the members under each source folder of `moves` (absolute paths,
    source -> target), each re-rooted at its target, with their owners (by name) and modes;
    nothing else of the tar. The names and hard-link targets are re-rooted; symbolic-link
    targets are kept as they are (relative, inside their folder: archive_members)."""
    q = shlex.quote
    # x: extended regular expression; S: not applied to symbolic-link targets
    transforms = ["--transform=" + q(f"s,^{_regex(source[1:])}(/|$),"
                                     + _replacement(target[1:]) + r"\1,xS")
                  for source, target in moves]
    members = [q(source[1:]) for source, _ in moves]
    return " ".join(["tar", "-xpf", q(tar), "--same-owner", "--no-wildcards", "-C", q(into),
                     *transforms, "--", *members])

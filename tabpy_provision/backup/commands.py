"""The shell commands a backup and a restore run on a TabPy host, with GNU tar. Pure: command
texts only (backup/deploy.py runs them; the unit tests run them on folders here).

Names in a snapshot tar are absolute paths without their leading `/` (`tar -C /`). Sparse
files are archived sparse (`--sparse`, GNU format: Python's tarfile reads it, GNU tar
extracts it sparse again); GNU tar skips sockets (a warning) and archives FIFOs, links and
empty folders as what they are.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from tabpy_provision.run import escalation
from tabpy_provision.run.disk_space import size_text

#: Where a host keeps a snapshot while it travels (root's, 0700, removed after).
WORK = "/var/cache/tabpy-provision/backup"
SNAPSHOT_TRIES = 3
TAR_CREATE = "tar --sparse --format=gnu"
#: The snapshot script's last line: `snapshot BYTES TABPY_VERSION PYTHON_VERSION`; a refusal
#: it finds is one line `too-large BYTES` or `no-space BYTES FREE` (exit status 3).
REFUSED = 3


@dataclass(frozen=True)
class Taken:
    size: int
    tabpy_version: str
    python_version: str


def snapshot_script(*, release_dir: str, release_manifest: str, state_folders: Sequence[str],
                    service: str, venv: str, max_bytes: int, work: str = WORK) -> str:
    """Measure, then tar, the active release's files (those its manifest lists) and TabPy's
    state folders into `work`/snapshot.tar, consistently: retried while TabPy writes models;
    as a last resort TabPy is stopped for the copy and started again in all cases. Refused
    before anything is written when the snapshot would be over `max_bytes` or over the free
    space of `work`'s file system; `work` is removed on any failure (kept for the transfer
    only when the script succeeds)."""
    q = shlex.quote
    names = "-C / $R " + " ".join(q(folder.lstrip("/")) for folder in state_folders)
    service = q(service)
    return "\n".join([
        f"set -e; umask 077; W={q(work)}; kept=; stopped=",
        "trap 'exit 1' HUP INT TERM PIPE",
        f"trap 'if [ -n \"$stopped\" ]; then systemctl start {service}; fi; "
        f"[ -n \"$kept\" ] || rm -rf \"$W\"' EXIT",
        'rm -rf "$W"; install -d -m 0700 "$W"',
        f"R=$(awk -v d={q(release_dir.lstrip('/'))} 'NF == 4 {{print d \"/\" $1}}' "
        f"{q(release_manifest)})",
        # the exact size of the tar to come (sparse files by their data), nothing written
        f'LC_ALL=C {TAR_CREATE} --totals -cf /dev/null {names} 2>"$W/measure" '
        '|| [ $? -eq 1 ] || { cat "$W/measure" >&2; exit 1; }',
        "n=$(sed -n 's/^Total bytes written: \\([0-9]*\\).*/\\1/p' \"$W/measure\")",
        '[ -n "$n" ] || { cat "$W/measure" >&2; exit 1; }',
        f'if [ "$n" -gt {int(max_bytes)} ]; then echo "too-large $n"; exit {REFUSED}; fi',
        'free=$(df --output=avail -B1 "$W" | tail -n 1)',
        f'if [ "$free" -le "$n" ]; then echo "no-space $n $free"; exit {REFUSED}; fi',
        f"sig() {{ find {' '.join(map(q, state_folders))} -printf '%p %s %T@\\n' "
        "| sort | sha256sum; }",
        f"ok=; for try in $(seq {SNAPSHOT_TRIES}); do a=$(sig)",
        # exit 1 (a file changed while read) is what the signatures are compared for
        f'  {TAR_CREATE} -cf "$W/snapshot.tar" {names} || [ $? -eq 1 ]',
        '  b=$(sig); if [ "$a" = "$b" ]; then ok=1; break; fi; sleep 1',
        "done",
        f'if [ -z "$ok" ]; then stopped=1; systemctl stop {service}; '
        f'{TAR_CREATE} -cf "$W/snapshot.tar" {names}; fi',
        'n=$(stat -c %s "$W/snapshot.tar")',
        f'if [ "$n" -gt {int(max_bytes)} ]; then echo "too-large $n"; exit {REFUSED}; fi',
        f"v=$({q(venv)}/bin/python -c 'import sys, importlib.metadata as m; "
        "print(m.version(\"tabpy\"), \"%d.%d.%d\" % sys.version_info[:3])')",
        'kept=1; echo "snapshot $n $v"',
    ])


def snapshot_taken(lines: Sequence[str]) -> Taken | None:
    """What the snapshot script's last line says it took (None: it did not)."""
    words = lines[-1].split() if lines else []
    if len(words) == 4 and words[0] == "snapshot" and words[1].isdigit():
        return Taken(int(words[1]), words[2], words[3])
    return None


def snapshot_refusal(lines: Sequence[str], *, max_bytes: int, work: str = WORK) -> str | None:
    """The one line saying why the script refused to take the snapshot (None: it did not);
    the host's name goes before it."""
    for line in lines:
        words = line.split()
        if len(words) == 2 and words[0] == "too-large" and words[1].isdigit():
            return (f"backup_max_bytes: the snapshot would be {size_text(int(words[1]))}, "
                    f"over the limit of {size_text(max_bytes)}; nothing was written (raise "
                    "backup_max_bytes, or clear TabPy's state)")
        if len(words) == 3 and words[0] == "no-space" and all(map(str.isdigit, words[1:])):
            return (f"{work}: the snapshot needs {size_text(int(words[1]))} and its file "
                    f"system has {size_text(int(words[2]))} free; nothing was written")
    return None


def send_command(work: str = WORK) -> str:
    """The snapshot on stdout, and `work` removed whatever happens (a transfer cut short
    included)."""
    return (f"W={shlex.quote(work)}; trap 'rm -rf \"$W\"' EXIT; trap 'exit 1' HUP INT TERM "
            f"PIPE; {escalation.read_command(f'{work}/snapshot.tar')}")


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

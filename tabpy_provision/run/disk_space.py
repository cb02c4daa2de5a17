"""Room on a host's file systems for what a deploy is about to write, checked before it writes
the first byte: a full disk stops the host with one line naming the folder, what it has and
what is needed, and the old release keeps serving. Pure: no pyinfra import.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Left free on every file system a deploy writes to: TabPy's logs, the journal and the
#: host's own work go on writing after the deploy.
RESERVE = 64 * 2**20
#: A virtualenv's files over its wheels' contents: the bytecode compiled at install (measured:
#: 640 MiB installed from 472 MiB of wheel contents, TabPy 2.16.0 on Python 3.13).
BYTECODE_FACTOR = 1.4


@dataclass(frozen=True)
class Need:
    setting: str  # the setting naming the folder (what the operator changes)
    path: str
    size: int
    what: str


@dataclass(frozen=True)
class FileSystem:
    device: str  # the file system's source (two needs on one add up)
    mount: str
    free: int


def wheel_contents_size(archive: Path) -> int:
    """Bytes the wheels in a wheelhouse archive unpack to (their zip directories, not their
    data, are read)."""
    total = 0
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".whl"):
                with zipfile.ZipFile(tar.extractfile(member)) as wheel:
                    total += sum(info.file_size for info in wheel.infolist())
    return total


def venv_needs(*, archive: Path, nltk_archive: Path | None, work_dir: str,
               install_dir: str) -> list[Need]:
    """A virtualenv's install (operations.tabpy_venv) at its peak: the archive pushed and
    unpacked and uv's unpacked wheels in the work folder; the virtualenv with its bytecode
    (hard links into uv's wheels when both share a file system: counted anyway) and the NLTK
    data in the install folder."""
    contents = wheel_contents_size(archive)
    data = nltk_archive.stat().st_size if nltk_archive else 0
    pushed = archive.stat().st_size
    return [Need("the host's cache", work_dir, 2 * pushed + contents + data,
                 "the wheelhouse pushed and unpacked"),
            Need("tabpy_install_dir", install_dir, int(contents * BYTECODE_FACTOR) + data,
                 "the new virtualenv")]


def shortfalls(host: str, needs: Sequence[Need], filesystems: Mapping[str, FileSystem],
               reserve: int = RESERVE) -> list[str]:
    """One line per file system without room for the needs on it plus `reserve`."""
    by_device: dict[str, list[Need]] = {}
    for need in needs:
        by_device.setdefault(filesystems[need.path].device, []).append(need)
    lines = []
    for device_needs in by_device.values():
        where = filesystems[device_needs[0].path]
        wanted = sum(need.size for need in device_needs) + reserve
        if where.free < wanted:
            settings = ", ".join(dict.fromkeys(need.setting for need in device_needs))
            what = " and ".join(f"{need.what} ({size_text(need.size)} in {need.path})"
                                for need in device_needs)
            lines.append(f"{host}: {settings}: {where.mount} has {size_text(where.free)} free; "
                         f"this deploy needs {size_text(wanted)} there: {what}, and "
                         f"{size_text(reserve)} kept spare")
    return lines


def room_problem(folder: Path, size: int, what: str, reserve: int = RESERVE) -> str | None:
    """Why `folder` (on the controller; its nearest existing folder when it is not made yet)
    has no room for `size` bytes of `what` plus `reserve`, or None."""
    measured = next(path for path in (folder, *folder.parents) if path.exists())
    free = shutil.disk_usage(measured).free
    if free >= size + reserve:
        return None
    spare = f" ({size_text(reserve)} of it kept spare)" if reserve else ""
    return (f"{folder} has {size_text(free)} free; {what} needs {size_text(size + reserve)} "
            f"there{spare}")


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def parse(lines: Iterable[str]) -> dict[str, FileSystem]:
    """facts.FreeSpace's lines (`path<TAB>source<TAB>avail<TAB>mount`) by path."""
    found = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 4 and parts[2].isdigit():
            found[parts[0]] = FileSystem(parts[1], parts[3], int(parts[2]))
    return found

"""What the tar inside an archive may hold, and how each member is recorded. Pure: no pyinfra
import.

Each member is recorded as what it is: its type (regular file, folder, symbolic link, hard
link, FIFO), its link target, the sha256 and size of its content (a sparse file's whole content,
holes read as zeros), owner, group and mode. The same rules hold when a backup is taken (a
member that breaks one stops the backup, naming it) and when any archive is opened for a
restore (the whole archive is refused before anything is written):

- every name is relative, inside the archive's folder: no absolute name, no `..` or `.` part,
  no empty part (`a//b`), each name once;
- regular files may be anywhere; folders, symbolic links, hard links and FIFOs only inside the
  archive's roots (a host backup: TabPy's state folders, each of which must be a folder of the
  archive; the controller's state: none, so regular files only); device nodes and any other
  type are refused (GNU tar skips sockets on its own);
- no member below a member that is not a folder (a path through a link);
- a hard link's target is an earlier member, a regular file or FIFO, inside the roots;
- a symbolic link's target is relative and, followed through the archive's own links as the
  kernel would, never leaves the root the link is in (not even on the way: another host's
  folders may have other names).
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tabpy_provision.backup.archive_encryption import ArchiveError

FILE, FOLDER, SYMLINK, HARDLINK, FIFO = "file", "dir", "symlink", "hardlink", "fifo"
LABELS = {FILE: "regular file", FOLDER: "folder", SYMLINK: "symbolic link",
          HARDLINK: "hard link", FIFO: "FIFO"}
CHUNK = 1 << 20
#: Symbolic links followed one after the other before a path counts as a loop (Linux: 40).
MAX_HOPS = 40


@dataclass(frozen=True)
class Member:
    path: str  # "/" + its name in the tar: the absolute path on the host, for a host backup
    type: str  # one of LABELS, else what it is ("character device", ...)
    link: str  # a symbolic link's target as stored; a hard link's target member (a path)
    sha256: str  # of a regular file's content ("" for the others)
    size: int
    mode: int
    owner: str
    group: str


def _type(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return FILE
    for test, kind in ((info.isdir, FOLDER), (info.issym, SYMLINK), (info.islnk, HARDLINK),
                       (info.isfifo, FIFO), (info.ischr, "character device"),
                       (info.isblk, "block device")):
        if test():
            return kind
    return f"member of type {info.type.decode(errors='replace')!r}"


def read_members(tar_path: Path) -> list[Member]:
    """Every member of a tar in its order, the content of regular files hashed in chunks.
    Raises ArchiveError for a tar that cannot be read, or with a header that no member owns
    before a member (a global pax header: tar programs may read the members after it
    differently)."""
    try:
        return _read_members(tar_path)
    except (tarfile.TarError, OSError) as error:
        raise ArchiveError(f"unreadable snapshot tar: {error}") from None


def _read_members(tar_path: Path) -> list[Member]:
    members: list[tuple[Member, int]] = []
    with tarfile.open(tar_path) as tar:
        while (info := tar.next()) is not None:
            if info.offset != (members[-1][1] if members else 0):
                raise ArchiveError(f"/{info.name}: preceded by a header of no member")
            kind, digest, size = _type(info), "", 0
            if kind == FILE:
                content, hashed = tar.extractfile(info), hashlib.sha256()
                while chunk := content.read(CHUNK):
                    hashed.update(chunk)
                    size += len(chunk)
                digest = hashed.hexdigest()
            link = info.linkname if kind == SYMLINK else (
                "/" + info.linkname if kind == HARDLINK else "")
            members.append((Member("/" + info.name, kind, link, digest, size, info.mode,
                                   info.uname, info.gname), tar.offset))
    return [member for member, _ in members]


def outermost(folders: Sequence[str]) -> tuple[str, ...]:
    """The folders not inside another one (TabPy's models folder may be inside its state)."""
    unique = sorted(set(folders))
    return tuple(f for f in unique if not any(within(f, other) for other in unique
                                                if other != f))


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def problem(members: Sequence[Member], roots: Sequence[str]) -> str | None:
    """Why these members (in their order in the tar) must not be written anywhere, naming
    the first that breaks a rule; None when they may. `roots`: see the module's text."""
    kinds: dict[str, str] = {}
    for member in members:
        why = (name_problem(member.path) or (
            "appears twice" if member.path in kinds else None)
            or _type_problem(member, roots)
            or (_hard_link_problem(member, kinds, roots) if member.type == HARDLINK else None))
        if why:
            return f"{member.path}: {why}"
        kinds[member.path] = member.type
    for root in roots:
        if root not in kinds:
            return f"{root}: not in the archive, which must hold this folder"
        if kinds[root] != FOLDER:
            return f"{root}: a {LABELS[kinds[root]]}, not a folder"
    for member in members:
        parent = member.path.rsplit("/", 1)[0]
        while parent:
            if kinds.get(parent, FOLDER) != FOLDER:
                return f"{member.path}: below {parent}, a {LABELS[kinds[parent]]}"
            parent = parent.rsplit("/", 1)[0]
    symlinks = {m.path: m.link for m in members if m.type == SYMLINK}
    for path, target in symlinks.items():
        root = next(r for r in roots if within(path, r))
        if not _stays_inside(path, target, root, symlinks):
            return (f"{path}: symbolic link to {target!r}: only relative links that stay "
                    f"inside {root} are kept")
    return None


def name_problem(path: str) -> str | None:
    """What is wrong with a member's path ("/" + its name), if anything."""
    parts = path.split("/")[1:]
    if "\0" in path:
        return "a NUL character in its name"
    if parts == [""]:
        return "an empty name"
    if parts[0] == "":
        return "an absolute name"
    if ".." in parts:
        return "a '..' part in its name"
    if "." in parts:
        return "a '.' part in its name"
    if "" in parts:
        return "an empty part in its name ('//')"
    return None


def _type_problem(member: Member, roots: Sequence[str]) -> str | None:
    if member.type not in LABELS:
        return f"a {member.type} (not backed up)"
    if member.type != FILE and not any(within(member.path, root) for root in roots):
        where = f"outside {', '.join(roots)}" if roots else "where only regular files may be"
        return f"a {LABELS[member.type]} {where}"
    return None


def _hard_link_problem(member: Member, kinds: Mapping[str, str],
                       roots: Sequence[str]) -> str | None:
    target = kinds.get(member.link)
    if name_problem(member.link) or target is None:
        return f"hard link to {member.link!r}, not an earlier member"
    if target not in (FILE, FIFO):
        return f"hard link to {member.link}, a {LABELS[target]}"
    if not any(within(member.link, root) for root in roots):
        return f"hard link to {member.link}, outside {', '.join(roots)}"
    return None


def _stays_inside(path: str, target: str, root: str, symlinks: Mapping[str, str]) -> bool:
    """Whether the symbolic link at `path` reaches only paths inside `root`, the archive's
    own symbolic links followed as the kernel would (a loop, which the kernel resolves to
    nothing, stays inside)."""
    if not target or target.startswith("/") or "\0" in target:
        return False
    current, pending, hops = path.rsplit("/", 1)[0], target.split("/"), 0
    if not within(current, root):  # the root itself is a link
        return False
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if current == root:
                return False
            current = current.rsplit("/", 1)[0]
            continue
        current = f"{current}/{part}"
        if current in symlinks:
            hops += 1
            followed = symlinks[current]
            if hops > MAX_HOPS:
                return True
            if not followed or followed.startswith("/"):
                return False
            pending[:0] = followed.split("/")
            current = current.rsplit("/", 1)[0]
    return True

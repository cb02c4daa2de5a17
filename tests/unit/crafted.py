"""Archives built member by member, the way someone holding the key could build one: any name,
type and link, and a manifest that matches them exactly (so the only thing wrong is what the
test put there)."""

from __future__ import annotations

import grp
import io
import os
import pwd
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.backup import archive_members

KEY = "correct horse battery staple"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE,
         "block": tarfile.BLKTYPE}


@dataclass(frozen=True)
class Entry:
    name: str  # as in the tar: no leading "/" unless crafted so
    type: str = "file"
    link: str = ""
    data: bytes = b""


def tar_of(entries: list[Entry], path: Path) -> Path:
    with tarfile.open(path, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.linkname = TYPES[entry.type], entry.link
            info.mode = 0o755 if entry.type == "dir" else 0o644
            info.uid, info.gid, info.uname, info.gname = os.getuid(), os.getgid(), OWNER, GROUP
            info.mtime = 1_700_000_000
            if entry.type == "file":
                info.size = len(entry.data)
            tar.addfile(info, io.BytesIO(entry.data) if entry.type == "file" else None)
    return path


def archive_of(entries: list[Entry], folder: Path, **facts) -> Path:
    """An archive of `entries` with a manifest listing exactly them (no rule applied)."""
    tar = tar_of(entries, folder / "crafted.tar")
    manifest = {"format": backup_archive.FORMAT,
                "files": [asdict(m) for m in archive_members.read_members(tar)], **facts}
    out = folder / "crafted.archive"
    with out.open("wb") as archive:
        backup_archive.pack(tar, manifest, KEY, archive, host="crafted")
    return out


def tree(root: Path) -> dict[str, tuple]:
    """Everything under `root`: type, link target, content, mode (what a write would change)."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder, name)
            info = path.lstat()
            found[str(path.relative_to(root))] = (
                info.st_mode, os.readlink(path) if path.is_symlink() else None,
                path.read_bytes() if path.is_file() and not path.is_symlink() else None)
    return found

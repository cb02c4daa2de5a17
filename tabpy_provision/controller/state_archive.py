"""The controller's state of one environment (private CA and issued keys, generated
passwords and keys) as one encrypted archive, and back. Pure: no pyinfra import.

Same encryption as host backups (backup_archive: AES-256-GCM, scrypt-derived key, everything
authenticated, verified by the same check). Files are kept under the setting that names their
folder (`pki_dir/ca/...`, `secrets_dir/tabpy_users/...`), so a restore puts them where the
inventory says, wherever the project lives now. Regular files only: anything else under the
folders stops the backup, naming it; a restore refuses the whole archive, before staging
anything, when a member is not a regular file with a plain relative name under a folder of
the inventory (backup/archive_members.py).
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.controller.files import Staged, is_temporary
from tabpy_provision.run import disk_space

SUFFIX = ".tabpy-controller"


@dataclass(frozen=True)
class Restored:
    written: tuple[str, ...]  # files the restore writes (names only, never contents)
    unchanged: int
    conflicts: tuple[str, ...]  # present with other contents: refused unless replace


def pack_state(folders: Mapping[str, Path], passphrase: str, target: Path, *,
               environment: str) -> None:
    """Every regular file under each folder (setting name -> folder on the controller),
    encrypted into `target` (0600) once proven restorable (backup_archive.write_proven);
    ArchiveError, naming it, for anything else there (a symbolic link would carry what it
    points to, wherever that is), and nothing written."""
    with tempfile.TemporaryDirectory() as work:
        tar_path, proof = Path(work) / "state.tar", Path(work) / "proof"
        proof.mkdir()
        with tarfile.open(tar_path, mode="w") as tar:
            for setting, folder in sorted(folders.items()):
                for path in _regular_files(folder):
                    if is_temporary(path.relative_to(folder)):  # an interrupted write's leftover
                        continue
                    info = tarfile.TarInfo(f"{setting}/{path.relative_to(folder)}")
                    data = path.read_bytes()
                    info.size, info.mode = len(data), 0o600
                    tar.addfile(info, io.BytesIO(data))
        manifest = backup_archive.manifest_from_tar(
            tar_path, kind="controller-state", environment=environment,
            folders={setting: str(folder) for setting, folder in folders.items()})
        room = disk_space.room_problem(target.parent, tar_path.stat().st_size,
                                       "the controller's state archive")
        if room:
            raise backup_archive.ArchiveError(room)
        backup_archive.write_proven(tar_path, manifest, passphrase, target,
                                    host=f"controller:{environment}", now=datetime.now(UTC),
                                    folder=proof)


def _regular_files(folder: Path) -> Iterator[Path]:
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if entry.is_dir(follow_symlinks=False):
            yield from _regular_files(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)
        else:
            kind = "a symbolic link" if entry.is_symlink() else "a special file"
            raise backup_archive.ArchiveError(
                f"{entry.path}: {kind}; the controller's state holds regular files only")


def stage_restore(archive: Path, passphrase: str, folders: Mapping[str, Path], files: Staged,
                  *, environment: str, replace: bool = False) -> Restored:
    """Verify the archive, then stage its files into the inventory's folders (0600, 0700)."""
    with tempfile.TemporaryDirectory() as work:
        snapshot = backup_archive.open_archive(archive, passphrase, Path(work))
        return _stage(snapshot, folders, files, environment=environment, replace=replace)


def _stage(snapshot: backup_archive.Snapshot, folders: Mapping[str, Path], files: Staged, *,
           environment: str, replace: bool) -> Restored:
    manifest = snapshot.manifest
    if manifest.get("kind") != "controller-state":
        raise backup_archive.ArchiveError("not a controller state archive (a host backup?)")
    if manifest.get("environment") != environment:
        raise backup_archive.ArchiveError(
            f"archive of environment {manifest.get('environment')!r}, the inventory's is "
            f"{environment!r}")
    targets = {}
    for member in snapshot.members:  # regular files only (archive_members), all checked first
        setting, _, relative = member.path.lstrip("/").partition("/")
        if setting not in folders or not relative:
            raise backup_archive.ArchiveError(
                f"{member.path}: not under a folder of the inventory")
        targets[member.path] = folders[setting] / relative
    written, conflicts, unchanged = [], [], 0
    for name, target in sorted(targets.items()):
        content = snapshot.read(name)
        current = files.read(target)
        if current == content:
            unchanged += 1
            continue
        if current is not None and not replace:
            conflicts.append(str(target))
            continue
        files.write_private(target, content, f"restore {target}")
        written.append(str(target))
    return Restored(tuple(written), unchanged, tuple(conflicts))


def archive_name(environment: str, stamp: str) -> str:
    return f"{environment}-{stamp}{SUFFIX}"

"""Encrypted, self-verifying backup archives of a TabPy host (and of the controller's state),
written and read in chunks: a snapshot is a file on the controller, never whole in memory.
Pure: no pyinfra import.

An archive (format 2; backup/archive_encryption.py says how it is encrypted) holds:

    manifest length (8 bytes, big-endian) | manifest (JSON) | the snapshot tar, as taken

The manifest lists every member of the tar as what it is (backup/archive_members.py: type, link
target, sha256, size, owner, group, mode), the TabPy and Python versions and the host's
settings without secrets; the tar holds the files under their absolute paths without the
leading `/`, as GNU tar took them on the host (sparse files stay sparse). Format 1 archives (a
tar of `manifest.json` and `files/<absolute path>`) are still read: `open_archive` gives both
as a Snapshot of a plain snapshot tar.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from tabpy_provision.backup import archive_encryption, archive_members
from tabpy_provision.backup.archive_encryption import ArchiveError
from tabpy_provision.backup.archive_members import Member
from tabpy_provision.controller.files import (
    FILE_MODE,
    create_missing_folders,
    private_output,
    writing,
)
from tabpy_provision.functions import source as functions_source

SUFFIX = ".tabpy-backup"
FORMAT = 2
CHUNK = archive_encryption.SEGMENT
#: A manifest lists members by the thousand; anything near this is damage, not a manifest.
MANIFEST_MAX = 1 << 28
SNAPSHOT = "snapshot.tar"


@dataclass(frozen=True)
class Snapshot:
    """A verified backup: its manifest, and its snapshot tar (a private file on the
    controller, as long as the folder `open_archive` was given)."""

    manifest: dict
    tar: Path

    @property
    def members(self) -> list[Member]:
        return [Member(**m) for m in self.manifest["files"]]

    @property
    def roots(self) -> tuple[str, ...]:
        return roots(self.manifest)

    @property
    def models(self) -> list[str]:
        """Deployed models: TabPy keeps each in a folder <state path>/query_objects/<name>/
        (<version>/...); anything else there is not one."""
        root = self.manifest["state_path"].rstrip("/") + "/query_objects/"
        return sorted(m.path[len(root):] for m in self.members if m.type == "dir"
                      and m.path.startswith(root) and "/" not in m.path[len(root):])

    @property
    def published(self) -> list[str]:
        """The endpoints a deploy published (functions and pre-built models declared in the
        inventory: every deploy publishes them again); the other models were deployed by
        someone else, and only a backup brings them back."""
        state = self.read(self.manifest["state_path"].rstrip("/") + "/state.ini") or b""
        found = functions_source.published_in_state(state.decode(errors="replace"))
        return sorted(name for name, digest in found.items() if digest)

    def models_summary(self) -> str:
        ours = set(self.published)
        others = [model for model in self.models if model not in ours]
        return (f"models deployed by others: {', '.join(others) or 'none'}; published from "
                f"the inventory: {', '.join(sorted(ours)) or 'none'}")

    def staging_moves(self, state_path: str, query_object_path: str) -> list[tuple[str, str]]:
        """Each state folder of the backup -> the staging folder (`.restore`) of its
        counterpart on a target (a models folder inside the state folder comes with it)."""
        targets = {self.manifest.get("query_object_path"): query_object_path,
                   self.manifest["state_path"]: state_path}
        return [(root, f"{targets[root]}.restore") for root in self.roots]

    def read(self, path: str) -> bytes | None:
        """The content of one regular file of the snapshot (None: it holds none there); for
        small files (state.ini, keys)."""
        with tarfile.open(self.tar) as tar:
            try:
                content = tar.extractfile(tar.getmember(path.lstrip("/")))
            except KeyError:
                return None
            return content.read() if content is not None else None


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def roots(facts: dict) -> tuple[str, ...]:
    """The folders of an archive that may hold more than regular files (archive_members):
    a host backup's state folders; none in the controller's state."""
    if facts.get("kind") == "controller-state":
        return ()
    folders = [facts.get(key) for key in ("state_path", "query_object_path")]
    for folder in folders:
        if folder is not None and (not isinstance(folder, str)
                                   or archive_members.name_problem(folder)):
            raise ArchiveError(f"damaged: the manifest's state folder {folder!r}")
    if folders[0] is None:
        raise ArchiveError("not a host backup (no state_path in its manifest)")
    return archive_members.outermost([folder for folder in folders if folder])


def manifest_from_tar(tar: Path, **facts) -> dict:
    """The manifest of a snapshot tar (members under their absolute paths); ArchiveError,
    naming the member, when one could not be restored as what it is."""
    members = archive_members.read_members(tar)
    problem = archive_members.problem(members, roots(facts))
    if problem:
        raise ArchiveError(problem)
    return {"format": FORMAT, "files": [asdict(m) for m in members], **facts}


def pack(tar: Path, manifest: dict, passphrase: str, out: BinaryIO, *, host: str,
         now: datetime | None = None) -> None:
    """Encrypt the snapshot (its manifest, then its tar) into `out`, in chunks."""
    encoded = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with tar.open("rb") as snapshot:
        archive_encryption.encrypt(
            itertools.chain([struct.pack(">Q", len(encoded)), encoded], _chunks(snapshot)), out,
            passphrase, host=host,
            created=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"))


def open_archive(path: Path, passphrase: str, folder: Path) -> Snapshot:
    """Decrypt the archive at `path` into `folder` (a private one: see `workspace`) and verify
    it against its manifest: the Snapshot restores use. Raises ArchiveError, one line."""
    try:
        archive = path.open("rb")
    except OSError as error:
        raise ArchiveError(error.strerror or str(error)) from None
    with archive:
        header = archive_encryption.read_header(archive)
        plaintext = archive_encryption.decrypt(archive, header, passphrase)
        if header.format == 1:
            manifest = _from_format_1(plaintext, folder)
        else:
            with _private_file(folder / SNAPSHOT) as tar:
                manifest = _split(plaintext, tar)
    snapshot = Snapshot(manifest, folder / SNAPSHOT)
    verify(snapshot)
    return snapshot


def verify(snapshot: Snapshot) -> None:
    """The check a backup passes before it counts and an archive before it is restored: the
    tar's members keep the rules (archive_members) and are exactly those of the manifest,
    each with its type, link target, content, owner, group and mode."""
    found = archive_members.read_members(snapshot.tar)
    problem = archive_members.problem(found, snapshot.roots)
    if problem:
        raise ArchiveError(problem)
    entries = snapshot.manifest["files"]
    listed = {entry.get("path"): entry for entry in entries if isinstance(entry, dict)}
    if len(listed) != len(entries):
        raise ArchiveError("damaged: unreadable manifest")
    for member in found:
        entry, recorded = listed.pop(member.path, None), asdict(member)
        if entry is None:
            raise ArchiveError(f"{member.path}: not in the manifest")
        if entry != recorded:
            differ = {field for field in {*entry, *recorded}
                      if entry.get(field) != recorded.get(field)}
            what = "content" if {"sha256", "size"} & differ else ", ".join(sorted(differ))
            raise ArchiveError(f"{member.path}: {what} does not match the manifest")
    if listed:
        raise ArchiveError(f"{next(iter(listed))}: in the manifest, not in the archive")


def state_tar(snapshot: Snapshot) -> Path:
    """The members under the snapshot's state folders, as a tar of their own beside the
    snapshot's (0600): their blocks copied as they are (sparse files stay sparse), the release
    files (keys, password file) left out: a restore sends only what it puts back."""
    path = snapshot.tar.with_name("state.tar")
    with tarfile.open(snapshot.tar) as tar, snapshot.tar.open("rb") as raw, \
            _private_file(path) as out:
        while (info := tar.next()) is not None:
            if any(archive_members.within("/" + info.name, r) for r in snapshot.roots):
                raw.seek(info.offset)
                left = tar.offset - info.offset
                while left:
                    chunk = raw.read(min(CHUNK, left))
                    out.write(chunk)
                    left -= len(chunk)
        out.write(bytes(2 * tarfile.BLOCKSIZE))  # the end of the archive
    return path


def _split(plaintext: Iterator[bytes], tar: BinaryIO) -> dict:
    """Format 2's plaintext: the manifest returned, the snapshot tar written to `tar`."""
    head = bytearray()
    for chunk in plaintext:
        head += chunk
        if len(head) >= 8:
            (length,) = struct.unpack(">Q", head[:8])
            if length > MANIFEST_MAX:
                break
            if len(head) >= 8 + length:
                manifest = _manifest(head[8:8 + length])
                tar.write(head[8 + length:])
                for rest in plaintext:
                    tar.write(rest)
                return manifest
    raise ArchiveError("damaged: no manifest")


def _manifest(encoded: bytes) -> dict:
    try:
        manifest = json.loads(encoded)
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise ArchiveError("damaged: unreadable manifest") from None
    if not isinstance(files, list):
        raise ArchiveError("damaged: unreadable manifest")
    return manifest


def _from_format_1(plaintext: Iterator[bytes], folder: Path) -> dict:
    """Format 1's plaintext (manifest.json and files/<path>) as a manifest and a snapshot
    tar of the files under their own names."""
    inner = folder / "format-1.tar"
    with _private_file(inner) as out:
        for chunk in plaintext:
            out.write(chunk)
    try:
        with tarfile.open(inner) as source, _private_file(folder / SNAPSHOT) as out, \
                tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as snapshot:
            manifest = _format_1_manifest(source.extractfile("manifest.json").read())
            for info in source:
                if info.name.startswith("files/"):
                    content = source.extractfile(info) if info.isfile() else None
                    info.name = info.name[len("files/"):]
                    snapshot.addfile(info, content)
    except (KeyError, AttributeError, tarfile.TarError):
        raise ArchiveError("damaged: not a format 1 snapshot") from None
    finally:
        inner.unlink()
    return manifest


def _format_1_manifest(encoded: bytes) -> dict:
    """Format 1 knew folders and files only (what else it held never verified)."""
    manifest = _manifest(encoded)
    try:
        manifest["files"] = [asdict(Member(
            path=entry["path"], type="dir" if entry["is_dir"] else "file", link="",
            sha256="" if entry["is_dir"] else entry["sha256"],
            size=0 if entry["is_dir"] else entry["size"], mode=entry["mode"],
            owner=entry["owner"], group=entry["group"])) for entry in manifest["files"]]
    except (KeyError, TypeError):
        raise ArchiveError("damaged: unreadable manifest") from None
    return manifest


def _private_file(path: Path) -> BinaryIO:
    """A new file, 0600 (in the 0700 folder of a workspace)."""
    return open(path, "xb", opener=lambda name, flags: os.open(name, flags, FILE_MODE))


def write_proven(tar: Path, manifest: dict, passphrase: str, path: Path, *, host: str,
                 now: datetime, folder: Path) -> Snapshot:
    """Pack the snapshot into `path` only once the archive is proven restorable: written to a
    temporary file beside `path`, read back from disk, decrypted into `folder` (empty,
    private) and verified by `open_archive` (what a restore does, short of restoring), then
    renamed into place. On ArchiveError nothing is left at `path` or beside it."""
    with private_output(path) as out:
        pack(tar, manifest, passphrase, out, host=host, now=now)
        out.flush()
        return open_archive(Path(out.name), passphrase, folder)


def workspace(folder: Path) -> tempfile.TemporaryDirectory:
    """A private (0700) folder in `folder`, beside the archives, for a snapshot's files while a
    backup or restore needs them (on disk: a snapshot may take gigabytes, too many for a /tmp
    in memory); removed when closed, or when the process ends. It changes nothing else: a
    restore's check uses it too."""
    return tempfile.TemporaryDirectory(prefix=".work-", dir=folder)


def hold_private(backup_dir: Path, path: Path | None = None) -> None:
    """backup_dir and its folders down to `path`'s are the project's own: held 0700 as
    pki_dir's are (those above it, such as /tmp, keep their mode)."""
    below = [folder for folder in path.parents if backup_dir in folder.parents] if path else []
    create_missing_folders(path.parent if path else backup_dir)
    with writing(None) as files:
        files.private_folders(backup_dir, *below)


def archive_path(backup_dir: Path, inventory: str, host: str, now: datetime) -> Path:
    return backup_dir / inventory / host / (now.strftime("%Y%m%dT%H%M%SZ") + SUFFIX)


def archives(backup_dir: Path, inventory: str, host: str) -> list[Path]:
    """A host's archives, oldest first (names are UTC timestamps)."""
    folder = backup_dir / inventory / host
    return sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []


def expired(paths: list[Path], keep: int, proven: Path) -> list[Path]:
    """The archives retention removes: all but the newest `keep`, and never `proven` (the
    archive just proven, whatever its name says of its age)."""
    return [path for path in (paths[:-keep] if keep > 0 else []) if path != proven]

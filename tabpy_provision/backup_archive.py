"""Encrypted, self-verifying backup archives of a TabPy host (and of the controller's state),
written and read in chunks: a snapshot is a file on the controller, never whole in memory.
Pure: no pyinfra import.

An archive (format 2; archive_encryption.py says how it is encrypted) holds:

    manifest length (8 bytes, big-endian) | manifest (JSON) | the snapshot tar, as taken

The manifest lists every member of the tar (sha256, size, owner, group, mode), the TabPy and
Python versions and the host's settings without secrets; the tar holds the files under their
absolute paths without the leading `/`. Format 1 archives (a tar of `manifest.json` and
`files/<absolute path>`) are still read: `open_archive` gives both as a Snapshot of a plain
snapshot tar.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import struct
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from tabpy_provision import archive_encryption
from tabpy_provision.archive_encryption import ArchiveError
from tabpy_provision.controller.files import FILE_MODE, private_dir
from tabpy_provision.functions import source as functions_source

SUFFIX = ".tabpy-backup"
FORMAT = 2
CHUNK = archive_encryption.SEGMENT
#: A manifest lists members by the thousand; anything near this is damage, not a manifest.
MANIFEST_MAX = 1 << 28
SNAPSHOT = "snapshot.tar"


@dataclass(frozen=True)
class Member:
    path: str  # absolute path on the host
    sha256: str
    size: int
    mode: int
    owner: str
    group: str
    is_dir: bool


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
    def models(self) -> list[str]:
        """Deployed models: TabPy keeps each in <state path>/query_objects/<name>/<version>."""
        root = self.manifest["state_path"].rstrip("/") + "/query_objects/"
        return sorted({m.path[len(root):].split("/")[0] for m in self.members
                       if m.path.startswith(root) and len(m.path) > len(root)})

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


def _sha256(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(stream):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _entries(tar_path: Path) -> list[dict]:
    """Every member of a snapshot tar, its content hashed in chunks."""
    files = []
    with tarfile.open(tar_path) as tar:
        for info in tar:
            sha256, size = _sha256(tar.extractfile(info)) if info.isfile() else (
                hashlib.sha256(b"").hexdigest(), 0)
            files.append({"path": "/" + info.name.lstrip("/"), "sha256": sha256, "size": size,
                          "mode": info.mode, "owner": info.uname, "group": info.gname,
                          "is_dir": info.isdir()})
    return files


def manifest_from_tar(tar: Path, **facts) -> dict:
    """The manifest of a snapshot tar taken on the host (members under their absolute
    paths)."""
    return {"format": FORMAT, "files": sorted(_entries(tar), key=lambda f: f["path"]), **facts}


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
    """Every file of the manifest in the tar with its hash."""
    found = {entry["path"]: entry["sha256"] for entry in _entries(snapshot.tar)}
    for member in snapshot.members:
        if not member.is_dir and found.get(member.path) != member.sha256:
            raise ArchiveError(f"{member.path}: content does not match the manifest")


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
            manifest = _manifest(source.extractfile("manifest.json").read())
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


def _private_file(path: Path) -> BinaryIO:
    """A new file, 0600 (in the 0700 folder of a workspace)."""
    return open(path, "xb", opener=lambda name, flags: os.open(name, flags, FILE_MODE))


def workspace(backup_dir: Path) -> tempfile.TemporaryDirectory:
    """A private (0700) folder for a snapshot's files while a backup or restore needs them,
    beside the archives (on disk: a snapshot may take gigabytes, too many for a /tmp in
    memory); removed when closed, or when the process ends."""
    private_dir(backup_dir)
    return tempfile.TemporaryDirectory(prefix=".work-", dir=backup_dir)


def archive_path(backup_dir: Path, inventory: str, host: str, now: datetime) -> Path:
    return backup_dir / inventory / host / (now.strftime("%Y%m%dT%H%M%SZ") + SUFFIX)


def archives(backup_dir: Path, inventory: str, host: str) -> list[Path]:
    """A host's archives, oldest first (names are UTC timestamps)."""
    folder = backup_dir / inventory / host
    return sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []


def expired(paths: list[Path], keep: int) -> list[Path]:
    """The archives retention removes: all but the newest `keep`."""
    return paths[:-keep] if keep > 0 else []

"""Encrypted, self-verifying backup archives of a TabPy host. Pure: no pyinfra import.

An archive is one file:

    MAGIC | 4-byte header length | header (JSON) | AES-256-GCM ciphertext of a tar

The key comes from a passphrase (a secret reference) through scrypt with a per-archive salt; the
header is authenticated as associated data, so any change to any byte fails decryption. Inside
the tar: `manifest.json` (every file with its sha256, owner, group and mode; TabPy and Python
versions; the host's settings without secrets) and the files under `files/<absolute path>`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tabpy_provision.controller.files import write_private, writing
from tabpy_provision.functions import source as functions_source

MAGIC = b"TABPYBK1"
SUFFIX = ".tabpy-backup"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
FORMAT = 1


class ArchiveError(Exception):
    """An archive that must not be restored; the message says why in one line."""


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
    """A verified backup, decrypted in memory."""

    manifest: dict
    files: dict[str, bytes]  # absolute path -> content (regular files)

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
        state = self.files.get(self.manifest["state_path"].rstrip("/") + "/state.ini", b"")
        found = functions_source.published_in_state(state.decode(errors="replace"))
        return sorted(name for name, digest in found.items() if digest)

    def models_summary(self) -> str:
        ours = set(self.published)
        others = [model for model in self.models if model not in ours]
        return (f"models deployed by others: {', '.join(others) or 'none'}; published from "
                f"the inventory: {', '.join(sorted(ours)) or 'none'}")


def _key(passphrase: str, salt: bytes, params: dict) -> bytes:
    return Scrypt(salt=salt, length=32, **params).derive(passphrase.encode())


def state_file(tar_bytes: bytes, state_path: str) -> dict[str, bytes]:
    """{path: content} of TabPy's state.ini in a snapshot tar ({} when it has none)."""
    name = state_path.strip("/") + "/state.ini"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        try:
            return {"/" + name: tar.extractfile(name).read()}
        except KeyError:
            return {}


def manifest_from_tar(tar_bytes: bytes, **facts) -> dict:
    """The manifest of a snapshot tar taken on the host (members under their absolute paths)."""
    files = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for info in tar.getmembers():
            content = tar.extractfile(info).read() if info.isfile() else b""
            files.append({"path": "/" + info.name.lstrip("/"),
                          "sha256": hashlib.sha256(content).hexdigest(), "size": len(content),
                          "mode": info.mode, "owner": info.uname, "group": info.gname,
                          "is_dir": info.isdir()})
    return {"format": FORMAT, "files": sorted(files, key=lambda f: f["path"]), **facts}


def pack(tar_bytes: bytes, manifest: dict, passphrase: str, *, host: str,
         now: datetime | None = None) -> bytes:
    """Encrypt the snapshot (its tar plus the manifest) into one archive."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as out:
        _add(out, "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as snapshot:
            for info in snapshot.getmembers():
                data = snapshot.extractfile(info) if info.isfile() else None
                info.name = "files/" + info.name.lstrip("/")
                out.addfile(info, data)
    salt, nonce = os.urandom(16), os.urandom(12)
    header = json.dumps({
        "format": FORMAT, "host": host, "kdf": "scrypt", "kdf_params": SCRYPT,
        "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
        "created": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, sort_keys=True).encode()
    aad = MAGIC + struct.pack(">I", len(header)) + header
    return aad + AESGCM(_key(passphrase, salt, SCRYPT)).encrypt(nonce, inner.getvalue(), aad)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def unpack(archive: bytes, passphrase: str) -> Snapshot:
    """Decrypt and verify (authentication tag, then every file against the manifest)."""
    if not archive.startswith(MAGIC) or len(archive) < len(MAGIC) + 4:
        raise ArchiveError("not a tabpy-provision backup (bad magic)")
    (length,) = struct.unpack(">I", archive[len(MAGIC):len(MAGIC) + 4])
    header_end = len(MAGIC) + 4 + length
    try:
        header = json.loads(archive[len(MAGIC) + 4:header_end])
        salt, nonce = (base64.b64decode(header[k]) for k in ("salt", "nonce"))
        params = {k: int(header["kdf_params"][k]) for k in ("n", "r", "p")}
    except (ValueError, KeyError, TypeError):
        raise ArchiveError("damaged header (truncated or altered)") from None
    if params != SCRYPT:  # a crafted header must not make scrypt exhaust memory or time
        raise ArchiveError(f"unsupported key derivation parameters {params} (this version "
                           f"writes and reads {SCRYPT})")
    try:
        inner = AESGCM(_key(passphrase, salt, params)).decrypt(
            nonce, archive[header_end:], archive[:header_end])
    except (InvalidTag, ValueError):
        raise ArchiveError("authentication failed: wrong key, or the archive was altered or "
                           "truncated") from None
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        files = {"/" + info.name[len("files/"):]: tar.extractfile(info).read()
                 for info in tar.getmembers() if info.isfile() and info.name.startswith("files/")}
    for member in manifest["files"]:
        if member["is_dir"]:
            continue
        content = files.get(member["path"])
        if content is None or hashlib.sha256(content).hexdigest() != member["sha256"]:
            raise ArchiveError(f"{member['path']}: content does not match the manifest")
    return Snapshot(manifest, files)


def archive_path(backup_dir: Path, inventory: str, host: str, now: datetime) -> Path:
    return backup_dir / inventory / host / (now.strftime("%Y%m%dT%H%M%SZ") + SUFFIX)


def archives(backup_dir: Path, inventory: str, host: str) -> list[Path]:
    """A host's archives, oldest first (names are UTC timestamps)."""
    folder = backup_dir / inventory / host
    return sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []


def write_archive(backup_dir: Path, path: Path, data: bytes) -> None:
    """0600 from the first byte, renamed into place when complete. backup_dir and its folders
    down to the archive's are the project's own: held 0700 as pki_dir's are (those above it,
    such as /tmp, keep their mode)."""
    with writing(None) as files:
        files.private_folders(backup_dir, *(folder for folder in path.parents
                                            if backup_dir in folder.parents))
    write_private(path, data)


def expired(paths: list[Path], keep: int) -> list[Path]:
    """The archives retention removes: all but the newest `keep`."""
    return paths[:-keep] if keep > 0 else []

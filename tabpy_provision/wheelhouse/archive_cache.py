"""The controller's cache of built archives (wheelhouses, NLTK data): each written
deterministically, found again by the manifest beside it, built by one process at a time."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from tabpy_provision.wheelhouse import pinning

Log = Callable[[str], object]


def write_tar(dest: Path, entries: Iterable[tuple[str, Path, int]]) -> None:
    """A byte-for-byte deterministic tar of (member name, file, mode) entries: sorted, fixed
    mtime, uid/gid 0, empty user/group names, regular files only, no compression."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path, mode in sorted(entries):
            info = tarfile.TarInfo(arcname)
            info.size = Path(path).stat().st_size
            info.mtime = pinning.EPOCH
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            with open(path, "rb") as src:
                tar.addfile(info, src)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """$TABPY_PROVISION_CACHE, else ~/.cache/tabpy-provision. Archives go in <it>/wheelhouse."""
    env = os.environ.get("TABPY_PROVISION_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tabpy-provision"


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def stat_record(path: Path) -> list[int]:
    """Size, modification time and inode: hashing the archive again on every run (380 MB for
    two ABIs, 0.4 s) is needed only when one of these changed."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


@contextlib.contextmanager
def exclusive(path: Path, log: Log) -> Iterator[None]:
    """Cross-process (and cross-greenlet: non-blocking flock + sleep) lock on ``path``."""
    with open(path, "a") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log(f"waiting for another build holding {path} ...")
                    waited = True
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached(archive: Path, built_from: Mapping[str, object]) -> str | None:
    """The archive's sha256 when it is complete and its manifest records `built_from` (what it
    was built from: a lock's digest and the uv version, an identity), else None."""
    try:
        manifest = json.loads(manifest_path(archive).read_text())
    except (OSError, ValueError):
        return None
    if not archive.is_file() or any(manifest.get(key) != value
                                    for key, value in built_from.items()):
        return None
    if manifest.get("stat") == stat_record(archive):  # the file written with this manifest
        return manifest.get("sha256")
    digest = sha256_file(archive)
    return digest if digest == manifest.get("sha256") else None


def put_in_place(built: Path, archive: Path, record: Mapping[str, object]) -> str:
    """Renames `built` (on the archive's file system) to `archive` once its manifest (`record`,
    the sha256 and the stat) is beside it: an archive in place is a complete one. Its sha256."""
    digest = sha256_file(built)
    # the rename keeps size, time and inode
    manifest = {**record, "sha256": digest, "stat": stat_record(built)}
    written = built.with_name(built.name + ".json")
    written.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(written, manifest_path(archive))
    os.replace(built, archive)
    return digest


def build_once(archive: Path, built_from: Mapping[str, object], build: Callable[[], str], *,
               what: str, log: Log, force: bool = False) -> str:
    """The archive's sha256: the cached one, or `build()`'s (which ends with put_in_place), built
    while no other process builds it; `what` names it in the log ("wheelhouse", "NLTK data")."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(archive.with_name(f".{archive.stem}.lock"), log):
        digest = None if force else cached(archive, built_from)
        if digest is None:
            started = time.monotonic()
            digest = build()
            size = archive.stat().st_size / 1e6
            log(f"{what} {archive.name}: {size:.1f} MB, sha256 {digest}, "
                f"{time.monotonic() - started:.1f} s")
    return digest

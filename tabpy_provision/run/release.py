"""A release: the complete set of files a service reads, as one immutable folder on the host.

    CONFIG_DIR/releases/<name>/...         (the files, a checksum list, the manifest last)
    CONFIG_DIR/current  -> releases/<name>  (what the service runs from)
    CONFIG_DIR/previous -> releases/<older> (what a failed start rolls back to)

The name is a digest of every file's content, owner and mode (and of the virtualenv a TabPy
release links), so equal inputs give the same release (a rerun changes nothing) and any change
gives a new one, built beside the old. Switching is one atomic rename of the `current` link: a
deploy killed at any point leaves the service with the old or the new complete set, never a
mix. Pure: no pyinfra import (the operations: run/release_operations.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

MANIFEST = ".manifest"
CHECKSUMS = ".sha256sums"


@dataclass(frozen=True)
class ReleaseFile:
    path: str  # relative to the release folder
    content: bytes = field(repr=False)
    owner: str
    group: str
    mode: str
    secret: bool  # never shown: uploaded from memory, no diff

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Release:
    files: tuple[ReleaseFile, ...]
    #: The absolute path a `venv` link in the folder points to (None: no link).
    venv: str | None = None

    @property
    def manifest(self) -> str:
        """Names, owners, modes and content digests (no content): stored in the release."""
        lines = [f"{f.path} {f.owner}:{f.group} {f.mode} {f.sha256}" for f in self.files]
        if self.venv is not None:
            lines.append(f"venv -> {self.venv}")
        return "\n".join(lines) + "\n"

    @property
    def checksums(self) -> str:
        """`sha256sum -c` input proving the files on the host are intact."""
        return "".join(f"{f.sha256}  {f.path}\n" for f in self.files)

    @property
    def name(self) -> str:
        return "r-" + hashlib.sha256(self.manifest.encode()).hexdigest()[:16]

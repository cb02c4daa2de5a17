"""A release: the complete set of files TabPy reads, as one immutable folder on the host.

    /etc/tabpy/releases/<name>/tabpy.conf, passwords, tls/tabpy.crt, tls/tabpy.key,
        tls/sitecustomize.py (TLS profile of TabPy's connections), venv -> ...
        (several TabPy processes: instances/PORT.conf each instead of tabpy.conf)
    /etc/tabpy/current  -> releases/<name>    (the unit runs from here)
    /etc/tabpy/previous -> releases/<older>   (what a failed start rolls back to)

The name is a digest of every file's content, owner and mode and of the venv, so equal inputs
give the same release (a rerun changes nothing) and any change gives a new one, built beside
the old. Switching is one atomic rename of the `current` link: a deploy killed at any point
leaves TabPy with the old or the new complete set, never a mix. Pure: no pyinfra import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tabpy_provision.server import render
from tabpy_provision.server.plan import TabpyServerPlan

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
    venv: str  # absolute path of the virtualenv the `venv` link points to

    @property
    def manifest(self) -> str:
        """Names, owners, modes and content digests (no content): stored in the release."""
        lines = [f"{f.path} {f.owner}:{f.group} {f.mode} {f.sha256}" for f in self.files]
        return "\n".join([*lines, f"venv -> {self.venv}"]) + "\n"

    @property
    def checksums(self) -> str:
        """`sha256sum -c` input proving the files on the host are intact."""
        return "".join(f"{f.sha256}  {f.path}\n" for f in self.files)

    @property
    def name(self) -> str:
        return "r-" + hashlib.sha256(self.manifest.encode()).hexdigest()[:16]


def build_release(plan: TabpyServerPlan, venv: str) -> Release:
    account = plan.settings.tabpy.tabpy_system_user
    files = [ReleaseFile(instance.config_name, render.tabpy_config(plan, instance).encode(),
                         "root", account, "0640", secret=False) for instance in plan.instances]
    if plan.password_file is not None:
        files.append(ReleaseFile("passwords", plan.password_file, account, account, "0600",
                                 secret=True))
    if plan.tls is not None:
        files.append(ReleaseFile("tls/tabpy.crt", plan.tls.chain_pem, "root", account, "0644",
                                 secret=False))
        files.append(ReleaseFile("tls/tabpy.key", plan.tls.key_pem, account, account, "0600",
                                 secret=True))
        files.append(ReleaseFile("tls/sitecustomize.py", render.tls_hook(plan).encode(), "root",
                                 account, "0644", secret=False))
    return Release(tuple(files), venv)

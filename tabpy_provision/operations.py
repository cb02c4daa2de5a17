"""Custom pyinfra operations: read the host's state with facts, yield only what closes the gap."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import File, Sha256File

from tabpy_provision.facts import FirstLine, PasswordFileUsers, SubfoldersByAge


@operation()
def secret_file(path: str, content: bytes, user: str, group: str, mode: str):
    """A file whose content must never be shown: compared by sha256, uploaded from memory, no
    diff, replaced atomically (a 0600 temp file in the same folder, then rename)."""
    wanted = hashlib.sha256(content).hexdigest()
    current = host.get_fact(File, path=path)
    if current and host.get_fact(Sha256File, path=path) == wanted:
        if current["user"] != user or current["group"] != group:
            yield StringCommand("chown", f"{user}:{group}", QuoteString(path))
        if current["mode"] != int(mode):  # the File fact gives mode 0600 as the int 600
            yield StringCommand("chmod", mode, QuoteString(path))
        return
    temp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.tabpy-new")
    # The temp file exists with its final owner and mode BEFORE any byte is written to it.
    yield StringCommand("install", "-m", mode, "-o", user, "-g", group, "/dev/null",
                        QuoteString(temp))
    yield FileUploadCommand(BytesIO(content), temp)
    yield StringCommand("mv", "-f", QuoteString(temp), QuoteString(path))


@operation()
def tabpy_password_file(path: str, content: bytes, users: tuple[str, ...], account: str):
    """TabPy's password file holding exactly `users`; the run names users added and removed
    (never a hash), then writes the file like `secret_file`."""
    present = set(host.get_fact(PasswordFileUsers, path=path))
    added, removed = sorted(set(users) - present), sorted(present - set(users))
    if added or removed:
        verb = "" if host.state.is_executing else "would be "
        host.log_styled("TabPy users " + "; ".join(
            f"{verb}{what}: {', '.join(names)}" for what, names in
            (("added", added), ("removed", removed)) if names))
    yield from secret_file._inner(path=path, content=content, user=account, group=account,
                                  mode="0600")


@operation()
def tabpy_venv(venv: str, archive: Path, archive_sha256: str, tabpy_version: str,
               work_dir: str):
    """A virtualenv with TabPy installed from a pushed wheelhouse archive, offline. Marked
    complete by a file holding the archive's sha256: a partial install is redone."""
    marker = f"{venv}/.tabpy-provision-wheelhouse"
    if host.get_fact(FirstLine, path=marker) == archive_sha256:
        return
    remote_archive = f"{work_dir}/wheelhouse.tar"
    yield StringCommand("rm -rf", QuoteString(venv), QuoteString(work_dir), "&&",
                        "install -d -m 0700", QuoteString(work_dir))
    yield FileUploadCommand(str(archive), remote_archive)
    uv = f"{work_dir}/bin/uv"
    yield StringCommand(
        "set -e;",
        "tar -xf", QuoteString(remote_archive), "-C", QuoteString(work_dir), ";",
        "export UV_CACHE_DIR=" + work_dir + "/cache UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never;",
        uv, "venv --quiet --python /usr/bin/python3", QuoteString(venv), ";",
        uv, "pip install --quiet --offline --no-index --link-mode copy --compile-bytecode",
        "--python", QuoteString(f"{venv}/bin/python"),
        "--find-links", QuoteString(f"{work_dir}/wheels"), f"tabpy=={tabpy_version}", ";",
        "echo", archive_sha256, ">", QuoteString(marker), ";",
        "rm -rf", QuoteString(work_dir),
    )


@operation()
def prune_venvs(venvs_dir: str, keep: int, protect: str):
    """Remove the oldest virtualenvs beyond `keep`, never `protect` (the active one)."""
    names = host.get_fact(SubfoldersByAge, path=venvs_dir)
    kept = [protect] + [n for n in names if n != protect][: keep - 1]
    for name in names:
        if name not in kept:
            yield StringCommand("rm -rf", QuoteString(f"{venvs_dir}/{name}"))


@operation()
def controller_check(check: Callable[[], tuple[bool, str]], success_note: str = ""):
    """Run `check` on the controller while the deploy executes. Passing is not a change
    (a healthy rerun reports no changes); failing fails the host with the reason."""
    if not host.state.is_executing:
        return
    ok, detail = check()
    if ok:
        host.noop(f"{success_note}{detail}")
        return

    def fail() -> bool:
        host.log_styled(detail, fg="red")
        return False

    yield FunctionCommand(fail, (), {})

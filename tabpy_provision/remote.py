"""Commands and file bytes to and from a host, as root (directly or through sudo): the one way
the deploy's own code reaches a host outside pyinfra's operations. See escalation.py for why
file contents travel only on a command's stdin and stdout."""

from __future__ import annotations

import io
from pathlib import Path

from pyinfra.api import FunctionCommand, StringCommand
from pyinfra.connectors.util import CommandOutput

from tabpy_provision import escalation

#: How long one transfer may stay silent before it counts as lost.
TRANSFER_IDLE_TIMEOUT = 120.0
CHUNK = 1 << 20


def uses_sudo(target) -> bool:
    return bool(target.data.get("_sudo"))


def root_arguments(target) -> dict:
    """pyinfra's arguments for a command run as root on `target` (commands run by the deploy's
    own functions do not get the inventory's `_sudo` on their own)."""
    return {"_sudo": True} if uses_sudo(target) else {}


def run(target, *command, stdin: str | None = None) -> tuple[bool, CommandOutput]:
    """Run a shell command as root on `target`; `stdin`: text for its standard input."""
    arguments = root_arguments(target)
    if stdin is not None:
        arguments["_stdin"] = stdin
    return target.run_shell_command(StringCommand(*command), **arguments)


def stream(target, command: str, data: bytes | Path = b"") -> tuple[int, bytes, bytes]:
    """Run `command` as root with `data` (bytes, or a controller file read in chunks) as its
    whole stdin, on its own SSH channel; its exit status, stdout and stderr, as bytes
    (binary-safe, never through a file). Meant for commands that either read stdin or write
    stdout, never both at length."""
    channel = target.connector.client.get_transport().open_session()
    channel.settimeout(TRANSFER_IDLE_TIMEOUT)
    try:
        channel.exec_command(escalation.as_root(command, sudo=uses_sudo(target)))
        with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as source:
            while chunk := source.read(CHUNK):
                channel.sendall(chunk)
        channel.shutdown_write()
        out = channel.makefile("rb").read()
        err = channel.makefile_stderr("rb").read()
        return channel.recv_exit_status(), out, err
    except TimeoutError:
        raise ConnectionError(f"{target.name}: no answer for {TRANSFER_IDLE_TIMEOUT:.0f} s "
                              "during a transfer") from None
    finally:
        channel.close()


def write_file(target, path: str, content: bytes | Path, *, mode: str = "0600", owner: str = "root",
               group: str = "root") -> tuple[bool, str]:
    """`content` as the file `path` (owner, group, mode), replaced in one rename."""
    status, _, err = stream(target, escalation.write_command(
        path, mode=mode, owner=owner, group=group), content)
    return status == 0, err.decode(errors="replace").strip()


def read_file(target, path: str) -> tuple[bool, bytes, str]:
    """The bytes of `path` (read as root)."""
    status, out, err = stream(target, escalation.read_command(path))
    return status == 0, out, err.decode(errors="replace").strip()


def upload(content: bytes | Path, path: str, *, mode: str = "0600", owner: str = "root",
           group: str = "root") -> FunctionCommand:
    """An operation's command writing `content` to `path` (see write_file); fails the host,
    naming the path, when the write fails."""

    def write(state, host) -> bool:
        ok, said = write_file(host, path, content, mode=mode, owner=owner, group=group)
        if not ok:
            host.log_styled(f"writing {path} failed: {said}", fg="red")
        return ok

    return FunctionCommand(write, (), {})

"""Commands and file bytes to and from a host, as root (directly or through sudo): the one way
the deploy's own code reaches a host outside pyinfra's operations. See run/escalation.py for why
file contents travel only on a command's stdin and stdout."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import gevent
from pyinfra.api import FunctionCommand, QuoteString, StringCommand
from pyinfra.connectors.util import CommandOutput

from tabpy_provision.run import escalation
from tabpy_provision.settings.secret_refs import SecretError, describe, resolve

#: How long one transfer may stay silent before it counts as lost.
TRANSFER_IDLE_TIMEOUT = 120.0
CHUNK = 1 << 20


#: Where a host's checked sudo password is kept for the run (in memory, on its connector).
SUDO_PASSWORD_KEY = "tabpy_provision_sudo_password"
ROOT_PROBLEM_KEY = "tabpy_provision_root_problem"
FACTS_KEY = "tabpy_provision_facts_read_once"


def uses_sudo(target) -> bool:
    return bool(target.data.get("_sudo"))


def sudo_password(target) -> str | None:
    """The sudo password commands give sudo on stdin (None: sudo asks for none)."""
    return target.connector_data.get(SUDO_PASSWORD_KEY)


def connect_as_root(target) -> str | None:
    """Connect to `target` (if need be) for a report and check it can act as root: why it
    cannot be read (None: it can). Checked once per host and run."""
    if not target.connected:
        target.connect(raise_exceptions=False, show_errors=False)
    if not target.connected:
        return "cannot connect over SSH"
    return root_access_problem(target)


def root_access_problem(target) -> str | None:
    """Why this run cannot act as root on `target` (None: it can). Checked once per host and
    run, before any fact: when sudo asks for the password of `sudo_password`, it is checked
    and kept for the run's commands (run/hosts.py gives it to sudo on stdin)."""
    if ROOT_PROBLEM_KEY not in target.connector_data:
        target.connector_data[ROOT_PROBLEM_KEY] = _probe_root_access(target)
    return target.connector_data[ROOT_PROBLEM_KEY]


def _probe_root_access(target) -> str | None:
    name, data = target.name, target.data
    if data.get("_sudo_password"):
        return (f"{name}: _sudo_password: pyinfra puts it on the host's command line, which "
                "every user there can read: give sudo_password (a secret reference) instead")
    reference = data.get("sudo_password")
    if not target.connected:  # outside --limit: read like a fact would be
        target.connect(reason="to check how it acts as root", raise_exceptions=True)
    _, output = target.run_shell_command(StringCommand(escalation.PROBE))
    problem = escalation.probe_problem(name, uses_sudo(target), output.stdout_lines,
                                       password_given=reference is not None)
    if problem != escalation.PASSWORD:
        return problem
    try:
        if reference == "generate":
            raise SecretError("a sudo password cannot be generated; use env:, file:, cmd: or "
                              "vault:")
        password = resolve(reference, store=None, store_key="sudo_password",
                           allow_plaintext=bool(data.get("allow_plaintext_secrets")))
    except SecretError as error:
        return f"{name}: sudo_password ({describe(reference)}): {error}"
    accepted, _ = target.run_shell_command(StringCommand(escalation.PASSWORD_CHECK),
                                           _stdin=password)
    if not accepted:
        return f"{name}: sudo_password ({describe(reference)}): sudo refused it"
    target.connector_data[SUDO_PASSWORD_KEY] = password
    return None


def at_once(calls: Iterable[Callable[[], Any]]) -> list:
    """Every call at once (greenlets, the way pyinfra runs operations on hosts), the results in
    the calls' order; the first error is raised."""
    greenlets = [gevent.spawn(call) for call in calls]
    gevent.joinall(greenlets, raise_error=True)
    return [greenlet.value for greenlet in greenlets]


def on_every_host(hosts: Iterable, function: Callable) -> list:
    """`function(host)` for every host at once, the results in the hosts' order."""
    return at_once(functools.partial(function, target) for target in hosts)


def read_once(target, fact, **arguments):
    """A fact of `target` that does not change during the checks (the system, its Python,
    its size), read once per run; later calls answer from memory."""
    memo = target.connector_data.setdefault(FACTS_KEY, {})
    key = (fact, tuple(sorted(arguments.items())))
    if key not in memo:
        memo[key] = target.get_fact(fact, **arguments)
    return memo[key]


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


def run_lines(target, *command) -> tuple[bool, list[str]]:
    """`run`, its standard output as lines."""
    ok, output = run(target, *command)
    return ok, output.stdout_lines


def journal_cursor(target, unit: str) -> str | None:
    """Where `unit`'s journal ends now (what it says next is read after it)."""
    _, cursor = run_lines(target, "journalctl -u", unit, "-n 0 --show-cursor --no-pager",
                          "| sed -n 's/^-- cursor: //p'")
    return cursor[0] if cursor else None


def journal_since(target, unit: str, cursor: str | None, lines: int,
                  keep: str | None = None) -> list[str]:
    """The last `lines` messages `unit` logged after `cursor` (its last 200 without one);
    `keep`: a shell filter (grep ...) of the messages worth showing."""
    after = QuoteString(f"--after-cursor={cursor}") if cursor else "-n 200"
    _, said = run_lines(target, "journalctl -u", unit, after, "-o cat --no-pager",
                        *([f"| {keep}"] if keep else []), "| tail -n", lines)
    return said


def unit_gave_up(target, unit: str, service: str) -> str | None:
    """Why waiting for a restarted `unit` to answer is pointless, or None. One restart by
    systemd is waited out: systemd itself sometimes fails to spawn a process (result
    'resources') and its restart succeeds; failing twice is final."""
    _, lines = run_lines(target, "systemctl show -p NRestarts -p ActiveState", unit)
    shown = dict(line.split("=", 1) for line in lines if "=" in line)
    active, restarts = shown.get("ActiveState", ""), int(shown.get("NRestarts") or 0)
    if active == "failed" or restarts >= 2:
        return f"{service} exited ({active}, restarted {restarts} times by systemd)"
    return None


def _root_channel(target, command: str, timeout: float):
    """An SSH channel of its own running `command` as root (sudo's password, when it asks for
    one, sent first on stdin)."""
    channel = target.connector.client.get_transport().open_session()
    try:
        channel.settimeout(timeout)
        password = sudo_password(target) if uses_sudo(target) else None
        channel.exec_command(escalation.as_root(command, sudo=uses_sudo(target),
                                                password=password is not None))
        if password is not None:
            channel.sendall(password.encode() + b"\n")
    except BaseException:
        channel.close()
        raise
    return channel


def stream(target, command: str, data: bytes | Path = b"") -> tuple[int, bytes, bytes]:
    """Run `command` as root with `data` (bytes, or a controller file read in chunks) as its
    whole stdin, on its own SSH channel; its exit status, stdout and stderr, as bytes
    (binary-safe, never through a file). Meant for commands that either read stdin or write
    stdout, never both at length. On @local (a Tableau Cloud entry) it runs here, as the
    controller's user."""
    if not hasattr(target.connector, "client"):  # @local: the controller itself
        done = subprocess.run(["sh", "-c", command], input=data.read_bytes() if isinstance(
            data, Path) else data, capture_output=True, timeout=TRANSFER_IDLE_TIMEOUT)
        return done.returncode, done.stdout, done.stderr
    with _transfer(target, command) as channel:
        with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as source:
            while chunk := source.read(CHUNK):
                channel.sendall(chunk)
        channel.shutdown_write()
        out = channel.makefile("rb").read()
        err = channel.makefile_stderr("rb").read()
        return channel.recv_exit_status(), out, err


def fetch(target, command: str, dest: Path) -> tuple[int, bytes]:
    """Run `command` as root on its own SSH channel, its stdout written to the controller file
    `dest` (made here, 0600) in chunks, never held whole in memory; its exit status and stderr.
    What arrived stays in `dest` whatever the status: the caller keeps or removes it."""
    with _transfer(target, command) as channel, \
            os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        channel.shutdown_write()
        source = channel.makefile("rb")
        while chunk := source.read(CHUNK):
            out.write(chunk)
        err = channel.makefile_stderr("rb").read()
        return channel.recv_exit_status(), err


@contextlib.contextmanager
def _transfer(target, command: str) -> Iterator:
    """An SSH channel of its own running `command` as root for one transfer, closed after it;
    a transfer silent for TRANSFER_IDLE_TIMEOUT is a lost connection."""
    channel = _root_channel(target, command, TRANSFER_IDLE_TIMEOUT)
    try:
        yield channel
    except TimeoutError:
        raise ConnectionError(f"{target.name}: no answer for {TRANSFER_IDLE_TIMEOUT:.0f} s "
                              "during a transfer") from None
    finally:
        channel.close()


@contextlib.contextmanager
def session(target, command: str, first_line: bytes, timeout: float) -> Iterator[str]:
    """`command` running as root on `target` for the length of the block, on its own SSH
    channel: it is sent `first_line` on stdin and must answer with one line (yielded) within
    `timeout`; leaving the block closes its stdin, which is its signal to end (so does a lost
    connection)."""
    channel = _root_channel(target, command, timeout)
    try:
        channel.sendall(first_line)
        try:
            answer = channel.makefile("rb").readline().decode(errors="replace").strip()
        except TimeoutError:
            raise ConnectionError(f"{target.name}: no answer for {timeout:.0f} s") from None
        if not answer:
            said = channel.makefile_stderr("rb").read().decode(errors="replace").strip()
            raise ConnectionError(f"{target.name}: {said.splitlines()[-1] if said else 'ended'}")
        yield answer
    finally:
        with contextlib.suppress(OSError):
            channel.shutdown_write()
        channel.close()


def write_file(target, path: str, content: bytes | Path, *, mode: str = "0600", owner: str = "root",
               group: str = "root") -> tuple[bool, str]:
    """`content` as the file `path` (owner, group, mode), replaced in one rename."""
    size = content.stat().st_size if isinstance(content, Path) else len(content)
    status, _, err = stream(target, escalation.write_command(
        path, size, mode=mode, owner=owner, group=group), content)
    return status == 0, err.decode(errors="replace").strip()


def download(target, command: str, destination: Path) -> tuple[bool, str]:
    """Run `command` as root on its own SSH channel; its stdout goes, in chunks, into the new
    file `destination` (0600: never whole in memory, whatever its size). Whether it exited 0,
    and what it said on stderr."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(destination, "wb", opener=lambda name, _: os.open(name, flags, 0o600)) as out:
        if not hasattr(target.connector, "client"):  # @local: the controller itself
            done = subprocess.run(["sh", "-c", command], stdout=out, stderr=subprocess.PIPE,
                                  timeout=TRANSFER_IDLE_TIMEOUT, check=False)
            return done.returncode == 0, done.stderr.decode(errors="replace").strip()
        channel = _root_channel(target, command, TRANSFER_IDLE_TIMEOUT)
        try:
            channel.shutdown_write()
            while chunk := channel.recv(CHUNK):
                out.write(chunk)
            said = channel.makefile_stderr("rb").read().decode(errors="replace").strip()
            return channel.recv_exit_status() == 0, said
        except TimeoutError:
            raise ConnectionError(f"{target.name}: no answer for {TRANSFER_IDLE_TIMEOUT:.0f} s "
                                  "during a transfer") from None
        finally:
            channel.close()


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

"""Corrections to pyinfra, installed by every entry point before it reaches a host: three to
its SSH connector, two to what it does at every operation call, one to how it reads facts.

A host lost mid-run fails that host, not the whole run.

paramiko raises EOFError when the SSH connection of a host that went away is used (a command,
a fact, an upload); pyinfra expects OSError-like errors there and stops the whole run with an
internal error instead. Every deploy entry point installs this (through the preflight) before
its first operation: the SSH connector then reports a lost connection as ConnectionError, which
pyinfra handles as that host's failure.

A sudo password never reaches a command line. pyinfra's `_sudo_password` puts it in the
command (`env ... PYINFRA_SUDO_PASSWORD=... sudo -A`), where every user of the host can read it
while the command runs. For a host whose checked password remote.py keeps, every `_sudo`
command instead runs under `sudo -S` and the password is the first line of its stdin.

A command costs one round trip, not 40 ms more. paramiko leaves Nagle's algorithm on, so every
channel it opens waits for the host's delayed acknowledgement (about 40 ms on Linux): a no-op
run of 60 operations on one host spent 3 s waiting. The connection's socket gets TCP_NODELAY
(what OpenSSH's own client sets) before its first command; a proxied connection has no TCP
socket of its own and is left alone.

An operation call does not read source files. pyinfra orders operations by the line numbers
on the call stack, read with `inspect.stack()`, which also loads every frame's source lines
(0.4 s of a no-op run of the lab's 121 operations); only file names and line numbers are used,
so the stack is read without source context. And the type hints of pyinfra's global
arguments, which cannot change during a run, are read once instead of at every operation and
fact call (353 calls, 0.2 s, in the same run).

A fact read together with others is not read again until the host runs an operation's command
(run/fact_batch.py): every kind of command an operation yields forgets them first.
"""

from __future__ import annotations

import functools
import inspect
import socket

from pyinfra.api import FileDownloadCommand, FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api import util as pyinfra_util
from pyinfra.api.command import RsyncCommand
from pyinfra.api.host import Host
from pyinfra.connectors.ssh import SSHConnector

from tabpy_provision.run import escalation, fact_batch
from tabpy_provision.run.remote import SUDO_PASSWORD_KEY

_METHODS = ("run_shell_command", "put_file", "get_file")


def _send_without_delay(connector: SSHConnector) -> None:
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None or getattr(transport, "sends_without_delay", False):
        return
    sock = transport.sock
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport.sends_without_delay = True


def _reporting_lost_connections(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            _send_without_delay(self)
            return method(self, *args, **kwargs)
        except EOFError:
            raise ConnectionError(f"connection to {self.host.name} lost") from None

    call.reports_lost_connections = True
    return call


def report_lost_connections() -> None:
    for name in _METHODS:
        method = getattr(SSHConnector, name)
        if not getattr(method, "reports_lost_connections", False):
            setattr(SSHConnector, name, _reporting_lost_connections(method))


def _stdin_lines(stdin) -> list[str]:
    if stdin is None:
        return []
    if hasattr(stdin, "readlines"):
        return stdin.readlines()
    return list(stdin) if isinstance(stdin, (list, tuple)) else [stdin]


def _sudo_reading_password(method):
    @functools.wraps(method)
    def call(self, command, print_output=False, print_input=False, **arguments):
        password = self.host.connector_data.get(SUDO_PASSWORD_KEY)
        if not (password and arguments.get("_sudo")):
            return method(self, command, print_output, print_input, **arguments)
        sudo = escalation.sudo_prefix(password=True, user=arguments.pop("_sudo_user", None))
        shell = arguments.get("_shell_executable") or "sh"
        # pyinfra wraps the command (environment, folder) in `SHELL -c`; sudo goes in front
        arguments.update(_sudo=False, _shell_executable=f"{sudo} {shell}",
                         _stdin=[password, *_stdin_lines(arguments.get("_stdin"))])
        return method(self, command, print_output, print_input, **arguments)

    call.reads_sudo_password = True
    return call


def give_sudo_passwords_on_stdin() -> None:
    method = SSHConnector.run_shell_command
    if not getattr(method, "reads_sudo_password", False):
        SSHConnector.run_shell_command = _sudo_reading_password(method)


def order_operations_without_source() -> None:
    pyinfra_util.stack = functools.partial(inspect.stack, 0)
    pyinfra_util.getframeinfo = functools.partial(inspect.getframeinfo, context=0)


def read_global_arguments_once() -> None:
    if getattr(pyinfra_arguments.all_global_arguments, "read_once", False):
        return
    found = tuple(pyinfra_arguments.all_global_arguments())

    def all_global_arguments() -> list[tuple[str, type]]:
        return list(found)

    all_global_arguments.read_once = True
    pyinfra_arguments.all_global_arguments = all_global_arguments


def answer_facts_read_together() -> None:
    method = Host.get_fact
    if getattr(method, "answers_facts_read_together", False):
        return

    @functools.wraps(method)
    def get_fact(self, name_or_cls, *args, **kwargs):
        found = fact_batch.MISSING if args else fact_batch.answered(self, name_or_cls, kwargs)
        return method(self, name_or_cls, *args, **kwargs) if found is fact_batch.MISSING \
            else found

    get_fact.answers_facts_read_together = True
    Host.get_fact = get_fact
    for command_class in (StringCommand, FileUploadCommand, FileDownloadCommand, FunctionCommand,
                          RsyncCommand):
        command_class.execute = _forgetting_facts_read_together(command_class.execute)


def _forgetting_facts_read_together(execute):
    @functools.wraps(execute)
    def call(self, state, host, connector_arguments):
        fact_batch.forget(host)
        return execute(self, state, host, connector_arguments)

    return call


def correct_pyinfra() -> None:
    """Every correction (idempotent)."""
    report_lost_connections()
    give_sudo_passwords_on_stdin()
    order_operations_without_source()
    read_global_arguments_once()
    answer_facts_read_together()

"""A host lost mid-run fails that host, not the whole run.

paramiko raises EOFError when the SSH connection of a host that went away is used (a command,
a fact, an upload); pyinfra expects OSError-like errors there and stops the whole run with an
internal error instead. Every deploy entry point installs this (through the preflight) before
its first operation: the SSH connector then reports a lost connection as ConnectionError, which
pyinfra handles as that host's failure.
"""

from __future__ import annotations

import functools

from pyinfra.connectors.ssh import SSHConnector

_METHODS = ("run_shell_command", "put_file", "get_file")


def _reporting_lost_connections(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
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

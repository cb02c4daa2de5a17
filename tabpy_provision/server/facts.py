"""A TabPy server's facts (pyinfra): its running release, virtualenvs and units."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, QuoteString, StringCommand


class RunningRelease(FactBase):
    """The release folder the running TabPy was started from (its working directory), or None
    when it is not running: what TabPy really serves, whatever the links say now."""

    def command(self, service):
        return StringCommand(
            "pid=$(systemctl show -p MainPID --value", QuoteString(service), ");",
            '[ "${pid:-0}" -gt 0 ] && basename "$(readlink /proc/$pid/cwd)" || true')

    def process(self, output):
        return output[0] if output else None


class ReferencedVenvs(FactBase):
    """Virtualenv folder names that the release folders' `venv` links point to."""

    default = list

    def command(self, releases_dir):
        return StringCommand(f"for link in {shlex.quote(releases_dir)}/*/venv;",
                             'do [ -L "$link" ] && basename "$(readlink "$link")"; done; true')

    def process(self, output):
        return sorted(set(output))


class TabpyUnits(FactBase):
    """TabPy units running or enabled at boot: `NAME.service` and `NAME@PORT.service`."""

    default = list

    def command(self, service):
        pattern = QuoteString(f"^{service}(@[0-9]+)?\\.service$")
        return StringCommand(
            "( ls /etc/systemd/system/multi-user.target.wants/ 2>/dev/null;",
            "systemctl list-units --state=active --plain --no-legend", QuoteString(f"{service}*"),
            "| awk '{print $1}' ) | grep -E", pattern, "| sort -u || true")

    def process(self, output):
        return list(output)

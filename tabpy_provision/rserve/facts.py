"""An Rserve server's facts (pyinfra)."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class RunningRserveRelease(FactBase):
    """The release folder the running Rserve was started from (its unit resolves the `current`
    link into the config path on its command line), or None when it is not running: what
    Rserve really serves, whatever the links say now."""

    def command(self, service):
        return StringCommand(
            "pid=$(systemctl show -p MainPID --value", QuoteString(service), ");",
            '[ "${pid:-0}" -gt 0 ] && tr "\\0" "\\n" < /proc/$pid/cmdline',
            "| sed -n 's#.*/releases/\\([^/]*\\)/Rserv.conf$#\\1#p' || true")

    def process(self, output):
        return output[0] if output else None

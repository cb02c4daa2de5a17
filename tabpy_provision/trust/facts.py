"""The clients' trust facts (pyinfra): the trust anchors this tool put on a client, a macOS
keychain's certificates."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class ManagedTrustFiles(FactBase):
    """Names of the files starting with `prefix` in a trust-anchor folder; [] when absent."""

    default = list

    def command(self, folder, prefix):
        return StringCommand("! test -d", QuoteString(folder), "|| find", QuoteString(folder),
                             "-maxdepth 1 -type f -name", QuoteString(f"{prefix}*"),
                             "-printf '%f\\n'")

    def process(self, output):
        return sorted(output)


class KeychainSha1s(FactBase):
    """SHA-1s (upper-case hex) of every certificate in a macOS keychain, as printed by
    `security find-certificate -a -Z`; exit 44 (nothing found) is an empty keychain."""

    default = list
    requires_command = "security"

    def command(self, keychain):
        return StringCommand("security find-certificate -a -Z", QuoteString(keychain),
                             "|| test $? -eq 44")

    def process(self, output):
        return sorted({line.split(":", 1)[1].strip().upper() for line in output
                       if line.startswith("SHA-1 hash:")})

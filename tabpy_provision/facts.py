"""Custom pyinfra facts: read-only questions asked of a host."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class PythonTarget(FactBase):
    """The host's python3 as a wheel target, e.g. {"abi": "cp311", "arch": "x86_64"}, or None."""

    requires_command = "python3"

    def command(self):
        return ("python3 -c 'import sys, platform; "
                "print(\"cp%d%d\" % sys.version_info[:2], platform.machine())'")

    def process(self, output):
        abi, arch = output[0].split()
        return {"abi": abi, "arch": arch}


class FirstLine(FactBase):
    """The first line of a file, or None when it does not exist (for small marker files)."""

    def command(self, path):
        return StringCommand("! test -f", QuoteString(path), "||", "head -n1", QuoteString(path))

    def process(self, output):
        return output[0] if output else None


class SubfoldersByAge(FactBase):
    """Sub-folder names of a folder, newest first (by their own mtime); [] when absent."""

    default = list

    def command(self, path):
        return StringCommand("! test -d", QuoteString(path), "|| ( cd", QuoteString(path),
                             "&& ls -1t --indicator-style=slash | sed -n 's,/$,,p' )")

    def process(self, output):
        return list(output)


class PasswordFileUsers(FactBase):
    """User names in a TabPy password file (first field of each non-comment line); never the
    hashes, which stay on the host. [] when the file is absent."""

    default = list

    def command(self, path):
        return StringCommand("! test -f", QuoteString(path), "|| awk",
                             QuoteString("!/^#/ && NF { print tolower($1) }"), QuoteString(path))

    def process(self, output):
        return list(output)

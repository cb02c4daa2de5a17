"""What a host's distribution gives TabPy (pyinfra facts): its Python as a wheel target, glibc,
SELinux, the firewall front end's open ports."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class PythonTarget(FactBase):
    """A Python of the host as a wheel target, e.g. {"abi": "cp311", "arch": "x86_64"}, or
    None when it is not installed."""

    def command(self, python="python3"):
        return StringCommand("! command -v", QuoteString(python), ">/dev/null ||", QuoteString(
            python), "-c 'import sys, platform; "
            "print(\"cp%d%d\" % sys.version_info[:2], platform.machine())'")

    def process(self, output):
        if not output:
            return None
        abi, arch = output[0].split()
        return {"abi": abi, "arch": arch}


class Glibc(FactBase):
    """The host's glibc as (major, minor), e.g. (2, 36); None when its C library is not glibc
    (musl answers no GNU_LIBC_VERSION)."""

    def command(self):
        return "getconf GNU_LIBC_VERSION 2>/dev/null || true"

    def process(self, output):
        words = " ".join(output).split()
        if len(words) != 2 or words[0] != "glibc":
            return None
        try:
            major, minor = (int(part) for part in words[1].split(".")[:2])
        except ValueError:
            return None
        return (major, minor)


class SelinuxMode(FactBase):
    """enforcing, permissive or disabled (also when SELinux is not installed)."""

    def command(self):
        return "command -v getenforce >/dev/null && getenforce || echo Disabled"

    def process(self, output):
        return output[0].strip().lower() if output else "disabled"


class SelinuxPorts(FactBase):
    """TCP ports labelled with an SELinux port type (`semanage port -l`)."""

    default = list

    def command(self, port_type):
        return StringCommand("semanage port -l 2>/dev/null | awk", QuoteString(
            f'$1 == "{port_type}" && $2 == "tcp" {{ for (i = 3; i <= NF; i++) print $i }}'))

    def process(self, output):
        ports = []
        for item in (word.strip(",") for line in output for word in line.split()):
            low, _, high = item.partition("-")
            if low.isdigit() and (not high or high.isdigit()):
                ports += range(int(low), int(high or low) + 1)
        return ports


class RelabelNeeded(FactBase):
    """Whether restorecon would change the SELinux label of any file under the paths."""

    def command(self, paths):
        return StringCommand("restorecon -Rn -v", *map(QuoteString, paths),
                             "2>/dev/null | head -n1")

    def process(self, output):
        return bool(output)


class FirewallPorts(FactBase):
    """TCP ports the host firewall front end (firewalld, ufw) opens, as "PORT/tcp", or None
    when it is not running."""

    def command(self, frontend):
        if frontend == "firewalld":
            return ("systemctl is-active --quiet firewalld && "
                    "{ echo active; firewall-cmd --list-ports; } || true")
        return ("command -v ufw >/dev/null && ufw status | grep -q '^Status: active' && "
                "{ echo active; ufw status | awk '$2 == \"ALLOW\" { print $1 }'; } || true")

    def process(self, output):
        if not output or output[0] != "active":
            return None
        return sorted({word for line in output[1:] for word in line.split()})

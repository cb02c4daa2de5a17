"""Custom pyinfra facts: read-only questions asked of a host."""

from __future__ import annotations

import ipaddress
import shlex

from pyinfra.api import FactBase, QuoteString, StringCommand

from tabpy_provision.firewall import rules as fence_rules
from tabpy_provision.functions import source as functions_source
from tabpy_provision.run import disk_space, host_claims


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


class SystemAccount(FactBase):
    """The account `account` and its group: {"group": bool, "user": None or (primary group,
    home, shell, comment)}. One `getent` (pyinfra's Users fact runs a loop over every
    account)."""

    def default(self):  # no output: neither exists
        return {"group": False, "user": None}

    def command(self, account):
        q = shlex.quote(account)
        return StringCommand(f"getent group {q} >/dev/null && echo group; "
                             f"getent passwd {q} >/dev/null && echo \"user $(id -gn {q})\" "
                             f"\"$(getent passwd {q} | cut -d: -f5-7)\"; true")

    def process(self, output):
        account = {"group": "group" in output, "user": None}
        for line in output:
            if line.startswith("user "):
                group, rest = line[5:].split(" ", 1)
                comment, home, shell = rest.split(":", 2)
                account["user"] = (group, home, shell, comment)
        return account


class FirstLine(FactBase):
    """The first line of a file, or None when it does not exist (for small marker files)."""

    def command(self, path):
        return StringCommand("! test -f", QuoteString(path), "||", "head -n1", QuoteString(path))

    def process(self, output):
        return output[0] if output else None


class FreeSpace(FactBase):
    """The file system each path is on (its nearest existing folder's): device, free bytes and
    mount point, as disk_space.parse reads them."""

    default = dict

    def command(self, paths):
        return StringCommand(
            f"for p in {' '.join(map(shlex.quote, paths))}; do f=$p; "
            "while [ ! -e \"$f\" ]; do f=$(dirname \"$f\"); done; "
            "df -B1 --output=avail,target \"$f\" | tail -n 1 | { read -r avail mount; "
            "printf '%s\\t%s\\t%s\\t%s\\n' \"$p\" \"$(stat -c %d \"$f\")\" \"$avail\" "
            "\"$mount\"; }; done")

    def process(self, output):
        return disk_space.parse(output)


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


class CertificatesIn(FactBase):
    """The PEM certificate blocks of a file (never a key block of the same file), or None
    when the file is absent."""

    def command(self, path):
        return StringCommand("! test -f", QuoteString(path), "|| sed -n",
                             QuoteString("/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p"),
                             QuoteString(path))

    def process(self, output):
        return "\n".join(output) + "\n" if output else None


class LinkName(FactBase):
    """The last path component of a symlink's target, or None (e.g. the active release)."""

    def command(self, path):
        return StringCommand("! test -L", QuoteString(path), "|| basename \"$(readlink",
                             QuoteString(path), ')"')

    def process(self, output):
        return output[0] if output else None


class RunningRelease(FactBase):
    """The release folder the running TabPy was started from (its working directory), or None
    when it is not running: what TabPy really serves, whatever the links say now."""

    def command(self, service):
        return StringCommand(
            "pid=$(systemctl show -p MainPID --value", QuoteString(service), ");",
            '[ "${pid:-0}" -gt 0 ] && basename "$(readlink /proc/$pid/cwd)" || true')

    def process(self, output):
        return output[0] if output else None


class IntactManifest(FactBase):
    """A release folder's manifest when it is complete and every file matches its checksum;
    None otherwise (missing, half-built or altered by hand)."""

    def command(self, path):
        return StringCommand("cd", QuoteString(path), "2>/dev/null && test -f .manifest &&",
                             "sha256sum --quiet --status -c .sha256sums && cat .manifest || true")

    def process(self, output):
        return "\n".join(output) + "\n" if output else None


class ReferencedVenvs(FactBase):
    """Virtualenv folder names that the release folders' `venv` links point to."""

    default = list

    def command(self, releases_dir):
        return StringCommand(f"for link in {shlex.quote(releases_dir)}/*/venv;",
                             'do [ -L "$link" ] && basename "$(readlink "$link")"; done; true')

    def process(self, output):
        return sorted(set(output))


class ManagedTrustFiles(FactBase):
    """Names of the files starting with `prefix` in a trust-anchor folder; [] when absent."""

    default = list

    def command(self, folder, prefix):
        return StringCommand("! test -d", QuoteString(folder), "|| find", QuoteString(folder),
                             "-maxdepth 1 -type f -name", QuoteString(f"{prefix}*"),
                             "-printf '%f\\n'")

    def process(self, output):
        return sorted(output)


class TextFiles(FactBase):
    """{file name: lines} of the files matching `pattern` in a folder; {} when none."""

    default = dict

    def command(self, folder, pattern):
        return StringCommand(f"for f in {shlex.quote(folder)}/{pattern};",
                             'do [ -f "$f" ] || continue; echo "==> ${f##*/}"; cat "$f"; done')

    def process(self, output):
        return files_by_header(output)


def files_by_header(output) -> dict[str, list[str]]:
    """`==> NAME` header lines, each followed by that file's lines -> {NAME: lines}."""
    files: dict[str, list[str]] = {}
    for line in output:
        if line.startswith("==> "):
            current = files.setdefault(line[4:], [])
        else:
            current.append(line)
    return files


class PublishedFunctions(FactBase):
    """{state folder: ({endpoint: the digest this deploy published it with, or None}, whether
    the folder holds the publisher's `record`)} of each TabPy process; ({}, False) for a
    process without endpoints, a state.ini or a record yet."""

    default = dict

    def command(self, folders, record):
        return StringCommand(
            "for d in", *map(shlex.quote, folders), '; do echo "==> state $d";',
            '[ ! -f "$d/state.ini" ] || cat "$d/state.ini";',
            f'[ ! -f "$d/{record}" ] || echo "==> record $d"; done')

    def process(self, output):
        found = files_by_header(output)
        return {key[len("state "):]: (functions_source.published_in_state("\n".join(lines)),
                                      f"record {key[len('state '):]}" in found)
                for key, lines in found.items() if key.startswith("state ")}


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


class TsmPrograms(FactBase):
    """Paths of tsm on a Tableau Server node: each `customer-bin.<version>/tsm` matching `glob`
    (an upgrade leaves the old ones) and the one on PATH; [] when there is none."""

    default = list

    def command(self, glob):
        return StringCommand(f'for path in {glob}; do [ -x "$path" ] && echo "$path"; done;',
                             "command -v tsm || true")

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


class Sha256s(FactBase):
    """sha256 of each of the given files that exists ({path: digest})."""

    default = dict

    def command(self, paths):
        return StringCommand("sha256sum", *map(QuoteString, paths), "2>/dev/null || true")

    def process(self, output):
        return {line.split(None, 1)[1]: line.split()[0] for line in output if "  " in line}


class FileState(FactBase):
    """(sha256, octal mode, owner, group) of a file, or None when it does not exist."""

    def command(self, path):
        q = QuoteString(path)
        return StringCommand("[ -f", q, "] && stat -c '%a %U %G'", q, "&& sha256sum <", q,
                             "|| true")

    def process(self, output):
        if len(output) < 2:
            return None
        mode, owner, group = output[0].split()
        return output[1].split()[0], mode.zfill(4), owner, group


class FolderStates(FactBase):
    """{path: (octal mode, owner, group)} of those of `paths` that are folders, in one
    command (pyinfra's Directory fact takes one per path)."""

    default = dict

    def command(self, paths):
        quoted = " ".join(shlex.quote(path) for path in paths)
        return StringCommand(f"for p in {quoted}; do [ -d \"$p\" ] && "
                             "stat -c '%a %U %G %n' \"$p\"; done; true")

    def process(self, output):
        found = {}
        for line in output:
            mode, owner, group, path = line.split(" ", 3)
            found[path] = (mode.zfill(4), owner, group)
        return found


class BalancerStat(FactBase):
    """`show stat` of the host's HAProxy (runtime API), or None when it does not answer."""

    def command(self, command):
        return StringCommand(command, "2>/dev/null || true")

    def process(self, output):
        return "\n".join(output) if output else None


class InterfaceFor(FactBase):
    """The interface whose IPv4 network holds `address` (the address itself, which keepalived
    may have added there, does not count), or None."""

    def command(self, address):
        self.address = ipaddress.ip_address(address)  # for process (pyinfra's own pattern)
        return "ip -o -4 addr show"

    def process(self, output):
        for line in output:  # "2: eth0    inet 169.254.213.51/24 brd ... scope global eth0"
            fields = line.split()
            if len(fields) > 3 and fields[2] == "inet":
                interface = ipaddress.ip_interface(fields[3])
                if interface.ip != self.address and self.address in interface.network:
                    return fields[1]
        return None


class FenceLoaded(FactBase):
    """The digest of the tabpy-provision nftables table the host has loaded, or None (no
    table, or no nft)."""

    def command(self):
        return StringCommand("if command -v nft >/dev/null; then nft list table inet",
                             fence_rules.TABLE, "2>/dev/null || true; fi")

    def process(self, output):
        return fence_rules.loaded_digest("\n".join(output))


class Nameservers(FactBase):
    """The non-loopback DNS resolvers of /etc/resolv.conf, bracketed when IPv6."""

    default = list

    def command(self):
        return "sed -n 's/^nameserver[[:space:]]*//p' /etc/resolv.conf 2>/dev/null || true"

    def process(self, output):
        found = []
        for line in output:
            try:
                address = ipaddress.ip_address(line.strip().split("%")[0])
            except ValueError:
                continue
            if not address.is_loopback:
                found.append(f"[{address}]" if address.version == 6 else str(address))
        return found


class HostMemory(FactBase):
    """The host's memory in bytes (MemTotal), or None."""

    def command(self):
        return "sed -n 's/^MemTotal: *\\([0-9]*\\) kB$/\\1/p' /proc/meminfo"

    def process(self, output):
        return int(output[0]) * 1024 if output and output[0].isdigit() else None


class HostClaims(FactBase):
    """What the host already has under the names a TabPy server's values give: the account
    and group, the folders (kind, owner, first entries), unit files of the service name, the
    listening TCP sockets with their processes' units, HAProxy's and keepalived's configs.
    Tagged lines for host_claims.parse (one command)."""

    default = list

    def command(self, account, paths, service):
        q = shlex.quote
        unit_dirs = " ".join(map(q, host_claims.UNIT_DIRS))
        names = " ".join(q(f"{service}{suffix}") for suffix in (".service", "@.service"))
        listening = "ss -Hltnp 2>/dev/null"
        return StringCommand(
            f"getent passwd {q(account)} | sed 's/^/passwd /'; "
            f"getent group {q(account)} | sed 's/^/group /'; "
            f"for p in {' '.join(map(q, paths))}; do "
            "if [ -L \"$p\" ]; then printf 'folder %s\\tlink\\t\\t\\t\\n' \"$p\"; "
            "elif [ -d \"$p\" ]; then printf 'folder %s\\tdir\\t%s\\t%s\\t%s\\n' \"$p\" "
            "\"$(stat -c %U \"$p\")\" \"$(stat -c %G \"$p\")\" "
            "\"$(ls -A \"$p\" | head -n 5 | tr '\\n' /)\"; "
            "elif [ -e \"$p\" ]; then printf 'folder %s\\tother\\t\\t\\t\\n' \"$p\"; fi; done; "
            f"for d in {unit_dirs}; do [ -d \"$d\" ] || continue; r=$(readlink -f \"$d\"); "
            f"for n in {names}; do f=\"$r/$n\"; "
            "if [ -L \"$f\" ]; then printf 'unit %s\\tlink\\t\\n' \"$f\"; "
            "elif [ -e \"$f\" ]; then printf 'unit %s\\tfile\\t%s\\n' \"$f\" "
            "\"$(head -n 1 \"$f\")\"; fi; done; done; "
            f"{listening} | sed 's/^/ss /'; "
            f"for pid in $({listening} | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do "
            "printf 'cgroup %s\\t%s\\n' \"$pid\" \"$(tail -n 1 /proc/$pid/cgroup 2>/dev/null)\"; "
            "done; "
            "for c in /etc/haproxy/haproxy.cfg /etc/keepalived/keepalived.conf; do "
            "[ -f \"$c\" ] && printf 'config %s\\t%s\\t%s\\n' \"$c\" \"$(head -n 1 \"$c\")\" "
            "\"$(grep -qE '^[[:space:]]*(frontend|listen|backend|vrrp_instance|virtual_server)"
            "[[:space:]]' \"$c\" && echo yes || echo no)\"; done; true")

    def process(self, output):
        return list(output)

"""Custom pyinfra facts: read-only questions asked of a host."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, QuoteString, StringCommand

from tabpy_provision.run import disk_space, host_claims


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


class IntactManifest(FactBase):
    """A release folder's manifest when it is complete and every file matches its checksum;
    None otherwise (missing, half-built or altered by hand)."""

    def command(self, path):
        return StringCommand("cd", QuoteString(path), "2>/dev/null && test -f .manifest &&",
                             "sha256sum --quiet --status -c .sha256sums && cat .manifest || true")

    def process(self, output):
        return "\n".join(output) + "\n" if output else None


class PasswordFileUsers(FactBase):
    """User names in a password file (TabPy's and Rserve's: `user secret` lines, comments
    skipped); never the secrets, which stay on the host. [] when the file is absent."""

    default = list

    def command(self, path, lowered=True):
        name = "tolower($1)" if lowered else "$1"  # TabPy's names are case-insensitive
        return StringCommand("! test -f", QuoteString(path), "|| awk",
                             QuoteString(f"!/^#/ && NF {{ print {name} }}"), QuoteString(path))

    def process(self, output):
        return list(output)

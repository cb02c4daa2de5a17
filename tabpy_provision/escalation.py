"""How a command runs as root on a host, and how a file's bytes reach it or leave it.

A host is reached as root directly (`ssh_user` root) or as another user who escalates with
sudo (pyinfra's `_sudo`, as on fleets where root may not sign in over SSH). File contents never
pass through a file of their own on the host: pyinfra's sudo upload writes to
/tmp/pyinfra-<sha1 of the path> (mode from the umask, a name another user can predict and
pre-create) and its sudo download makes a world-readable copy there. Here a file's bytes travel
on the stdin or stdout of one command run as root, and a written file is created 0600 by root
in its own folder, given its owner and mode, then renamed over the old one: no other user can
read it at any moment, and a reader never sees half a file.

Pure: command texts only (tabpy_provision.remote runs them).
"""

from __future__ import annotations

import posixpath
import shlex

#: sudo never prompts (-n: a password it would ask for is an error, not a hang); -H: root's
#: home, so nothing of root's lands in the signed-in user's.
SUDO = "sudo -n -H --"

#: What sudo says when it would have to ask for a password (sudo, and sudo-rs on Ubuntu 25.10+).
PASSWORD_REQUIRED = ("a password is required", "interactive authentication is required")


def as_root(command: str, *, sudo: bool) -> str:
    """`command` (a shell command line) as root: itself, or under sudo."""
    return f"{SUDO} sh -c {shlex.quote(command)}" if sudo else command


def write_command(path: str, *, mode: str = "0600", owner: str = "root",
                  group: str = "root") -> str:
    """Write stdin to `path`: a 0600 root-only temp file beside it (a name nobody can predict),
    given its owner and mode once complete, then renamed over `path`."""
    q = shlex.quote
    folder = posixpath.dirname(path) or "."
    return (f"umask 077; t=$(mktemp {q(folder + '/.tabpy-provision.XXXXXXXXXX')}) || exit 1; "
            f"trap 'rm -f \"$t\"' EXIT; cat > \"$t\" && chown {q(owner)}:{q(group)} \"$t\" && "
            f"chmod {q(mode)} \"$t\" && mv -f \"$t\" {q(path)} && trap - EXIT")


def read_command(path: str) -> str:
    """The bytes of `path` on stdout."""
    return f"cat -- {shlex.quote(path)}"


def sudo_problem(host: str, user: str, sudo: bool, probe_ok: bool | None,
                 said: str = "") -> str | None:
    """Why the deploy cannot act as root on `host`, signing in as `user` (None: it can).
    `probe_ok`: whether `sudo -n true` succeeded (None: not probed, e.g. root)."""
    if user == "root":
        return None
    if not sudo:
        return (f"{host}: _sudo: signs in as {user}, not root, and _sudo is not set: set "
                "_sudo=True (sudo) for it")
    if probe_ok:
        return None
    if any(line in said for line in PASSWORD_REQUIRED):
        return (f"{host}: _sudo: sudo asks {user} for a password: give {user} passwordless "
                "sudo (NOPASSWD) for the deploy")
    return f"{host}: _sudo: sudo does not let {user} run commands as root: {said.strip()[:200]}"

"""How a command runs as root on a host, and how a file's bytes reach it or leave it.

A host is reached as root directly (`ssh_user` root) or as another user who escalates with
sudo (pyinfra's `_sudo`, as on fleets where root may not sign in over SSH). File contents never
pass through a file of their own on the host: pyinfra's sudo upload writes to
/tmp/pyinfra-<sha1 of the path> (mode from the umask, a name another user can predict and
pre-create) and its sudo download makes a world-readable copy there. Here a file's bytes travel
on the stdin or stdout of one command run as root, and a written file is created 0600 by root
in its own folder, given its owner and mode, then renamed over the old one: no other user can
read it at any moment, and a reader never sees half a file.

Pure: command texts only (tabpy_provision.run.remote runs them).
"""

from __future__ import annotations

import posixpath
import shlex

#: sudo never prompts (-n: a password it would ask for is an error, not a hang); -H: root's
#: home, so nothing of root's lands in the signed-in user's.
SUDO = "sudo -n -H --"
#: sudo given its password as the first line of stdin (never on a command line, where every
#: user of the host can read it: pyinfra's own `_sudo_password` goes there), asking every time
#: (-k: the line is always consumed, whatever sudo cached), with no prompt text.
SUDO_READING_PASSWORD = "sudo -S -k -p '' -H --"
#: Whether sudo accepts the password on stdin.
PASSWORD_CHECK = "sudo -S -k -p '' -- true"

#: What sudo says when it would have to ask for a password (sudo, and sudo-rs on Ubuntu 25.10+).
PASSWORD_REQUIRED = ("a password is required", "interactive authentication is required")


def sudo_prefix(*, password: bool, user: str | None = None) -> str:
    """sudo and its options, up to the command (`password`: it reads one from the first line of
    stdin; `user`: another target user than root)."""
    prefix = SUDO_READING_PASSWORD if password else SUDO
    return prefix.replace(" --", f" -u {shlex.quote(user)} --") if user else prefix


def as_root(command: str, *, sudo: bool, password: bool = False) -> str:
    """`command` (a shell command line) as root: itself, or under sudo (`password`: sudo reads
    it from the first line of stdin)."""
    if not sudo:
        return command
    return f"{sudo_prefix(password=password)} sh -c {shlex.quote(command)}"


def write_command(path: str, size: int, *, mode: str = "0600", owner: str = "root",
                  group: str = "root") -> str:
    """Write stdin to `path`: a 0600 root-only temp file beside it (a name nobody can predict),
    given its owner and mode once all `size` bytes arrived, then renamed over `path`. A stdin
    cut short (the controller killed or lost mid-transfer: the pipe just ends) never reaches
    `path`; nor does the temp file stay."""
    q = shlex.quote
    folder = posixpath.dirname(path) or "."
    # The traps come first: a hangup right after mktemp still removes the temp file.
    return (f"umask 077; t=; trap 'rm -f \"$t\"' EXIT; trap 'exit 1' HUP INT TERM PIPE; "
            f"t=$(mktemp {q(folder + '/.tabpy-provision.XXXXXXXXXX')}) || exit 1; cat > \"$t\" && "
            f"[ \"$(wc -c < \"$t\")\" -eq {int(size)} ] && "
            f"chown {q(owner)}:{q(group)} \"$t\" && chmod {q(mode)} \"$t\" && "
            f"mv -f \"$t\" {q(path)} && trap - EXIT")


def read_command(path: str) -> str:
    """The bytes of `path` on stdout."""
    return f"cat -- {shlex.quote(path)}"


#: Who the deploy signs in as and, unless root, whether sudo lets it act as root without asking.
#: Its output never holds sudo's own "a password is required" line as is: pyinfra would answer
#: that with an interactive password prompt (a hang in an unattended run).
PROBE = ('u=$(id -un); if [ "$u" = root ]; then echo "root 0"; '
         'else said=$(sudo -n true 2>&1); echo "$u $? $said"; fi')


def probe_problem(host: str, sudo: bool, output: list[str], *,
                  password_given: bool = False) -> str | None:
    """Why the deploy cannot act as root on `host`, given PROBE's output (None: it can;
    PASSWORD: it can once sudo accepts the given password)."""
    user, status, said = (" ".join(output).split(" ", 2) + ["", ""])[:3]
    if user == "root" or (sudo and status == "0"):
        return None
    if not status:
        return f"{host}: ssh_user: could not tell who the deploy signs in as ({' '.join(output)})"
    if not sudo:
        return (f"{host}: _sudo: signs in as {user}, not root, and _sudo is not set: set "
                "_sudo=True (sudo) for it")
    if any(line in said for line in PASSWORD_REQUIRED):
        if password_given:
            return PASSWORD
        return (f"{host}: sudo_password: sudo asks {user} for a password and none is given "
                "(a secret reference: env:, file:, cmd:, vault:)")
    return f"{host}: _sudo: sudo does not let {user} act as root: {said.strip()[:200]}"


#: probe_problem's answer when the given sudo password is needed (and must be checked).
PASSWORD = "password"

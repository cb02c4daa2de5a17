"""The lab as fleets that forbid root over SSH (CIS: `PermitRootLogin no`) run it.

Every lab host has a `deploy` user that the lab's key signs in as, with passwordless sudo.
`python -m lab root-login off` makes each host's sshd refuse root (`on` lets it in again; `lab
up` always lets it in again, so a run killed in sudo mode cannot strand the next one).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import ssh
from .hosts import LabHost
from .util import LabError, run, write_atomic

DEPLOY_USER = "deploy"
SUDOERS = f"{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"
#: The sudoers line when sudo asks the deploy user for its password.
SUDOERS_ASKING = f"{DEPLOY_USER} ALL=(ALL:ALL) ALL\n"
#: First in sshd_config.d: sshd keeps the first value it reads for a keyword.
NO_ROOT_DROPIN = Path("etc/ssh/sshd_config.d/00-tabpy-lab-no-root.conf")
NO_ROOT = "# python -m lab root-login off: root may not sign in over SSH\nPermitRootLogin no\n"


def provision_deploy_user(root: Path, public_key: str) -> None:
    """The `deploy` user in the host's root folder: the lab's key, passwordless sudo."""
    if not _passwd_entry(root):
        run(["useradd", "--root", str(root), "--create-home", "--user-group",
             "--shell", "/bin/bash", DEPLOY_USER])
        # "*": no password at all, rather than useradd's locked "!"
        run(["usermod", "--root", str(root), "--password", "*", DEPLOY_USER])
    uid, gid = _passwd_entry(root)
    dot_ssh = root / "home" / DEPLOY_USER / ".ssh"
    dot_ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(dot_ssh / "authorized_keys", public_key + "\n", 0o600)
    for path in (dot_ssh.parent, dot_ssh, dot_ssh / "authorized_keys"):
        os.chown(path, uid, gid)
    set_sudo_password(root, None)


def set_sudo_password(root: Path, password: str | None) -> None:
    """Passwordless sudo for the deploy user (None), or sudo that asks for `password`."""
    if password is not None:
        run(["chpasswd", "--root", str(root)], input=f"{DEPLOY_USER}:{password}\n")
    write_atomic(root / "etc" / "sudoers.d" / "tabpy-lab-deploy",
                 SUDOERS if password is None else SUDOERS_ASKING, 0o440)


def _passwd_entry(root: Path) -> tuple[int, int] | None:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == DEPLOY_USER:
            return int(fields[2]), int(fields[3])
    return None


def root_login_refused(root: Path) -> bool:
    return (root / NO_ROOT_DROPIN).exists()


def set_root_login(host: LabHost, root: Path, allowed: bool) -> bool:
    """Let root sign in over SSH, or refuse it; sshd reloaded through the deploy user's sudo.
    Returns whether anything changed."""
    dropin = root / NO_ROOT_DROPIN
    if dropin.exists() != allowed:
        return False
    if allowed:
        dropin.unlink()
    else:
        write_atomic(dropin, NO_ROOT, 0o644)
    reload = ssh.ssh_base_cmd(host, "-l", DEPLOY_USER, "-o", "ConnectTimeout=5") + [
        "sudo", "-n", "systemctl", "reload", "ssh"]
    proc = subprocess.run(reload, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        raise LabError(f"{host.name}: reloading sshd as {DEPLOY_USER}: "
                       f"{proc.stderr.strip() or proc.returncode}")
    return True

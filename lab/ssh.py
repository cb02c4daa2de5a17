"""The lab's SSH key, ssh_config, known_hosts, and running ssh against a lab host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import net, paths
from .hosts import EVERY_HOST, LabHost
from .util import LabError, run, write_atomic


def ensure_key() -> Path:
    key = paths.private_key_path()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        tmp = key.with_name(f".{key.name}.tmp{os.getpid()}")
        for p in (tmp, Path(f"{tmp}.pub")):
            p.unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tabpy-provision-lab",
             "-f", str(tmp)])
        os.replace(f"{tmp}.pub", f"{key}.pub")
        os.replace(tmp, key)
    os.chmod(key, 0o600)
    return key


def public_key() -> str:
    return Path(f"{paths.private_key_path()}.pub").read_text().strip()


def control_path() -> str:
    return f"{paths.state_dir()}/cm-%C"


def write_ssh_config() -> Path:
    lines = ["# Written by `python -m lab`: strict host-key checking, the lab's known_hosts.", ""]
    for host in EVERY_HOST:
        lines += [
            f"Host {host.fqdn} {host.name}",
            f"    HostName {host.address}",
            "    User root",
            f"    IdentityFile {paths.private_key_path()}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {paths.known_hosts_path()}",
            "    StrictHostKeyChecking yes",
            "    LogLevel ERROR",
            "    ControlMaster auto",
            f"    ControlPath {control_path()}",
            "    ControlPersist 60",
            # a master whose host vanished must fail fast, not hang every later session
            "    ServerAliveInterval 5",
            "    ServerAliveCountMax 3",
            "",
        ]
    text = "\n".join(lines)
    path = paths.ssh_config_path()
    if not path.exists() or path.read_text() != text:
        write_atomic(path, text)
    return path


def host_public_keys(host: LabHost) -> list[str]:
    """The host's own generated public host keys, read from its upper dir."""
    etc_ssh = paths.host_dir(host.name) / "upper" / "etc" / "ssh"
    keys = []
    for pub in sorted(etc_ssh.glob("ssh_host_*_key.pub")):
        parts = pub.read_text().split()
        if len(parts) >= 2:
            keys.append(f"{parts[0]} {parts[1]}")
    return keys


def write_known_hosts() -> Path:
    lines = []
    for host in EVERY_HOST:
        for key in host_public_keys(host):
            lines.append(f"{host.fqdn},{host.name},{host.address} {key}")
    text = "\n".join(lines) + ("\n" if lines else "")
    path = paths.known_hosts_path()
    if not path.exists() or path.read_text() != text:
        write_atomic(path, text)
    return path


def ssh_base_cmd(host: LabHost, *options: str) -> list[str]:
    return ["ssh", "-F", str(paths.ssh_config_path()), "-o", "BatchMode=yes", *options,
            host.fqdn]


def ssh_true(host: LabHost, connect_timeout: int = 1, timeout: float = 10) -> bool:
    """Does the host answer SSH (strictly verified)? Never called unless the host's netns and
    the bridge exist, so lab addresses are never looked for outside the machine."""
    if not (net.netns_exists(host) and net.bridge_ready()):
        return False
    cmd = ssh_base_cmd(host, "-o", f"ConnectTimeout={connect_timeout}") + ["true"]
    try:
        # no pipes: a ControlPersist master forks off and must not hold our output open
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def control_socket(host: LabHost) -> Path | None:
    """The expanded ControlPath for this host (ssh -G expands %C)."""
    out = run(["ssh", "-F", str(paths.ssh_config_path()), "-G", host.fqdn], check=False).stdout
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "controlpath" and "%" not in value:
            return Path(value)
    return None


def close_master(host: LabHost) -> None:
    """Stop this host's ControlMaster (if any) and remove its socket: a master left from
    before a crash would otherwise hold a dead connection."""
    if not paths.ssh_config_path().exists():
        return
    sock = control_socket(host)
    if sock is None or not (sock.exists() or sock.is_symlink()):
        return
    # -O exit only talks to the local socket; it never connects to the host
    subprocess.run(ssh_base_cmd(host, "-O", "exit"), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    sock.unlink(missing_ok=True)


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise LabError(msg)

"""One lab host: overlay root, provisioning, network, systemd-nspawn boot, teardown.

Everything the lab makes for a host is named after it and recorded in
state_dir/hosts/NAME/ (state.json, nspawn.pid), so teardown touches only that.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import acme, base, cgroups, net, paths, ssh, sudo, tableau
from .hosts import DOMAIN, EVERY_HOST, SERVICE_NAMES, LabHost
from .util import (
    LabError,
    is_mounted,
    pid_alive,
    proc_cmdline,
    run,
    safe_rmtree,
    tail,
    umount,
    wait_pid_gone,
    write_atomic,
)

READY_TIMEOUT = 30.0
#: Boots share this machine's cores: each host booting at once gets this much more time.
READY_TIMEOUT_PER_HOST = 3.0
#: inotify instances one booted host's services take (systemd, journald, logind, dbus, ...):
#: all hosts' root counts against one per-user limit of the machine (128 on Debian).
INOTIFY_PER_HOST = 12
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
POWEROFF_TIMEOUT = 10.0
HOSTS_BEGIN = "# BEGIN tabpy-provision lab hosts"
HOSTS_END = "# END tabpy-provision lab hosts"


# ---------------------------------------------------------------- where things are
def hdir(host: LabHost) -> Path:
    return paths.host_dir(host.name)


def root_dir(host: LabHost) -> Path:
    return hdir(host) / "root"


def upper_dir(host: LabHost) -> Path:
    return hdir(host) / "upper"


def pid_file(host: LabHost) -> Path:
    return hdir(host) / "nspawn.pid"


def console_log(host: LabHost) -> Path:
    return hdir(host) / "console.log"


def state_file(host: LabHost) -> Path:
    return hdir(host) / "state.json"


def read_state(host: LabHost) -> dict:
    try:
        return json.loads(state_file(host).read_text())
    except (OSError, ValueError):
        return {}


def write_state(host: LabHost, **changes) -> None:
    state = read_state(host)
    state.update(changes)
    write_atomic(state_file(host), json.dumps(state, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- inspection
def recorded_pid(host: LabHost) -> int | None:
    try:
        return int(pid_file(host).read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_nspawn(pid: int, host: LabHost) -> bool:
    argv = proc_cmdline(pid)
    return (bool(argv) and os.path.basename(argv[0]) == "systemd-nspawn"
            and f"--machine={host.name}" in argv and pid_alive(pid))


def running_pid(host: LabHost) -> int | None:
    pid = recorded_pid(host)
    return pid if pid is not None and is_our_nspawn(pid, host) else None


@dataclass
class HostStatus:
    host: LabHost
    state: str  # up | stopped | absent | stale
    pid: int | None
    leftovers: list[str]


def leftovers(host: LabHost) -> list[str]:
    found = []
    if pid_file(host).exists():
        found.append("pid file")
    if net.netns_exists(host) or os.path.lexists(net.netns_path(host)):
        found.append(f"netns {host.netns}")
    if net.link_exists(host.veth):
        found.append(f"veth {host.veth}")
    if is_mounted(root_dir(host)):
        found.append(f"mount {root_dir(host)}")
    return found


def status(host: LabHost) -> HostStatus:
    pid = running_pid(host)
    if pid is not None:
        return HostStatus(host, "up", pid, [])
    left = leftovers(host)
    if left:
        return HostStatus(host, "stale", recorded_pid(host), left)
    if upper_dir(host).is_dir():
        return HostStatus(host, "stopped", None, [])
    return HostStatus(host, "absent", None, [])


# ---------------------------------------------------------------- teardown
def poweroff(host: LabHost) -> None:
    """SIGTERM our nspawn (clean poweroff), SIGKILL after POWEROFF_TIMEOUT."""
    pid = running_pid(host)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not wait_pid_gone(pid, POWEROFF_TIMEOUT) and is_our_nspawn(pid, host):
            os.kill(pid, signal.SIGKILL)
            wait_pid_gone(pid, 5)
    # anything still running inside the host's own namespace is the host's
    for p in net.netns_pids(host):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def foreign_nspawn(host: LabHost) -> int | None:
    """A live systemd-nspawn for this host's name/netns that is not booting OUR root (e.g. a lab
    with another TABPY_LAB_DIR): never tear that one down."""
    mine = f"--directory={root_dir(host)}"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = proc_cmdline(int(entry))
        if (argv and os.path.basename(argv[0]) == "systemd-nspawn" and mine not in argv
                and (f"--machine={host.name}" in argv
                     or f"--network-namespace-path={net.netns_path(host)}" in argv)):
            return int(entry)
    return None


def cleanup_runtime(host: LabHost) -> None:
    """Power off (if running) and remove what the lab made at boot, keeping the upper dir."""
    other = foreign_nspawn(host)
    if other is not None:
        raise LabError(f"{host.name}: {host.netns} is used by another lab's systemd-nspawn "
                       f"(pid {other}, not booting {root_dir(host)}); leaving it alone")
    ssh.close_master(host)
    poweroff(host)
    net.destroy(host)
    cgroups.remove(host.name)
    root = root_dir(host)
    if is_mounted(root):
        umount(root)
    pid_file(host).unlink(missing_ok=True)
    if hdir(host).is_dir():
        write_state(host, running=False)


def remove(host: LabHost) -> None:
    cleanup_runtime(host)
    safe_rmtree(hdir(host))


# ---------------------------------------------------------------- bring-up
def hosts_block() -> str:
    rows = [HOSTS_BEGIN]
    rows += [f"{h.address}\t{h.fqdn} {h.name}" for h in EVERY_HOST]
    rows += [f"{address}\t{name}" for name, address in SERVICE_NAMES.items()]
    rows.append(HOSTS_END)
    return "\n".join(rows) + "\n"


def etc_hosts(existing: str | None) -> str:
    if existing and HOSTS_BEGIN in existing and HOSTS_END in existing:
        head, _, rest = existing.partition(HOSTS_BEGIN)
        _, _, tail_ = rest.partition(HOSTS_END + "\n")
        return head + hosts_block() + tail_
    return ("127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n"
            + hosts_block())


def refresh_hosts_file(host: LabHost, keep_existing: bool = True) -> None:
    """Every lab name in the host's /etc/hosts (also for running hosts: the table may grow)."""
    hosts_path = root_dir(host) / "etc" / "hosts"
    current = hosts_path.read_text() if hosts_path.exists() else None
    wanted = etc_hosts(current if keep_existing else None)
    if current != wanted:
        write_atomic(hosts_path, wanted)


def mount_root(host: LabHost) -> None:
    state = read_state(host)
    lower = Path(state.get("base") or base.base_rootfs(host.suite))
    if not lower.is_dir():
        lower = base.base_rootfs(host.suite)
    if not lower.is_dir():
        raise LabError(f"{host.name}: base image {lower} is missing")
    for d in ("upper", "work", "root"):
        (hdir(host) / d).mkdir(parents=True, exist_ok=True)
    root = root_dir(host)
    if not is_mounted(root):
        opts = f"lowerdir={lower},upperdir={upper_dir(host)},workdir={hdir(host) / 'work'}"
        run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root)])
    write_state(host, name=host.name, suite=host.suite, address=host.address,
                base=str(lower), mount=str(root), netns=host.netns, veth=host.veth,
                domain=DOMAIN)


def provision(host: LabHost) -> None:
    """First boot only: identity of its own. On later boots only the lab-owned bits."""
    root = root_dir(host)
    etc = root / "etc"
    state = read_state(host)
    if not state.get("provisioned"):
        write_atomic(etc / "machine-id", uuid.uuid4().hex + "\n", 0o444)
        for key in (etc / "ssh").glob("ssh_host_*"):
            key.unlink()
        run(["ssh-keygen", "-A", "-f", str(root)])
        write_atomic(etc / "hostname", host.name + "\n")
        resolv = etc / "resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        write_atomic(resolv, "")
    refresh_hosts_file(host, keep_existing=bool(state.get("provisioned")))
    # the lab key may log in as root
    dot_ssh = root / "root" / ".ssh"
    dot_ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dot_ssh, 0o700)
    auth = dot_ssh / "authorized_keys"
    pub = ssh.public_key()
    lines = auth.read_text().splitlines() if auth.exists() else []
    if pub not in lines:
        write_atomic(auth, "\n".join([*lines, pub]) + "\n", 0o600)
    sudo.provision_deploy_user(root, pub)
    # a boot always lets root in again (`python -m lab root-login off` refuses it)
    (root / sudo.NO_ROOT_DROPIN).unlink(missing_ok=True)
    if host.name == acme.HOST:
        acme.provision(root)
    if host.name == tableau.HOST:
        tableau.provision(root)
    write_state(host, provisioned=True)


def nspawn_cmd(host: LabHost) -> list[str]:
    return [
        "systemd-nspawn", "--quiet", "--boot",
        f"--directory={root_dir(host)}", f"--machine={host.name}",
        "--register=no", "--keep-unit",
        f"--network-namespace-path={net.netns_path(host)}",
        # its own network namespace: keepalived may add the pool's virtual address there
        "--capability=CAP_NET_ADMIN",
        "--console=read-only",
        # never hand the host the controller's resolver or journal
        "--resolv-conf=off", "--link-journal=no",
    ]


def boot(host: LabHost) -> int:
    with open(console_log(host), "ab") as log:
        log.write(f"\n=== lab boot {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        log.flush()
        # nspawn joins the host's own cgroups before it starts (cgroups.py says why)
        join = " ".join(f"echo $$ > {shlex.quote(str(procs))} &&"
                        for procs in cgroups.create(host.name))
        proc = subprocess.Popen(["sh", "-c", f'{join} exec "$@"', "sh", *nspawn_cmd(host)],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    write_atomic(pid_file(host), f"{proc.pid}\n")
    write_state(host, running=True, pid=proc.pid, booted=time.time())
    return proc.pid


def start(host: LabHost) -> int:
    """Clean leftovers of a crashed run, then mount, provision, wire up and boot the host
    (reusing its upper dir when there is one)."""
    st = status(host)
    if st.state == "up":
        raise LabError(f"{host.name}: already running (pid {st.pid})")
    if st.state == "stale":
        cleanup_runtime(host)
    else:
        ssh.close_master(host)
    mount_root(host)
    provision(host)
    net.create(host)
    return boot(host)


def ready_timeout(booting: int) -> float:
    return max(READY_TIMEOUT, READY_TIMEOUT_PER_HOST * booting)


def ensure_inotify_instances(hosts: int, log) -> None:
    """Raise the machine's inotify instance limit for `hosts` booted hosts (never lowered):
    with more than about ten hosts their systemd fails with 'Too many open files'."""
    needed = 128 + INOTIFY_PER_HOST * hosts
    try:
        current = int(INOTIFY_INSTANCES.read_text())
        if current >= needed:
            return
        INOTIFY_INSTANCES.write_text(f"{needed}\n")
    except OSError as error:  # e.g. a read-only /proc/sys: the lab's 7 hosts fit in 128
        log(f"lab: fs.inotify.max_user_instances not raised to {needed} ({error.strerror}); "
            "booting many hosts may fail with 'Too many open files'")
        return
    log(f"lab: fs.inotify.max_user_instances {current} -> {needed} ({hosts} hosts)")


def wait_ready(host: LabHost, pid: int, deadline: float) -> None:
    while True:
        if ssh.ssh_true(host):
            return
        if not pid_alive(pid):
            raise LabError(f"{host.name}: systemd-nspawn exited during boot; "
                           f"console tail: {tail(console_log(host))}")
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: did not answer SSH in time; "
                           f"console tail: {tail(console_log(host))}")
        time.sleep(0.1)

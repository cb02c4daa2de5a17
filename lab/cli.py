"""python -m lab up [--scale N]|down|status|reset NAME|stop NAME|root-login on|off"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import acme, base, disk, machine, net, paths, ssh, sudo
from .hosts import EVERY_HOST, LAB_HOSTS, SCALE_HOSTS, LabHost, get_host, scale_hosts
from .util import LabError, ensure_sbin_path, run_together

LOCK_TIMEOUT = 600.0


def log(msg: str) -> None:
    print(msg, flush=True)


class Lock:
    """One lab command at a time (up/down/stop/reset change shared system state)."""

    def __enter__(self):
        path = paths.lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "w")
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"another lab command holds {path}") from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def present() -> list[LabHost]:
    """The lab's hosts and the scale hosts that have a disk."""
    return [*LAB_HOSTS, *(h for h in SCALE_HOSTS if machine.hdir(h).is_dir())]


def select(names: list[str], scale: int = 0) -> list[LabHost]:
    """The hosts named (every present host when none is), plus the first `scale` scale hosts."""
    try:
        picked = {get_host(n) for n in names} if names else set(present())
        picked |= set(scale_hosts(scale))
    except (KeyError, ValueError) as exc:
        raise LabError(exc.args[0]) from None
    return [h for h in EVERY_HOST if h in picked]


def parallel(fn, hosts: list[LabHost]) -> list[str]:
    """Run fn(host) for each host in parallel; return 'name: error' lines."""
    return run_together(hosts, fn, name=lambda h: h.name)


def prepare_controller() -> None:
    paths.state_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(paths.state_dir(), 0o755)
    if not disk.attached():
        earlier = [h for h in present() if machine.hdir(h).is_dir()]
        if earlier:
            log("lab: the hosts move to a file system of their own (lab/disk.py): removing "
                f"{' '.join(h.name for h in earlier)}")
            errors = parallel(machine.remove, earlier)
            if errors:
                raise LabError("\n".join(errors))
        disk.attach(log)
    base.ensure_prerequisites()
    ssh.ensure_key()
    ssh.write_ssh_config()


def made_for_another_checkout() -> str | None:
    """The checkout the existing hosts were made for, when it is not this one.

    The hosts' disks hold what a deploy put there (certificates of a private CA, generated
    users): a deploy from another checkout, which lacks that CA and those passwords, is rightly
    refused as a new controller. A lab is disposable, so `up` from another checkout (a CI clone
    of a machine that kept the disks) starts from fresh hosts instead.
    """
    if all(machine.status(h).state == "absent" for h in present()):
        return None
    try:
        owner = paths.owner_path().read_text().strip()
    except FileNotFoundError:
        owner = ""
    return None if owner == paths.checkout_identity() else (owner or "an unknown checkout")


def cmd_up(hosts: list[LabHost], rebuild_base: bool = False) -> None:
    started = time.monotonic()
    prepare_controller()
    other = made_for_another_checkout()
    if other:
        log(f"lab: the hosts were made for {other}, not {paths.checkout_identity()}: "
            "removing them so this checkout's deploys start from fresh hosts")
        cmd_down(present())
    paths.owner_path().write_text(paths.checkout_identity() + "\n")
    # already up and answering: leave alone
    up = {h for h in hosts if machine.running_pid(h) is not None}
    answering = set()
    if up:
        net.ensure_bridge()
        for h in up:
            net.attach(h)
        # a run killed in sudo mode must not strand this one
        errors = parallel(lambda h: sudo.set_root_login(h, machine.root_dir(h), True),
                          [h for h in up if sudo.root_login_refused(machine.root_dir(h))])
        if errors:
            raise LabError("\n".join(errors))
        ordered = [h for h in hosts if h in up]
        with ThreadPoolExecutor(max_workers=len(ordered)) as pool:
            answers = list(pool.map(ssh.ssh_true, ordered))
        answering = {h for h, ok in zip(ordered, answers, strict=True) if ok}
        for h in answering:
            machine.refresh_hosts_file(h)
    if rebuild_base:
        busy = [h.name for h in present()
                if machine.is_mounted(machine.root_dir(h))]
        if busy:
            raise LabError(f"--rebuild-base: hosts {', '.join(busy)} are running on the "
                           "current base; run `python -m lab down` first")
    to_boot = [h for h in hosts if h not in up]
    to_wait = [h for h in hosts if h in up and h not in answering]
    if to_boot or rebuild_base:
        base.ensure_bases({h.suite for h in (to_boot or hosts)}, rebuild=rebuild_base, log=log)
    booting = time.monotonic()  # the bases' own lines gave their seconds
    # the lab's own stale ControlMaster sockets (hosts not up) must not break ssh
    for h in present():
        if h not in up and h not in to_boot and machine.status(h).state != "up":
            ssh.close_master(h)
    pids: dict[LabHost, int] = {}
    if to_boot:
        net.ensure_bridge()
        machine.ensure_inotify_instances(len({*up, *to_boot}), log)

        def start(h: LabHost) -> None:
            pids[h] = machine.start(h)

        errors = parallel(start, to_boot)
    else:
        errors = []
    # host keys are in place now: known_hosts before the first connection
    ssh.write_known_hosts()
    for h in to_wait:
        pids[h] = machine.running_pid(h) or 0
    deadline = time.monotonic() + machine.ready_timeout(len(to_boot) + len(to_wait))
    waiting = [h for h in to_boot + to_wait if h in pids]
    errors += parallel(lambda h: machine.wait_ready(h, pids[h], deadline), waiting)
    if errors:
        raise LabError("\n".join(errors))
    if acme.acme_host() in hosts:  # Pebble's root and DNS records go when it restarts
        acme.save_root()
        acme.publish_lab_names()
    now = time.monotonic()
    booted = " ".join(h.name for h in to_boot) or "none"
    already = " ".join(h.name for h in hosts if h in answering) or "none"
    log(f"lab: {len(hosts)} hosts up in {now - booting:.1f} s, {now - started:.1f} s in all "
        f"(booted: {booted}; already up: {already}); ssh -F {paths.ssh_config_path()} "
        "NAME.lab.test")


def cmd_root_login(hosts: list[LabHost], allowed: bool) -> None:
    down = [h.name for h in hosts if machine.running_pid(h) is None]
    if down:
        raise LabError(f"not running: {' '.join(down)} (python -m lab up)")
    errors = parallel(lambda h: sudo.set_root_login(h, machine.root_dir(h), allowed), hosts)
    if errors:
        raise LabError("\n".join(errors))
    log(f"lab: root {'may' if allowed else 'may not'} sign in over SSH on "
        f"{' '.join(h.name for h in hosts)} (the deploy user: {sudo.DEPLOY_USER}, with sudo)")


def any_running() -> bool:
    return any(machine.running_pid(h) is not None for h in present())


def cmd_down(hosts: list[LabHost], keep: bool = False) -> None:
    started = time.monotonic()
    fn = machine.cleanup_runtime if keep else machine.remove
    errors = parallel(fn, hosts)
    if paths.state_dir().exists():
        ssh.write_known_hosts()
    if not any_running():
        net.remove_bridge()
    if errors:
        raise LabError("\n".join(errors))
    if not keep and not any(machine.hdir(h).is_dir() for h in present()):
        disk.detach()
    verb = "stopped" if keep else "removed"
    log(f"lab: {verb} {' '.join(h.name for h in hosts)} in {time.monotonic() - started:.1f} s")


def cmd_status() -> None:
    rows = [("NAME", "FQDN", "SUITE", "ADDRESS", "STATE", "PID", "SSH")]
    statuses = [machine.status(h) for h in present()]
    up = [s.host for s in statuses if s.state == "up"]
    oks = {}
    if up and paths.ssh_config_path().exists():
        with ThreadPoolExecutor(max_workers=len(up)) as pool:
            oks = dict(zip(up, pool.map(lambda h: ssh.ssh_true(h, 2), up), strict=True))
    for s in statuses:
        ssh_col = ("ok" if oks.get(s.host) else "no") if s.state == "up" else "-"
        rows.append((s.host.name, s.host.fqdn, s.host.suite, s.host.address, s.state,
                     str(s.pid) if s.pid else "-", ssh_col))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for s in statuses:
        if s.state == "stale":
            print(f"{s.host.name}: stale ({', '.join(s.leftovers)}); `python -m lab up` "
                  "recovers it")
    print(f"state: {paths.state_dir()}  cache: {paths.cache_dir()}  "
          f"ssh config: {paths.ssh_config_path()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab",
                                     description="Disposable systemd-booted Debian lab hosts.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="boot lab hosts (all by default); no-op for running ones")
    p_up.add_argument("names", nargs="*")
    p_up.add_argument("--scale", type=int, default=0, metavar="N",
                      help=f"also boot the scale hosts scale1..scaleN (N <= {len(SCALE_HOSTS)}; "
                      "inventory/lab_scale.py)")
    p_up.add_argument("--rebuild-base", action="store_true",
                      help="rebuild the base image(s) (mmdebstrap) first")
    p_down = sub.add_parser("down", help="power off and DELETE hosts (all by default)")
    p_down.add_argument("names", nargs="*")
    sub.add_parser("status", help="table of the lab hosts")
    p_reset = sub.add_parser("reset", help="down + up: a fresh host")
    p_reset.add_argument("names", nargs="+")
    p_stop = sub.add_parser("stop", help="power off but keep the host's disk (upper dir)")
    p_stop.add_argument("names", nargs="+")
    p_root = sub.add_parser("root-login", help="let root sign in over SSH (on) or refuse it "
                            "(off: deploys go through the deploy user's sudo)")
    p_root.add_argument("allowed", choices=("on", "off"))
    p_root.add_argument("names", nargs="*")
    args = parser.parse_args(argv)

    ensure_sbin_path()
    if os.geteuid() != 0:
        print("lab: must run as root (mounts, namespaces, nspawn)", file=sys.stderr)
        return 1
    try:
        if disk.image().exists() and not disk.attached():  # after the machine restarted
            with Lock():
                disk.attach(log)
        hosts = select(getattr(args, "names", []), getattr(args, "scale", 0))
        if args.cmd == "status":
            cmd_status()
            return 0
        with Lock():
            if args.cmd == "up":
                cmd_up(hosts, rebuild_base=args.rebuild_base)
            elif args.cmd == "down":
                cmd_down(hosts)
            elif args.cmd == "stop":
                cmd_down(hosts, keep=True)
            elif args.cmd == "root-login":
                cmd_root_login(hosts, args.allowed == "on")
            elif args.cmd == "reset":
                cmd_down(hosts)
                cmd_up(hosts)
    except LabError as exc:
        for line in str(exc).splitlines():
            print(f"lab: {line}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `python -m lab status | head`
        return 0
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    return 0

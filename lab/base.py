"""Controller prerequisites and the cached, customised Debian base image per suite."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from . import paths
from .hosts import LAB_HOSTS
from .util import LabError, pid_alive, run_together, safe_rmtree, tail, write_atomic

# Bump when customise(), the bootstrap or the layout changes: a new key means a new base.
# 5: built by mmdebstrap (debootstrap before), with zstd. 6: R and Rserve on bookworm.
BASE_FORMAT = 6

PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv", "sudo",
    "ca-certificates", "iproute2", "curl", "openssl", "procps",
    # the finished virtualenvs shipped to TabPy servers are zstd-compressed tars
    "zstd",
    # the TabPy pool's balancer (HAProxy, its runtime API through socat, keepalived for VRRP)
    "haproxy", "socat", "keepalived",
    # the TabPy servers' fence (an nftables table of tabpy-provision's own)
    "nftables",
)

# Per suite: Pebble, the lab's ACME server (lab/acme.py), and Debian's R, Rserve and R's
# openssl for rserve1 (rserve/deploy.py PACKAGES): both run on bookworm hosts.
SUITE_PACKAGES = {"bookworm": ("pebble", "r-base-core", "r-cran-rserve", "r-cran-openssl")}


def packages(suite: str) -> tuple[str, ...]:
    return (*PACKAGES, *SUITE_PACKAGES.get(suite, ()))


# Installed in the base but started only by a deploy that configures them.
DISABLED_UNITS = ("haproxy.service", "keepalived.service")

SUITES = tuple(sorted({h.suite for h in LAB_HOSTS}))

# controller command (or the absolute path of a file the package installs) -> Debian package
PREREQUISITES = {
    "mmdebstrap": "mmdebstrap",
    "systemd-nspawn": "systemd-container",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "openssl": "openssl",  # the certificate report and the tests read served chains with it
    "nft": "nftables",  # the unit tests check the fence's rulesets with `nft -c`
    # The TLS tests: each listener scanned as an auditor would, and HAProxy's configs checked
    # by `haproxy -c` in the unit tests (Debian starts it with its own config: no listener).
    "testssl": "testssl.sh",
    "haproxy": "haproxy",
    # The Rserve tests run Debian's Rserve: `R CMD` runs its binary, which is not on PATH;
    # its login function (templates/etc/rserve/auth.R.j2) needs R's openssl package.
    "R": "r-base-core",
    "/usr/lib/R/site-library/Rserve/libs/Rserve": "r-cran-rserve",
    "/usr/lib/R/site-library/openssl/R/openssl": "r-cran-openssl",
}


def _present(prerequisite: str) -> bool:
    """A command on PATH, or a file given by its absolute path (not necessarily executable:
    an R package's files are not)."""
    if prerequisite.startswith("/"):
        return os.path.exists(prerequisite)
    return shutil.which(prerequisite) is not None

# Units that slow the boot, do pointless work in a throwaway host, or reach out.
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily.service",
    "apt-daily-upgrade.timer", "apt-daily-upgrade.service",
    "dpkg-db-backup.timer", "dpkg-db-backup.service",
    "e2scrub_all.timer", "e2scrub_all.service", "e2scrub_reap.service",
    "fstrim.timer", "fstrim.service",
    "man-db.timer", "man-db.service",
    "systemd-timesyncd.service",
    "systemd-pstore.service",
    "console-getty.service",
)

SSHD_DROPIN = """\
# tabpy-provision lab: no DNS look-ups, key-only root login
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
"""

_apt_updated = False


def ensure_prerequisites() -> None:
    """Install the controller tools the lab needs when any is missing (fresh CI machine)."""
    global _apt_updated
    missing = sorted({pkg for cmd, pkg in PREREQUISITES.items() if not _present(cmd)})
    if not missing:
        return
    started = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        _apt(["apt-get", "update"], env)
        _apt_updated = True
    _apt(["apt-get", "install", "-y", "--no-install-recommends",
          *sorted(set(PREREQUISITES.values()))], env)
    still = [cmd for cmd in PREREQUISITES if not _present(cmd)]
    if still:
        raise LabError(f"prerequisites still missing after apt-get install: {', '.join(still)}")
    print(f"lab: controller prerequisites ({', '.join(missing)}) installed in "
          f"{time.monotonic() - started:.1f} s", flush=True)


def _apt(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise LabError(f"{' '.join(cmd)} failed: {' '.join(last)}")


def debian_mirror() -> str:
    """The mirror apt already uses on the controller (never an invented one)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for stanza in re.split(r"\n\s*\n", sources.read_text()):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
            uris = fields.get("uris", "").split()
            suites = fields.get("suites", "").split()
            if "deb" not in fields.get("types", "deb").split():
                continue
            if uris and any(not s.endswith("-security") for s in suites or ["x"]):
                return uris[0].rstrip("/")
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                idx = 1
                while idx < len(parts) and parts[idx].startswith("["):
                    while idx < len(parts) and not parts[idx].endswith("]"):
                        idx += 1
                    idx += 1
                if idx + 1 < len(parts) and not parts[idx + 1].endswith("-security"):
                    return parts[idx].rstrip("/")
    raise LabError("no Debian mirror found in /etc/apt/sources.list.d/debian.sources "
                   "or /etc/apt/sources.list")


def base_key(suite: str) -> str:
    blob = json.dumps({"suite": suite, "packages": sorted(packages(suite)), "format": BASE_FORMAT},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def base_dir(suite: str) -> Path:
    return paths.base_cache_dir() / f"{suite}-{base_key(suite)}"


def base_rootfs(suite: str) -> Path:
    return base_dir(suite) / "rootfs"


def base_ready(suite: str) -> bool:
    d = base_dir(suite)
    return (d / "base.json").is_file() and (d / "rootfs" / "usr" / "bin").is_dir()


def _clean_leftovers() -> None:
    """Remove half-built bases of dead earlier runs (named .build-*-PID / .old-*-PID)."""
    root = paths.base_cache_dir()
    if not root.is_dir():
        return
    for entry in root.iterdir():
        m = re.fullmatch(r"\.(build|old)-.+-(\d+)", entry.name)
        if m and entry.is_dir() and not pid_alive(int(m.group(2))):
            safe_rmtree(entry)


# dpkg's own setting, written by mmdebstrap to etc/dpkg/dpkg.cfg.d/99mmdebstrap
UNSAFE_IO = "force-unsafe-io"
# /usr merged as debootstrap does it, with usr-is-merged (apt alone would pick the usrmerge
# conversion package and perl with it on bookworm)
MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr"


def bootstrap_command(suite: str, rootfs: Path, mirror: str) -> list[str]:
    """mmdebstrap's command line for a base: what `debootstrap --variant=minbase --include=...`
    made, as root and chrooted like debootstrap (--mode=root), into a directory.

    dpkg skips its fsync per unpacked file (force-unsafe-io; build_base syncs the finished tree
    once before it is put in place), and the setting is removed from the tree by customise().
    """
    return ["mmdebstrap", "--mode=root", "--format=directory", "--variant=minbase",
            f"--include={','.join(packages(suite))}", f"--hook-dir={MERGED_USR_HOOKS}",
            f"--dpkgopt={UNSAFE_IO}", suite, str(rootfs), mirror]


def build_base(suite: str, log=print) -> Path:
    """mmdebstrap + customise into a temp dir, then rename into place."""
    mirror = debian_mirror()
    root = paths.base_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = base_dir(suite)
    tmp = root / f".build-{final.name}-{os.getpid()}"
    if tmp.exists():
        safe_rmtree(tmp)
    tmp.mkdir()
    logfile = log_path(suite)
    cmd = bootstrap_command(suite, tmp / "rootfs", mirror)
    started = time.monotonic()
    try:
        with open(logfile, "w") as fh:
            fh.write(" ".join(cmd) + "\n")
            fh.flush()
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh,
                                  stderr=subprocess.STDOUT, timeout=1800)
        if proc.returncode != 0:
            raise LabError(f"mmdebstrap {suite} failed (exit {proc.returncode}); "
                           f"log tail: {tail(logfile, 3)}")
        customise(tmp / "rootfs")
        os.sync()  # dpkg wrote without fsync: on disk before the base counts as built
        meta = {"suite": suite, "packages": list(packages(suite)), "format": BASE_FORMAT,
                "mirror": mirror, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.monotonic() - started, 1)}
        write_atomic(tmp / "base.json", json.dumps(meta, indent=2) + "\n")
        if final.exists():
            old = root / f".old-{final.name}-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            safe_rmtree(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        safe_rmtree(tmp)
        raise
    log(f"lab: base {suite} built in {time.monotonic() - started:.1f} s")
    return final


def log_path(suite: str) -> Path:
    return paths.base_cache_dir() / f"{base_dir(suite).name}.log"


def _referenced_bases() -> set[str]:
    """Bases recorded by a lab host (its upper dir sits on that base) or mounted."""
    refs = set()
    if paths.hosts_dir().is_dir():
        for state in paths.hosts_dir().glob("*/state.json"):
            try:
                refs.add(str(Path(json.loads(state.read_text())["base"]).parent))
            except (OSError, ValueError, KeyError):
                continue
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            for opt in line.split(" - ", 1)[-1].split()[-1].split(","):
                if opt.startswith("lowerdir="):
                    refs.add(str(Path(opt[len("lowerdir="):]).parent))
    return refs


def _prune_old_bases() -> None:
    """Remove bases of an older format or package list that no lab host still uses."""
    root = paths.base_cache_dir()
    if not root.is_dir():
        return
    current = {base_dir(s).name for s in SUITES}
    refs = _referenced_bases()
    for entry in root.iterdir():
        if (re.fullmatch(r"[a-z]+-[0-9a-f]{12}", entry.name) and entry.is_dir()
                and entry.name not in current and str(entry) not in refs):
            safe_rmtree(entry)
            (root / f"{entry.name}.log").unlink(missing_ok=True)


def ensure_bases(suites: set[str], rebuild: bool = False, log=print, build=None) -> None:
    """Build the missing (or, with rebuild, all requested) bases, all at the same time.

    `build(suite, log)` builds one (build_base; the unit tests pass a fake). Every build runs
    to its end; the errors of all are raised together, one line per suite.
    """
    build = build or build_base
    _clean_leftovers()
    _prune_old_bases()
    todo = sorted(s for s in suites if rebuild or not base_ready(s))
    if not todo:
        return
    log(f"lab: building base images {', '.join(todo)} with mmdebstrap (1-2 min; logs "
        f"{paths.base_cache_dir()}/SUITE-*.log)")
    errors = run_together(todo, lambda suite: build(suite, log))
    if errors:
        raise LabError("\n".join(errors))


def customise(rootfs: Path) -> None:
    """One-time changes to a fresh mmdebstrap tree, shared by every host of that suite."""
    etc = rootfs / "etc"
    # dpkg in the hosts writes safely again (the build's force-unsafe-io goes)
    (etc / "dpkg" / "dpkg.cfg.d" / "99mmdebstrap").unlink(missing_ok=True)
    # sshd: no DNS, key-only root
    write_atomic(etc / "ssh" / "sshd_config.d" / "tabpy-lab.conf", SSHD_DROPIN)
    # host keys are made per host
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    # machine-id is made per host; dbus reads /etc/machine-id
    write_atomic(etc / "machine-id", "", 0o444)
    dbus_id = rootfs / "var" / "lib" / "dbus" / "machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
        dbus_id.symlink_to("/etc/machine-id")
    # no DNS: an empty resolv.conf (mmdebstrap copied the controller's)
    resolv = etc / "resolv.conf"
    if resolv.exists() or resolv.is_symlink():
        resolv.unlink()
    write_atomic(resolv, "")
    write_atomic(etc / "hostname", "localhost\n")
    # pam_env reads it for every SSH session (and warns when it is missing)
    write_atomic(etc / "default" / "locale", "LANG=C.UTF-8\n")
    write_atomic(etc / "hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
    # mask units that slow the boot or reach out
    unit_dirs = [rootfs / "lib/systemd/system", rootfs / "usr/lib/systemd/system"]
    for unit in MASKED_UNITS:
        if any((d / unit).exists() for d in unit_dirs):
            link = etc / "systemd" / "system" / unit
            if link.exists() or link.is_symlink():
                link.unlink()
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/dev/null")
    # (links point into the host's root: test the link itself, not what it resolves to here)
    for wants in (etc / "systemd" / "system").glob("*.wants"):
        for unit in DISABLED_UNITS:
            if (wants / unit).is_symlink():
                (wants / unit).unlink()
    # apt caches are not needed in every host (mmdebstrap removes them already)
    for leftover in (rootfs / "var" / "cache" / "apt").glob("*.bin"):
        leftover.unlink()

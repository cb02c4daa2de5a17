"""Runs ON a lab host, as root (`sudo python3 - < this file`, then needles on stdin): watches
every writable place with inotify and reports, on stdout as one JSON object once stdin closes,
every file another user could read that held a secret's bytes at some moment.

Needles: one per stdin line (hex of the bytes), known secrets (passwords, password-file hashes,
key lines), then a line `GO`; the watch ends when stdin closes. Patterns catch secrets the
needles cannot know (a key or password file made during the watch: PEM private keys, TabPy
password-file lines).
stdlib only (the lab hosts have only Debian's python3).
"""

import ctypes
import json
import os
import re
import select
import stat
import struct
import sys
import time

ROOTS = ["/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/etc", "/opt", "/var/lib",
         "/var/cache", "/var/backups", "/usr/local", "/srv", "/run"]
# Trees too big to watch that hold no secret: a virtualenv's packages, apt's and dpkg's data;
# and the Tableau stand-ins' state (lab/tableau.py), which keeps the TabPy password Tableau was
# given in the clear for the tests to compare (Tableau itself keeps it encrypted): not ours.
SKIP = re.compile(r"/(site-packages|__pycache__|dpkg|apt|systemd/deb-systemd|venvs/[^/]+/lib|"
                  r"var/lib/tableau-standin)(/|$)")
PATTERNS = [re.compile(rb"-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----"),
            re.compile(rb"^[A-Za-z0-9_.-]+ [0-9a-f]{128}$", re.M)]
# Groups a secret's file may legitimately be readable by (the services that need it).
SERVICE_GROUPS = {"root", "tabpy", "haproxy", "keepalived"}

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x4, 0x8, 0x80, 0x100
IN_ISDIR, IN_Q_OVERFLOW = 0x40000000, 0x4000
MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE

libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
watches = {}


def watch_tree(top):
    for folder, dirs, _ in os.walk(top):
        if SKIP.search(folder):
            dirs[:] = []
            continue
        wd = libc.inotify_add_watch(fd, folder.encode(), MASK)
        if wd >= 0:
            watches[wd] = folder


def group_name(gid):
    try:
        import grp
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def readable_by_others(path):
    """Whether a user other than root and the services' accounts could read `path` now."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        return False
    world = bool(info.st_mode & stat.S_IROTH)
    group = bool(info.st_mode & stat.S_IRGRP) and group_name(info.st_gid) not in SERVICE_GROUPS
    owner = info.st_uid != 0 and group_name(info.st_gid) not in SERVICE_GROUPS
    if not (world or group or owner):
        return False
    folder = os.path.dirname(path)
    while folder not in ("/", ""):  # every folder above must let that user through
        mode = os.stat(folder).st_mode
        if not (mode & stat.S_IXOTH) and not owner:
            return False
        folder = os.path.dirname(folder)
    return True


needles = []
report = {"files_seen": 0, "readable_files_seen": 0, "events": 0, "overflows": 0,
          "watched_folders": 0, "hits": []}


def inspect(path):
    report["files_seen"] += 1
    try:
        if not readable_by_others(path):
            return
        report["readable_files_seen"] += 1
        with open(path, "rb") as handle:
            content = handle.read(16 << 20)
    except OSError:
        return
    found = [n.hex()[:12] for n in needles if n in content]
    found += [p.pattern.decode()[:30] for p in PATTERNS if p.search(content)]
    if found:
        try:
            info = os.lstat(path)
            mode, uid, gid = oct(info.st_mode & 0o7777), info.st_uid, info.st_gid
        except OSError:  # gone since it was read (a temporary file renamed): still a hit
            mode = uid = gid = None
        report["hits"].append({"path": path, "mode": mode, "uid": uid, "gid": gid,
                               "found": found, "at": time.time()})


for line in iter(sys.stdin.buffer.readline, b""):
    if line.strip() == b"GO":
        break
    needles.append(bytes.fromhex(line.strip().decode()))
for root in ROOTS:
    if os.path.isdir(root):
        watch_tree(root)
report["watched_folders"] = len(watches)
report["needles"] = len(needles)
print("READY", flush=True)

while True:
    readable, _, _ = select.select([fd, 0], [], [], 1.0)
    if 0 in readable and not os.read(0, 4096):
        break
    if fd not in readable:
        continue
    try:
        data = os.read(fd, 1 << 20)
    except BlockingIOError:
        continue
    offset = 0
    while offset < len(data):
        wd, mask, _, size = struct.unpack_from("iIII", data, offset)
        name = data[offset + 16:offset + 16 + size].rstrip(b"\0").decode(errors="replace")
        offset += 16 + size
        report["events"] += 1
        if mask & IN_Q_OVERFLOW:
            report["overflows"] += 1
            continue
        folder = watches.get(wd)
        if folder is None or not name:
            continue
        path = os.path.join(folder, name)
        if mask & IN_ISDIR:
            if mask & (IN_CREATE | IN_MOVED_TO) and not SKIP.search(path):
                watch_tree(path)
                for sub, _, names in os.walk(path):  # files made before the watch was added
                    for each in names:
                        inspect(os.path.join(sub, each))
            continue
        inspect(path)
report["watched_folders"] = len(watches)
print(json.dumps(report), flush=True)

"""Small stdlib helpers: commands, mounts, processes, files."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LabError(Exception):
    """An error to report as one line on stderr."""


def ensure_sbin_path() -> None:
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(":")
    for d in SBIN_DIRS:
        if d not in parts:
            parts.append(d)
    os.environ["PATH"] = ":".join(parts)


def run(cmd: Sequence[str], *, check: bool = True, timeout: float | None = 120,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, raise LabError with its stderr on failure."""
    try:
        feed = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **feed)
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout} s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit {proc.returncode}"
        raise LabError(f"{' '.join(cmd)}: {last}")
    return proc


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _unescape_mount(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [_unescape_mount(line.split()[4]) for line in fh if line.strip()]


def is_mounted(path: Path) -> bool:
    return str(path) in mount_points()


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    p = str(path).rstrip("/")
    found = [m for m in mount_points() if m == p or m.startswith(p + "/")]
    return sorted(set(found), key=len, reverse=True)


def umount(path: Path, attempts: int = 20) -> None:
    """Unmount one exact mount point (all stacked mounts on it), lazily as last resort."""
    for _ in range(attempts):
        if not is_mounted(path):
            return
        proc = run(["umount", str(path)], check=False)
        if proc.returncode != 0:
            time.sleep(0.1)
    while is_mounted(path):
        run(["umount", "--lazy", str(path)])


def safe_rmtree(path: Path) -> None:
    """Remove a tree that the lab made: unmount anything below it first, never cross a
    filesystem boundary (a left-over bind mount must not take host files with it)."""
    if not path.exists() and not path.is_symlink():
        return
    for m in mounts_under(path):
        umount(Path(m))
    if mounts_under(path):
        raise LabError(f"refusing to remove {path}: something is still mounted below it")
    root_dev = os.lstat(path).st_dev

    def onerror(func, p, exc_info):  # pragma: no cover - reported as LabError
        raise LabError(f"cannot remove {p}: {exc_info[1]}")

    # os.walk bottom-up; check devices before deleting anything
    for dirpath, dirnames, _filenames in os.walk(path, topdown=True):
        for d in list(dirnames):
            st = os.lstat(os.path.join(dirpath, d))
            if stat.S_ISDIR(st.st_mode) and st.st_dev != root_dev:
                raise LabError(f"refusing to remove {path}: {dirpath}/{d} is another filesystem")
    shutil.rmtree(path, onerror=onerror)


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        time.sleep(0.05)
    return not pid_alive(pid)


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # systemd's colours
    rows = [r.strip() for r in text.replace("\r", "\n").splitlines() if r.strip()]
    return " | ".join(rows[-lines:]) or "(console log empty)"


def run_together(items: Sequence, fn, name=str) -> list[str]:
    """fn(item) for every item, each in a thread of its own, every one to its end: one
    'NAME: error' line per item that failed (a LabError, an OSError or a subprocess's error)."""
    errors = []
    if not items:
        return errors
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = {item: pool.submit(fn, item) for item in items}
        for item, future in futures.items():
            try:
                future.result()
            except (LabError, OSError, subprocess.SubprocessError) as exc:
                msg, label = str(exc), name(item)
                errors.append(msg if msg.startswith(f"{label}:") else f"{label}: {msg}")
    return errors

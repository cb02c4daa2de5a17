"""The lab hosts' disk: an ext4 file system of their own, a sparse image on a loop device
mounted at the hosts' folder without online discard.

Why: this machine's root file system is mounted with `discard`. There, files created soon after
others were deleted - what every deploy does: a release replaced, a virtualenv unpacked, a work
folder removed - took 5 to 12 times longer than on a fresh folder while ext4 looked for blocks
not yet discarded (GNU tar unpacking TabPy's 19,000-file virtualenv: 1.0 s, then 6 to 12 s after
a removal, nearly all of it system time). Servers trim on a timer (Debian's fstrim.timer), not
online. On this file system the same unpack takes 1.0 s every time.
"""

from __future__ import annotations

from pathlib import Path

from . import paths
from .util import LabError, is_mounted, run, umount

#: Sparse: only the blocks the hosts write take room on the controller's disk.
IMAGE_BYTES = 512 * 2**30


def image() -> Path:
    return paths.state_dir() / "hosts.ext4"


def attached() -> bool:
    return is_mounted(paths.hosts_dir())


def attach(log) -> None:
    """Mount the hosts' file system at the hosts' folder, made first when there is none. The
    folder must be empty (hosts made on the controller's own disk before are removed first)."""
    folder = paths.hosts_dir()
    if attached():
        return
    folder.mkdir(parents=True, exist_ok=True)
    if _entries(folder):
        raise LabError(f"{folder} is not empty: cannot mount the hosts' file system over it")
    if not image().exists():
        with open(image(), "wb") as sparse:
            sparse.truncate(IMAGE_BYTES)
        made = run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "tplab-hosts", "-E",
                    "nodiscard,lazy_itable_init=1,lazy_journal_init=1", str(image())],
                   check=False)
        if made.returncode != 0:
            image().unlink(missing_ok=True)
            raise LabError(f"mkfs.ext4 {image()} failed: {made.stderr.strip()}")
        log(f"lab: the hosts' file system: {image()} (sparse, ext4, mounted without discard)")
    mounted = run(["mount", "-o", "loop,nodiscard,noatime", str(image()), str(folder)],
                  check=False)
    if mounted.returncode != 0:
        raise LabError(f"mounting {image()} on {folder} failed: {mounted.stderr.strip()}")


def detach() -> None:
    """Unmount the hosts' file system and delete its image (no host may be left on it)."""
    folder = paths.hosts_dir()
    if attached():
        if _entries(folder):
            raise LabError(f"{folder} still holds hosts: not unmounting it")
        umount(folder)
    image().unlink(missing_ok=True)


def _entries(folder: Path) -> list[str]:
    """What the folder holds but ext4's own lost+found."""
    return [entry.name for entry in folder.iterdir() if entry.name != "lost+found"]

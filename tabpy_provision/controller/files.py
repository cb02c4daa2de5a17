"""Files on the controller: every private file (keys, generated passwords) goes through here.

Writes are staged (`Staged`): kept in memory and read back by later reads of the same run (the
second host's plan sees the CA the first one would create), so planning the whole site changes
nothing on disk. `changes()` lists what would be done, `apply()` does it and says what it did
(in the past tense): a real run calls it once every check of every host passed; `--dry` and the
reports never do. Commands that exist to change the controller (CA rotation, restoring its
state) stage and apply in one go (`writing(None)`).

Private files are 0600, written atomically (temporary file in the same folder, fsync, rename).
The folders a write creates are 0700; one that exists keeps its mode (a backup written to /tmp
once made /tmp 0700), and the project's own folders (pki_dir, secrets_dir, backup_dir) are
tightened to 0700 by `private_folders`. A folder that does not exist yet is built aside and
renamed into place, so an interrupted first run never leaves half a CA.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tabpy_provision.settings.errors import ProvisionError

DIR_MODE = 0o700
FILE_MODE = 0o600
#: What the names of temporary files and folders start with, and nothing kept does (no user
#: name may either): an interrupted write's leftovers are known by it.
TEMPORARY_PREFIX = "."


def site_folder() -> Path:
    """The site's folder, where its commands run (`tabpy-provision init` makes one; this
    repository is the lab's): relative controller paths of the inventory (pki_dir,
    secrets_dir, backup_dir, ...) are read from here, never from where the tool is installed."""
    return Path.cwd()


def project_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else site_folder() / path


class ControllerFileError(ProvisionError):
    """A controller file that cannot be read or written; the message names it."""


#: The past tense of the verbs a change starts with that do not take -d or -ed.
_IRREGULAR_PAST = {"build": "built", "keep": "kept", "make": "made", "rewrite": "rewrote",
                   "write": "wrote"}


@dataclass(frozen=True)
class Change:
    """One thing a run does to the controller: `what` starts with its verb ("create a new
    private CA in ..."), said as `would <what>` while the run plans and as `done` once
    applied, so no line claims a write that did not happen."""
    what: str
    path: Path | None = None

    @property
    def done(self) -> str:
        verb, _, rest = self.what.partition(" ")
        past = _IRREGULAR_PAST.get(verb) or f"{verb}{'d' if verb.endswith('e') else 'ed'}"
        return f"{past} {rest}".rstrip()


class Staged:
    """The controller's files as a run sees them: on disk, overlaid with what it staged."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[bytes | None, int]] = {}  # None: removed
        self._steps: list[tuple[Change, Callable[[], None] | None]] = []
        #: Staged values of stores that are not files (Vault secrets), by location.
        self.values: dict[str, dict] = {}

    def read(self, path: Path, limit: int | None = None) -> bytes | None:
        """The staged or stored bytes of a regular file (None: absent); `limit`: at most so
        many bytes, a larger file is refused (read_regular)."""
        path = Path(path)
        if path in self._files:
            return self._files[path][0]
        try:
            return read_regular(path, limit)[0]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ControllerFileError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def exists(self, path: Path) -> bool:
        path = Path(path)
        if path in self._files:
            return self._files[path][0] is not None
        if any(path in staged.parents for staged, (data, _) in self._files.items() if data):
            return True
        return path.exists()

    def glob(self, folder: Path, pattern: str) -> list[Path]:
        folder = Path(folder)
        found = set(folder.glob(pattern))
        for path, (data, _) in self._files.items():
            if path.parent == folder and fnmatch.fnmatch(path.name, pattern):
                (found.add if data is not None else found.discard)(path)
        return sorted(found)

    def write_private(self, path: Path, data: bytes, what: str) -> None:
        self._stage(Path(path), bytes(data), FILE_MODE, what)

    def write_public(self, path: Path, data: bytes, what: str) -> None:
        self._stage(Path(path), bytes(data), 0o644, what)

    def remove(self, path: Path, what: str) -> None:
        self._stage(Path(path), None, 0, what)

    def _stage(self, path: Path, data: bytes | None, mode: int, what: str) -> None:
        self._files[path] = (data, mode)
        self._steps.append((Change(what, path), None))

    def tighten(self, path: Path) -> None:
        """An existing private file more open than 0600 (e.g. copied by hand) becomes 0600."""
        with suppress(FileNotFoundError):
            if stat.S_IMODE(Path(path).stat().st_mode) != FILE_MODE:
                self.action(f"make {path} private (0600)", lambda: _chmod(Path(path), FILE_MODE))

    def private_folders(self, *folders: Path) -> None:
        """Existing folders more open than 0700 become 0700 (new ones are made 0700)."""
        for folder in map(Path, folders):
            with suppress(FileNotFoundError):
                if folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) != DIR_MODE:
                    self.action(f"make {folder} private (0700)",
                                lambda folder=folder: _chmod(folder, DIR_MODE))

    def action(self, what: str, apply: Callable[[], None]) -> None:
        """Something other than a file (a Vault write, a wheelhouse build)."""
        self._steps.append((Change(what), apply))

    def changes(self) -> list[str]:
        """What `apply()` would do, each once, in order (never a secret: only names)."""
        return list(dict.fromkeys(change.what for change, _ in self._steps))

    def apply(self) -> list[str]:
        """Do every staged change, files in the order they were staged (keys before the
        certificates that need them); returns what was done, each once, in the past tense."""
        written: set[Path] = set()
        for change, apply in self._steps:
            if apply is not None:
                apply()
            elif change.path not in written:
                written.add(change.path)
                data, mode = self._files[change.path]
                if data is None:
                    with suppress(FileNotFoundError):
                        change.path.unlink()
                else:
                    built = self._write_new_folders(change.path)
                    written |= built
                    if change.path in built:
                        continue
                    if mode == FILE_MODE:
                        write_private(change.path, data)
                    else:
                        _write_atomic(change.path, data, mode, 0o755)
        done = list(dict.fromkeys(change.done for change, _ in self._steps))
        self._files.clear()
        self._steps.clear()
        self.values.clear()
        return done

    def _write_new_folders(self, path: Path) -> set[Path]:
        """A file whose folder does not exist yet: build the topmost missing folder aside with
        every staged file under it, then rename it into place (all or nothing). Returns the
        files so written."""
        missing = [folder for folder in path.parents if not folder.exists()]
        if not missing:
            return set()
        built = set()
        top = missing[-1]
        aside = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{top.name}-", dir=top.parent))
        try:
            os.chmod(aside, DIR_MODE)
            for staged, (data, mode) in self._files.items():
                if data is None or top not in staged.parents:
                    continue
                target = aside / staged.relative_to(top)
                for folder in reversed(target.parents):
                    if folder != aside and aside in folder.parents and not folder.exists():
                        folder.mkdir(mode=DIR_MODE)
                if mode == FILE_MODE:
                    write_private(target, data)
                else:
                    _write_atomic(target, data, mode, 0o755)
                built.add(staged)
            os.rename(aside, top)
            _fsync_dir(top.parent)
        except OSError as exc:
            raise ControllerFileError(f"cannot create {top}: {exc.strerror or exc}") from exc
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return built


@contextmanager
def writing(files: Staged | None) -> Iterator[Staged]:
    """`files` as given, or (None) a staging applied when the block ends without an error."""
    if files is not None:
        yield files
        return
    staged = Staged()
    yield staged
    staged.apply()


def is_temporary(relative: Path) -> bool:
    """A temporary file of a write, or a file in a temporary folder (left by an interrupted
    write)."""
    return any(part.startswith(TEMPORARY_PREFIX) for part in relative.parts)


def create_missing_folders(path: Path) -> None:
    """Create `path` and every missing folder above it 0700 (mkdir -p would make those 0755).
    A folder that exists keeps its mode: writing a file into /tmp must not make it 0700 (the
    project's own folders are tightened by Staged.private_folders)."""
    try:
        for folder in reversed([path, *path.parents]):
            if not folder.exists():
                folder.mkdir(mode=DIR_MODE)
                os.chmod(folder, DIR_MODE)
    except FileExistsError as exc:
        raise ControllerFileError(f"{path} exists but is not a folder") from exc
    except OSError as exc:
        raise ControllerFileError(f"cannot create or secure folder {path}: "
                                  f"{exc.strerror or exc}") from exc


_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def read_regular(path: Path, limit: int | None = None) -> tuple[bytes, int]:
    """A regular file's bytes and mode. Anything else is refused unread (a FIFO blocked the
    read forever, opening a device may act on it), and so is a file of more than `limit`
    bytes, of which at most limit + 1 are read. OSError as the system says it (a missing
    file: FileNotFoundError); the refusals are ControllerFileError naming `path`."""
    _refuse_special(path, os.stat(path).st_mode)  # before open: a device's open may act
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        _refuse_special(path, mode)  # after open: the path may lead elsewhere by now
        data = handle.read() if limit is None else handle.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ControllerFileError(f"{path}: larger than {limit // 1024} KiB")
    return data, mode


def _refuse_special(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(mode)), "special file")
        raise ControllerFileError(f"{path}: not a regular file (a {kind})")


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, 0600 whatever the umask; the folders it creates
    are 0700, those that exist keep their mode."""
    with private_output(path) as handle:
        handle.write(data)


@contextmanager
def private_output(path: Path) -> Iterator[BinaryIO]:
    """A file written in pieces that replaces `path` atomically when the block ends without an
    error (0600 from its first byte; the folders it creates are 0700); an error removes it.
    Its `name` is the temporary file's path: a block may read back what it wrote (once
    flushed) before it counts."""
    create_missing_folders(path.parent)
    with _atomic_output(path, FILE_MODE, DIR_MODE) as handle:
        yield handle


def _write_atomic(path: Path, data: bytes, mode: int, dir_mode: int) -> None:
    with _atomic_output(path, mode, dir_mode) as handle:
        handle.write(data)


@contextmanager
def _atomic_output(path: Path, mode: int, dir_mode: int) -> Iterator[BinaryIO]:
    path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with open(tmp, "wb", opener=lambda name, _: os.open(name, flags, mode)) as handle:
            os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise ControllerFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode)
    except OSError as exc:
        raise ControllerFileError(f"cannot chmod {mode:o} {path}: {exc.strerror or exc}") from exc


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

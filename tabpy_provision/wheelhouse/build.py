"""A wheels-only wheelhouse for TabPy, built and cached on the controller, one archive per ABI.

Target hosts never have internet: the deploy pushes ONE archive and installs from it with no
index. Measured facts (docs/facts-tabpy.md, "Install" and the wheelhouse figures):

- TabPy and docopt are sdist-only on PyPI; ``pip wheel --no-deps`` turns them into pure wheels,
  so the wheelhouse can be wheels-only. The rest (~67 distributions, ~146 MB) are binary wheels
  for ONE Python ABI: Debian 12 needs cp311, Debian 13 cp313.
- On a host, ``uv`` installs from a wheelhouse in ~7 s where pip takes 32-37 s. uv is a single
  binary inside the ``uv`` wheel on PyPI, so the archive carries it as ``bin/uv``.

Archive (uncompressed tar - wheels are already compressed - byte-for-byte deterministic):
``bin/uv`` (0755) and ``wheels/*.whl`` (0644), exactly the set pinned in
``locks/tabpy-<version>-<abi>-<arch>.txt``. A host installs it with::

    tar -xf ARCHIVE -C DIR
    DIR/bin/uv venv --python /usr/bin/python3 --no-python-downloads VENV
    DIR/bin/uv pip install --python VENV/bin/python --offline --no-index \\
        --find-links DIR/wheels tabpy==VERSION

Refresh a lock with ``python -m tabpy_provision.wheelhouse lock --abi cp311 --abi cp313`` and
prefetch archives with ``python -m tabpy_provision.wheelhouse build --abi cp311 --abi cp313``.
Extra requirements (``--requirement statsmodels==0.15.0``): wheelhouse/extras.py, an "extras
lock" in ``--locks-dir`` and an archive ``tabpy-<version>-<abi>-<arch>+<digest>.tar``.
Stdlib only; pip runs in a subprocess with the controller's own pip configuration (a corporate
index or proxy set there is honoured).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tabpy_provision.run import disk_space

TABPY_VERSION_DEFAULT = "2.16.0"
UV_VERSION = "0.13.9"
DOCOPT_VERSION = "0.6.2"
# No wheels on PyPI for these: built locally as pure (py3-none-any) wheels.
SDIST_ONLY = ("tabpy", "docopt")
# Newest glibc a chosen wheel may need: Debian 12's 2.36 (Debian 13 has 2.41). One tag list for
# both ABIs keeps every archive installable on Debian 12 and newer; a host with an older glibc
# (RHEL 8 2.28, RHEL 9 2.34, Ubuntu 22.04 2.35) gets an archive of its own (glibc_floor).
GLIBC_MAX = (2, 36)
# Fixed timestamp for tar entries and for the wheels built from sdists (the zip epoch, 1980).
EPOCH = 315532800
LOCKS_DIR = Path(__file__).resolve().parent / "locks"

Log = Callable[[str], object]


class WheelhouseError(Exception):
    """A wheelhouse cannot be built or used; the message says what to do."""


@dataclass(frozen=True)
class Wheelhouse:
    archive: Path
    #: What a virtualenv installed from it holds: the lock's digest and the uv version (the
    #: archive's own bytes vary with sdist builds; its contents do not). Known before it is
    #: built, so a preview names the virtualenv a real run installs.
    identity: str
    tabpy_version: str
    abi: str
    arch: str
    #: The extra requirements resolved with TabPy's pins (wheelhouse_extras); () for the base.
    requirements: tuple[str, ...] = ()
    #: The newest glibc its wheels may need (glibc_floor).
    glibc: tuple[int, int] = GLIBC_MAX

    @property
    def name(self) -> str:
        return _wheelhouse_name(self.tabpy_version, self.abi, self.arch, self.requirements,
                                self.glibc)


def _wheelhouse_name(tabpy_version: str, abi: str, arch: str, requirements: Sequence[str],
                     glibc: tuple[int, int] = GLIBC_MAX) -> str:
    name = f"tabpy-{tabpy_version}-{abi}-{arch}{glibc_label(glibc)}"
    if not requirements:
        return name
    from tabpy_provision.wheelhouse.extras import requirements_digest

    return f"{name}+{requirements_digest(requirements)}"


# --- pure pieces -----------------------------------------------------------------------------


def abi_for_python(major: int, minor: int) -> str:
    """(3, 11) -> "cp311": the CPython ABI tag of a target's /usr/bin/python3."""
    if major != 3 or not isinstance(minor, int) or minor < 0:
        raise WheelhouseError(f"unsupported Python {major}.{minor}: only CPython 3.x is handled")
    return f"cp3{minor}"


def python_version_for_abi(abi: str) -> str:
    """ "cp313" -> "3.13"; rejects anything else (free-threaded "cp313t" included)."""
    match = re.fullmatch(r"cp3(\d{1,2})", abi)
    if not match:
        raise WheelhouseError(f"abi {abi!r} is not a CPython 3 ABI tag like 'cp311' or 'cp313'")
    return f"3.{int(match.group(1))}"


def glibc_floor(host_glibc: tuple[int, int]) -> tuple[int, int]:
    """The newest glibc the wheels of a host may need: its own, or GLIBC_MAX when newer (one
    archive then serves Debian 12 and every newer system)."""
    return min(host_glibc, GLIBC_MAX)


def glibc_label(glibc: tuple[int, int]) -> str:
    """What names an archive for an older glibc ("-glibc2.28"); "" at GLIBC_MAX."""
    return "" if glibc == GLIBC_MAX else f"-glibc{glibc[0]}.{glibc[1]}"


def check_arch(arch: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+", arch):
        raise WheelhouseError(f"arch {arch!r} is not a machine name like 'x86_64' or 'aarch64'")
    return arch


def platform_tags(arch: str, glibc: tuple[int, int] = GLIBC_MAX) -> list[str]:
    """manylinux tags pip may pick, best first: manylinux_2_<glibc>..manylinux_2_5 plus the
    legacy aliases (manylinux2014 = 2_17, manylinux2010 = 2_12, manylinux1 = 2_5).

    pip does not expand ``--platform manylinux_2_28_x86_64`` to older glibc versions, so the
    full list is given explicitly.
    """
    check_arch(arch)
    major, newest = glibc
    aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_{major}_{minor}_{arch}")
        if minor in aliases:
            tags.append(f"{aliases[minor]}_{arch}")
    return tags


def target_args(abi: str, arch: str, glibc: tuple[int, int] = GLIBC_MAX) -> list[str]:
    """pip options selecting binary wheels for the target interpreter and platform."""
    args = [
        "--only-binary=:all:",
        "--python-version",
        python_version_for_abi(abi),
        "--implementation",
        "cp",
        "--abi",
        abi,
    ]
    for tag in platform_tags(arch, glibc):
        args += ["--platform", tag]
    return args


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: "zope.interface" -> "zope-interface"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _norm_version(version: str) -> str:
    return version.strip().lower().removeprefix("v")


def parse_wheel_filename(filename: str) -> tuple[str, str]:
    """ "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl" -> ("numpy", "2.4.6")."""
    if not filename.endswith(".whl"):
        raise WheelhouseError(f"{filename} is not a wheel (.whl)")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise WheelhouseError(f"{filename} is not a valid wheel file name")
    return canonical_name(parts[0]), parts[1]


def parse_lock(text: str) -> dict[str, str]:
    """Lock file text -> {canonical name: version}. Lines are name==version; # comments."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.!+_-]+)", line)
        if not match:
            raise WheelhouseError(f"lock line {number} {raw!r} is not 'name==version'")
        name = canonical_name(match.group(1))
        if name in pins:
            raise WheelhouseError(f"lock line {number}: {name} is pinned twice")
        pins[name] = match.group(2)
    return pins


def format_lock(pins: Mapping[str, str], header: Sequence[str] = ()) -> str:
    """Sorted name==version lines (canonical names) under '# ' header lines."""
    lines = [f"# {line}".rstrip() for line in header]
    lines += [f"{canonical_name(n)}=={v}" for n, v in sorted(pins.items(), key=_sort_key)]
    return "\n".join(lines) + "\n"


def _sort_key(item: tuple[str, str]) -> str:
    return canonical_name(item[0])


def pins_from_report(report: Mapping) -> dict[str, str]:
    """pip's ``install --dry-run --report`` JSON -> {canonical name: version}."""
    pins = {}
    for item in report.get("install", []):
        metadata = item["metadata"]
        pins[canonical_name(metadata["name"])] = metadata["version"]
    return pins


def check_wheels(directory: Path, pins: Mapping[str, str]) -> list[Path]:
    """The wheels in ``directory`` - exactly one per pin, at the pinned version, nothing else."""
    found: dict[str, Path] = {}
    problems = []
    for path in sorted(directory.iterdir()):
        if not path.name.endswith(".whl"):
            raise WheelhouseError(
                f"{path.name} in the download is not a wheel: the wheelhouse must be wheels-only "
                "(a locked package has no wheel for this ABI/platform?)"
            )
        name, version = parse_wheel_filename(path.name)
        if name in found:
            problems.append(f"two wheels for {name}")
        elif name not in pins:
            problems.append(f"unlocked {path.name}")
        elif _norm_version(version) != _norm_version(pins[name]):
            problems.append(f"{path.name} is not the locked {name}=={pins[name]}")
        found[name] = path
    missing = sorted(set(pins) - set(found))
    if missing:
        problems.append("missing " + ", ".join(f"{n}=={pins[n]}" for n in missing))
    if problems:
        raise WheelhouseError("downloaded wheels do not match the lock: " + "; ".join(problems))
    return [found[name] for name in sorted(found)]


def uv_binary_member(names: Iterable[str]) -> str:
    """The path of the ``uv`` executable inside a uv wheel (``uv-X.data/scripts/uv``)."""
    hits = [n for n in names if re.fullmatch(r"uv-[^/]+\.data/scripts/uv", n)]
    if len(hits) != 1:
        raise WheelhouseError(f"no single uv-*.data/scripts/uv in the uv wheel (found {hits})")
    return hits[0]


def extract_uv(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        member = uv_binary_member(archive.namelist())
        with archive.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return dest


def pack_archive(dest: Path, wheels: Iterable[Path], uv_binary: Path) -> None:
    """Write the deterministic tar: ``bin/uv`` (0755) and ``wheels/<file>.whl`` (0644).

    Sorted entries, fixed mtime, uid/gid 0, empty user/group names, no directory entries, no
    compression: the same input files give the same bytes, wherever and whenever they lie.
    """
    entries = [("bin/uv", Path(uv_binary), 0o755)]
    names = set()
    for wheel in wheels:
        wheel = Path(wheel)
        if not wheel.name.endswith(".whl"):
            raise WheelhouseError(f"{wheel.name} is not a wheel: the wheelhouse is wheels-only")
        if wheel.name in names:
            raise WheelhouseError(f"{wheel.name} is given twice")
        names.add(wheel.name)
        entries.append((f"wheels/{wheel.name}", wheel, 0o644))
    write_tar(dest, entries)


def write_tar(dest: Path, entries: Iterable[tuple[str, Path, int]]) -> None:
    """A byte-for-byte deterministic tar of (member name, file, mode) entries: sorted, fixed
    mtime, uid/gid 0, empty user/group names, regular files only, no compression."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path, mode in sorted(entries):
            info = tarfile.TarInfo(arcname)
            info.size = Path(path).stat().st_size
            info.mtime = EPOCH
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            with open(path, "rb") as src:
                tar.addfile(info, src)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_file(tabpy_version: str, abi: str, arch: str) -> Path:
    return LOCKS_DIR / f"tabpy-{tabpy_version}-{abi}-{arch}.txt"


def default_cache_dir() -> Path:
    """$TABPY_PROVISION_CACHE, else ~/.cache/tabpy-provision. Archives go in <it>/wheelhouse."""
    env = os.environ.get("TABPY_PROVISION_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tabpy-provision"


# --- pip ------------------------------------------------------------------------------------


def _pip_error(what: str, returncode: int, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    tail = errors[-3:] or [line for line in lines if not line.startswith("WARNING:")][-3:]
    detail = " | ".join(tail) or "no output"
    return (
        f"{what} failed (exit {returncode}): {detail} "
        "- check the controller's access to PyPI (pip config list) and the lock file"
    )


def _pip_process(python: str, args: Sequence[str], what: str) -> subprocess.CompletedProcess:
    """Run ``python -m pip ARGS``, whatever its exit status; WheelhouseError if it cannot run."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), PIP_DISABLE_PIP_VERSION_CHECK="1")
    command = [python, "-m", "pip", *args, "--no-input", "--progress-bar", "off"]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise WheelhouseError(f"{what}: cannot run {python}: {exc}") from exc


def _run_pip(python: str, args: Sequence[str], what: str) -> str:
    """Run ``python -m pip ARGS``; its stdout, or WheelhouseError with pip's last error lines."""
    done = _pip_process(python, args, what)
    if done.returncode != 0:
        raise WheelhouseError(_pip_error(what, done.returncode, done.stderr))
    return done.stdout


def _build_sdist_wheels(python: str, dest: Path, pins: Mapping[str, str]) -> None:
    reqs = [f"{name}=={pins[name]}" for name in SDIST_ONLY]
    # No wheel cache: with SOURCE_DATE_EPOCH set the built wheels are byte-stable.
    _run_pip(
        python,
        ["wheel", "--no-deps", "--no-cache-dir", "-w", str(dest), *reqs],
        "pip wheel " + " ".join(reqs),
    )
    for path in dest.iterdir():
        if path.name.endswith(".whl") and not path.name.endswith("-none-any.whl"):
            raise WheelhouseError(f"{path.name} is not a pure wheel: it would tie to one ABI")


# --- build and cache --------------------------------------------------------------------------


def _manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def _cached(archive: Path, lock_digest: str) -> str | None:
    """The archive's sha256 when it is complete and built from this lock and uv, else None."""
    try:
        manifest = json.loads(_manifest_path(archive).read_text())
    except (OSError, ValueError):
        return None
    if not archive.is_file() or manifest.get("lock_sha256") != lock_digest:
        return None
    if manifest.get("uv_version") != UV_VERSION:
        return None
    if manifest.get("stat") == _stat_record(archive):  # the file written with this manifest
        return manifest.get("sha256")
    digest = sha256_file(archive)
    return digest if digest == manifest.get("sha256") else None


def _stat_record(path: Path) -> list[int]:
    """Size, modification time and inode: hashing the archive again on every run (380 MB for
    two ABIs, 0.4 s) is needed only when one of these changed."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


@contextlib.contextmanager
def _exclusive(path: Path, log: Log) -> Iterator[None]:
    """Cross-process (and cross-greenlet: non-blocking flock + sleep) lock on ``path``."""
    with open(path, "a") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log(f"waiting for another build holding {path} ...")
                    waited = True
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    archive: Path,
    pins: Mapping[str, str],
    lock: Path,
    lock_digest: str,
    abi: str,
    arch: str,
    python: str,
    log: Log,
    lock_text: str | None = None,
    glibc: tuple[int, int] = GLIBC_MAX,
) -> str:
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=archive.parent))
    try:
        wheels_dir, uv_dir = work / "wheels", work / "uv"
        wheels_dir.mkdir()
        uv_dir.mkdir()
        if lock_text is not None:  # an extras lock: pip reads it from the work folder
            lock = work / lock.name
            lock.write_text(lock_text)
        log(f"  pip wheel {' '.join(SDIST_ONLY)} (sdist-only on PyPI) ...")
        _build_sdist_wheels(python, wheels_dir, pins)
        log(f"  pip download {len(pins)} locked wheels for {abi} {arch} ...")
        pick = target_args(abi, arch, glibc)
        _run_pip(
            python,
            [
                "download",
                "--no-deps",
                "-d",
                str(wheels_dir),
                *pick,
                "--find-links",
                str(wheels_dir),
                "-r",
                str(lock),
            ],
            f"pip download -r {lock.name}",
        )
        wheels = check_wheels(wheels_dir, pins)
        log(f"  pip download uv=={UV_VERSION} ...")
        _run_pip(
            python,
            ["download", "--no-deps", "-d", str(uv_dir), *pick, f"uv=={UV_VERSION}"],
            f"pip download uv=={UV_VERSION}",
        )
        uv_wheels = sorted(uv_dir.glob("*.whl"))
        if len(uv_wheels) != 1:
            raise WheelhouseError(f"expected one uv wheel, got {[p.name for p in uv_wheels]}")
        uv_binary = extract_uv(uv_wheels[0], work / "uv-binary")
        tmp = work / (archive.name + ".tmp")  # removed with the work folder if cut short
        log(f"  packing {len(wheels)} wheels + bin/uv -> {archive}")
        pack_archive(tmp, wheels, uv_binary)
        digest = sha256_file(tmp)
        manifest = {
            "sha256": digest,
            "stat": _stat_record(tmp),  # the rename below keeps size, time and inode
            "lock": lock.name,
            "lock_sha256": lock_digest,
            "uv_version": UV_VERSION,
            "uv_wheel": uv_wheels[0].name,
            "wheels": {path.name: sha256_file(path) for path in wheels},
        }
        manifest_tmp = work / "manifest.json"
        manifest_tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        os.replace(manifest_tmp, _manifest_path(archive))
        os.replace(tmp, archive)  # last: an archive in place is a complete one
        return digest
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: What a build needs at its peak beside the archives (TabPy's: about 190 MB of wheels,
#: downloaded, then packed into an archive of the same size), and a reserve.
BUILD_ROOM = 512 * 2**20


def _checked_lock(tabpy_version: str, abi: str, arch: str) -> tuple[Path, dict[str, str], str]:
    """(lock file, pins, sha256 of the lock) for this TabPy/ABI/arch; reads only."""
    python_version_for_abi(abi)
    check_arch(arch)
    lock = lock_file(tabpy_version, abi, arch)
    if not lock.is_file():
        raise WheelhouseError(
            f"no lock file {lock}: run python -m tabpy_provision.wheelhouse lock "
            f"--abi {abi} --tabpy-version {tabpy_version} --arch {arch}"
        )
    lock_bytes = lock.read_bytes()
    pins = parse_lock(lock_bytes.decode())
    missing = [n for n in SDIST_ONLY if n not in pins]
    if pins.get("tabpy") != tabpy_version or missing:
        raise WheelhouseError(f"lock file {lock} does not pin tabpy=={tabpy_version} and docopt")
    return lock, pins, hashlib.sha256(lock_bytes).hexdigest()


def _identity(lock_digest: str, glibc: tuple[int, int] = GLIBC_MAX) -> str:
    # the same pins for an older glibc may be other wheel files
    return hashlib.sha256(f"{lock_digest} uv {UV_VERSION}{glibc_label(glibc)}".encode()
                          ).hexdigest()


def _wheelhouse(tabpy_version: str, abi: str, arch: str, cache_dir: Path | None,
                lock_text: str | None, glibc: tuple[int, int] = GLIBC_MAX,
                ) -> tuple[Wheelhouse, Path, dict[str, str], str]:
    """(the wheelhouse, its lock, the lock's pins and sha256): from the base lock for this
    TabPy/ABI/arch, or from ``lock_text``, an extras lock resolved on it. Reads only."""
    if lock_text is None:
        lock, pins, lock_digest = _checked_lock(tabpy_version, abi, arch)
        requirements: tuple[str, ...] = ()
    else:
        from tabpy_provision.wheelhouse.extras import checked_extras_lock

        pins, requirements = checked_extras_lock(tabpy_version, abi, arch, lock_text)
        lock_digest = hashlib.sha256(lock_text.encode()).hexdigest()
        lock = Path(_wheelhouse_name(tabpy_version, abi, arch, requirements) + ".txt")
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "wheelhouse"
    name = _wheelhouse_name(tabpy_version, abi, arch, requirements, glibc)
    found = Wheelhouse(directory / f"{name}.tar", _identity(lock_digest, glibc), tabpy_version,
                       abi, arch, requirements, glibc)
    return found, lock, pins, lock_digest


def find_wheelhouse(tabpy_version: str, abi: str, *, arch: str = "x86_64",
                    cache_dir: Path | None = None, lock_text: str | None = None,
                    glibc: tuple[int, int] = GLIBC_MAX) -> tuple[Wheelhouse, bool]:
    """(the wheelhouse for this TabPy/ABI/arch, whether a complete one is cached); writes
    nothing (a check: ensure_wheelhouse builds). ``lock_text``: the text of an extras lock
    (wheelhouse_extras) for this TabPy/ABI/arch, whose wheelhouse is meant instead; ``glibc``:
    the newest glibc its wheels may need (glibc_floor)."""
    found, _, _, lock_digest = _wheelhouse(tabpy_version, abi, arch, cache_dir, lock_text,
                                           glibc)
    return found, _cached(found.archive, lock_digest) is not None


def ensure_wheelhouse(
    tabpy_version: str,
    abi: str,
    *,
    arch: str = "x86_64",
    cache_dir: Path | None = None,
    python: str = sys.executable,
    log: Log = print,
    force: bool = False,
    lock_text: str | None = None,
    glibc: tuple[int, int] = GLIBC_MAX,
) -> Wheelhouse:
    """The cached archive for this TabPy/ABI/arch, built first when missing or stale.

    ``cache_dir`` holds the archives (default ``default_cache_dir() / "wheelhouse"``). A cached
    archive is reused when it is complete (written last, atomically), matches its manifest's
    sha256 and was built from the current lock file and UV_VERSION. ``lock_text``: as for
    find_wheelhouse, the extras lock whose pins are built instead of the base lock's;
    ``glibc``: as for find_wheelhouse.
    """
    found, lock, pins, lock_digest = _wheelhouse(tabpy_version, abi, arch, cache_dir, lock_text,
                                                 glibc)
    archive = found.archive
    digest = None if force else _cached(archive, lock_digest)
    room = None if digest else disk_space.room_problem(  # before the first byte written
        archive.parent, BUILD_ROOM, "building a wheelhouse (the wheels downloaded, then "
        "packed)", reserve=0)
    if room:
        raise WheelhouseError(f"{room}: make room or set TABPY_PROVISION_CACHE to a folder on "
                              "a larger disk")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(archive.with_name(f".{found.name}.lock"), log):
        digest = None if force else _cached(archive, lock_digest)
        if digest is None:
            started = time.monotonic()
            log(f"building wheelhouse {found.name} from {lock.name} ...")
            digest = _build(archive, pins, lock, lock_digest, abi, arch, python, log, lock_text,
                            found.glibc)
            size = archive.stat().st_size / 1e6
            log(
                f"wheelhouse {archive.name}: {size:.1f} MB, sha256 {digest}, "
                f"{time.monotonic() - started:.1f} s"
            )
    return found


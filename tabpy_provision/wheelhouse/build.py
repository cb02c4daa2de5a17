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

Refresh a lock with ``tabpy-provision wheelhouse lock --abi cp311 --abi cp313`` and
prefetch archives with ``tabpy-provision wheelhouse build --abi cp311 --abi cp313``.
Extra requirements (``--requirement statsmodels==0.15.0``): wheelhouse/extras.py, an "extras
lock" in ``--locks-dir`` and an archive ``tabpy-<version>-<abi>-<arch>+<digest>.tar``.
Stdlib only; pip runs in a subprocess with the controller's own pip configuration (a corporate
index or proxy set there is honoured).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tabpy_provision.run import disk_space
from tabpy_provision.wheelhouse import archive_cache, pip_command
from tabpy_provision.wheelhouse.extras import checked_extras_lock, requirements_digest
from tabpy_provision.wheelhouse.pinning import (
    GLIBC_MAX,
    UV_VERSION,
    WheelhouseError,
    checked_lock,
    glibc_label,
    norm_version,
    parse_wheel_filename,
    target_args,
)


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
    return f"{name}+{requirements_digest(requirements)}"


# --- pure pieces -----------------------------------------------------------------------------


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
        elif norm_version(version) != norm_version(pins[name]):
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
    archive_cache.write_tar(dest, entries)


# --- build and cache --------------------------------------------------------------------------


def _built_from(lock_digest: str) -> dict[str, str]:
    """What a cached archive's manifest records of its build: the lock and uv."""
    return {"lock_sha256": lock_digest, "uv_version": UV_VERSION}


def _build(
    archive: Path,
    pins: Mapping[str, str],
    lock: Path,
    lock_digest: str,
    abi: str,
    arch: str,
    python: str,
    log: archive_cache.Log,
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
        pip_command.build_sdist_wheels(python, wheels_dir, pins)
        pick = target_args(abi, arch, glibc)
        pip_command.run(
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
        pip_command.run(
            python,
            ["download", "--no-deps", "-d", str(uv_dir), *pick, f"uv=={UV_VERSION}"],
            f"pip download uv=={UV_VERSION}",
        )
        uv_wheels = sorted(uv_dir.glob("*.whl"))
        if len(uv_wheels) != 1:
            raise WheelhouseError(f"expected one uv wheel, got {[p.name for p in uv_wheels]}")
        uv_binary = extract_uv(uv_wheels[0], work / "uv-binary")
        tmp = work / (archive.name + ".tmp")  # removed with the work folder if cut short
        pack_archive(tmp, wheels, uv_binary)
        return archive_cache.put_in_place(tmp, archive, {
            "lock": lock.name,
            **_built_from(lock_digest),
            "uv_wheel": uv_wheels[0].name,
            "wheels": {path.name: archive_cache.sha256_file(path) for path in wheels},
        })
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: What a build needs at its peak beside the archives (TabPy's: about 190 MB of wheels,
#: downloaded, then packed into an archive of the same size), and a reserve.
BUILD_ROOM = 512 * 2**20


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
        lock, pins, lock_digest = checked_lock(tabpy_version, abi, arch)
        requirements: tuple[str, ...] = ()
    else:
        pins, requirements = checked_extras_lock(tabpy_version, abi, arch, lock_text)
        lock_digest = hashlib.sha256(lock_text.encode()).hexdigest()
        lock = Path(_wheelhouse_name(tabpy_version, abi, arch, requirements) + ".txt")
    directory = (Path(cache_dir) if cache_dir is not None
                 else archive_cache.default_cache_dir() / "wheelhouse")
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
    return found, archive_cache.cached(found.archive, _built_from(lock_digest)) is not None


def ensure_wheelhouse(
    tabpy_version: str,
    abi: str,
    *,
    arch: str = "x86_64",
    cache_dir: Path | None = None,
    python: str = sys.executable,
    log: archive_cache.Log = print,
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
    digest = None if force else archive_cache.cached(archive, _built_from(lock_digest))
    room = None if digest else disk_space.room_problem(  # before the first byte written
        archive.parent, BUILD_ROOM, "building a wheelhouse (the wheels downloaded, then "
        "packed)", reserve=0)
    if room:
        raise WheelhouseError(f"{room}: make room or set TABPY_PROVISION_CACHE to a folder on "
                              "a larger disk")

    def build() -> str:
        log(f"building wheelhouse {found.name} from {lock.name} ...")
        return _build(archive, pins, lock, lock_digest, abi, arch, python, log, lock_text,
                      found.glibc)

    archive_cache.build_once(archive, _built_from(lock_digest), build, what="wheelhouse",
                             log=log, force=force)
    return found


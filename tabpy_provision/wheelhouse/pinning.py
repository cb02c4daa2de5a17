"""What a wheelhouse pins, pure: its target (CPython ABI, machine, newest glibc) as pip's tags, and
its lock file (`name==version` lines, one per distribution), checked."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabpy_provision.settings.errors import ProvisionError

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


class WheelhouseError(ProvisionError):
    """A wheelhouse cannot be built or used; the message says what to do."""


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


def norm_version(version: str) -> str:
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


def lock_file(tabpy_version: str, abi: str, arch: str) -> Path:
    return LOCKS_DIR / f"tabpy-{tabpy_version}-{abi}-{arch}.txt"


def checked_lock(tabpy_version: str, abi: str, arch: str) -> tuple[Path, dict[str, str], str]:
    """(lock file, pins, sha256 of the lock) for this TabPy/ABI/arch; reads only."""
    python_version_for_abi(abi)
    check_arch(arch)
    lock = lock_file(tabpy_version, abi, arch)
    if not lock.is_file():
        raise WheelhouseError(
            f"no lock file {lock}: run tabpy-provision wheelhouse lock "
            f"--abi {abi} --tabpy-version {tabpy_version} --arch {arch}"
        )
    lock_bytes = lock.read_bytes()
    pins = parse_lock(lock_bytes.decode())
    missing = [n for n in SDIST_ONLY if n not in pins]
    if pins.get("tabpy") != tabpy_version or missing:
        raise WheelhouseError(f"lock file {lock} does not pin tabpy=={tabpy_version} and docopt")
    return lock, pins, hashlib.sha256(lock_bytes).hexdigest()

"""Extra requirements in TabPy's wheelhouse (analysts' libraries, e.g. ``statsmodels==0.15.0``):
the pure pieces - no network, no pip.

Extra requirements are resolved together with TabPy's own pins (wheelhouse_lock.resolve_extras):
the base lock ``tabpy-<v>-<abi>-<arch>.txt`` stays as it is and its pins are constraints. The
result is an "extras lock", the base pins plus the new distributions, under header lines two of
which are read back::

    # requirements: patsy>=1, statsmodels==0.15.0
    # base lock: tabpy-2.16.0-cp311-x86_64.txt sha256 <hex>

It is named ``tabpy-<v>-<abi>-<arch>+<digest>.txt`` (``extras_lock_file``), and its wheelhouse
``tabpy-<v>-<abi>-<arch>+<digest>.tar``: the digest (``requirements_digest``) is that of the
normalized requirements, so one set of requirements gives one name for every ABI.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tabpy_provision.wheelhouse import pinning
from tabpy_provision.wheelhouse.pinning import WheelhouseError

REQUIREMENTS_LINE = "requirements: "
BASE_LOCK_LINE = "base lock: "
# PEP 508 names (packaging also takes a name ending in "_", which canonicalizes to an invalid one)
NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def _normalized(item: object) -> str:
    """One requirement in its normal form (canonical names, sorted extras and specifiers), or
    WheelhouseError naming it."""
    if not isinstance(item, str):
        raise WheelhouseError(f"{item!r} is not a requirement string like 'statsmodels==0.15'")
    text = item.strip()
    if not text:
        raise WheelhouseError(f"{item!r}: an empty requirement")
    if text.startswith("-"):
        raise WheelhouseError(f"{item!r}: pip options are not requirements (name[==version])")
    if "://" in text or "@" in text:
        raise WheelhouseError(f"{item!r}: URLs and direct references are not allowed: "
                                 "give a name and version from the package index")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise WheelhouseError(f"{item!r} is not a PEP 508 requirement: {reason}") from None
    bad_names = [n for n in (req.name, *req.extras) if not NAME.fullmatch(n)]
    if bad_names:
        raise WheelhouseError(f"{item!r}: {bad_names[0]!r} is not a valid project name")
    if req.marker is not None:
        raise WheelhouseError(f"{item!r}: environment markers are not supported (the "
                                 "target's Python is not the controller's)")
    req.name = canonicalize_name(req.name)
    if req.name == "tabpy":
        raise WheelhouseError(f"{item!r}: TabPy itself is not an extra requirement (its "
                                 "version is tabpy_version)")
    req.extras = {canonicalize_name(extra) for extra in req.extras}
    req.specifier = SpecifierSet(",".join(_normal_specifier(spec) for spec in req.specifier))
    return str(req)


def _normal_specifier(spec: Specifier) -> str:
    """ ">=0.14.0RC1" -> ">=0.14.0rc1", "==2.*" as it is: one spelling of a version."""
    if spec.operator == "===":
        return str(spec)
    version, wildcard = spec.version.removesuffix(".*"), spec.version.endswith(".*")
    return f"{spec.operator}{Version(version)}{'.*' if wildcard else ''}"


def normalized_requirements(requirements: Iterable[str]) -> tuple[str, ...]:
    """Requirements in their normal form, sorted and deduplicated: ``["StatsModels >= 0.14"]``
    -> ``("statsmodels>=0.14",)``. WheelhouseError (one line, naming it) for a string that is
    not a plain PEP 508 requirement: a URL, an option, a marker, tabpy itself."""
    if isinstance(requirements, str):
        raise TypeError("requirements: a list of strings, not one string")
    return tuple(sorted({_normalized(item) for item in requirements}))


def requirement_name(requirement: str) -> str:
    """The canonical distribution name of a (normalized) requirement."""
    return canonicalize_name(Requirement(requirement).name)


def requirements_digest(requirements: Iterable[str]) -> str:
    """12 hex digits naming a set of requirements: the same for any order, case or spelling."""
    text = "\n".join(normalized_requirements(requirements))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def extras_lock_file(tabpy_version: str, abi: str, arch: str, requirements: Iterable[str],
                     locks_dir: Path) -> Path:
    digest = requirements_digest(requirements)
    return Path(locks_dir) / f"tabpy-{tabpy_version}-{abi}-{arch}+{digest}.txt"


def target_label(tabpy_version: str, abi: str, arch: str) -> str:
    return f"TabPy {tabpy_version} on {abi} {arch}"


def direct_conflicts(base_pins: Mapping[str, str], requirements: Iterable[str],
                     label: str) -> list[str]:
    """One line per requirement that names a distribution TabPy pins and excludes the pinned
    version: ``numpy<2: TabPy 2.16.0 on cp311 x86_64 pins numpy==2.4.6``. No network."""
    pins = {canonicalize_name(name): version for name, version in base_pins.items()}
    problems = []
    for requirement in normalized_requirements(requirements):
        req = Requirement(requirement)
        pinned = pins.get(req.name)
        if pinned is not None and not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement}: {label} pins {req.name}=={pinned}")
    return problems


def extras_header(requirements: Iterable[str], base_lock: str, base_sha256: str) -> list[str]:
    """The two machine-readable header lines of an extras lock (without the '# ')."""
    normalized = normalized_requirements(requirements)
    if not normalized:
        raise WheelhouseError("an extras lock needs at least one requirement")
    return [REQUIREMENTS_LINE + ", ".join(normalized), f"{BASE_LOCK_LINE}{base_lock} sha256 "
            f"{base_sha256}"]


def _header_value(text: str, key: str) -> str | None:
    values = [line[2 + len(key):].strip() for line in text.splitlines()
              if line.startswith("# " + key)]
    if len(values) > 1:
        raise WheelhouseError(f"the lock has {len(values)} '# {key.strip()}' lines")
    return values[0] if values else None


def parse_extras_header(text: str) -> tuple[str, ...]:
    """The requirements an extras lock was resolved for (as written); () for a base lock."""
    value = _header_value(text, REQUIREMENTS_LINE)
    return tuple(value.split(", ")) if value else ()


def parse_base_lock_header(text: str) -> tuple[str, str] | None:
    """(base lock file name, its sha256) from an extras lock's header; None when absent."""
    match = re.fullmatch(r"(\S+) sha256 ([0-9a-f]{64})", _header_value(text, BASE_LOCK_LINE) or "")
    return (match.group(1), match.group(2)) if match else None


def lock_command(tabpy_version: str, abi: str, arch: str, requirements: Iterable[str] = (),
                 locks_dir: Path | None = None) -> str:
    """The command that (re)writes this lock."""
    command = (f"tabpy-provision wheelhouse lock --abi {abi} "
               f"--tabpy-version {tabpy_version} --arch {arch}")
    command += "".join(f" --requirement {shlex.quote(req)}" for req in requirements)
    if locks_dir is not None:
        command += f" --locks-dir {shlex.quote(str(locks_dir))}"
    return command


def checked_extras_lock(tabpy_version: str, abi: str, arch: str,
                        lock_text: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(pins, requirements) of an extras lock's text, checked against the base lock for this
    TabPy/ABI/arch: resolved on that very lock, keeping every one of its pins. Reads only."""
    base, base_pins, base_sha = pinning.checked_lock(tabpy_version, abi, arch)
    requirements = parse_extras_header(lock_text)
    if not requirements:
        raise WheelhouseError(f"the lock given for TabPy {tabpy_version} {abi} {arch} has no "
                                 f"'# {REQUIREMENTS_LINE.strip()}' line: not an extras lock")
    if normalized_requirements(requirements) != requirements:
        raise WheelhouseError(f"extras lock: its requirements {', '.join(requirements)} are "
                                 "not in normal form (edited by hand?)")
    redo = lock_command(tabpy_version, abi, arch, requirements)
    if parse_base_lock_header(lock_text) != (base.name, base_sha):
        raise WheelhouseError(
            f"the extras lock for {', '.join(requirements)} was not resolved on the current "
            f"{base.name} (sha256 {base_sha[:12]}): run {redo}")
    pins = pinning.parse_lock(lock_text)
    changed = [f"{name}=={version}" for name, version in base_pins.items()
               if pins.get(name) != version]
    if changed:
        raise WheelhouseError(f"the extras lock for {', '.join(requirements)} does not keep "
                                 f"TabPy's pins {', '.join(changed[:3])}: run {redo}")
    return pins, requirements


def read_extras_lock(tabpy_version: str, abi: str, arch: str, requirements: Iterable[str],
                     locks_dir: Path) -> str:
    """The text of the extras lock for these requirements; WheelhouseError saying which lock
    command writes it when it is missing."""
    path = extras_lock_file(tabpy_version, abi, arch, requirements, locks_dir)
    try:
        return path.read_text()
    except FileNotFoundError:
        command = lock_command(tabpy_version, abi, arch, normalized_requirements(requirements),
                               locks_dir)
        raise WheelhouseError(f"no extras lock {path}: run {command}") from None

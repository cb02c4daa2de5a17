"""TabPy's virtualenvs on the hosts: built from a pushed wheelhouse, offline, on the first host
of its kind a deploy reaches; kept finished in the controller's cache as one zstd-compressed
tar; shipped to every other host of the kind, unpacked in place, checked and marked complete.
Pure: no pyinfra import (server/venv.py runs these commands).

A kind is everything a virtualenv's bytes depend on: its path (its scripts, `pyvenv.cfg` and
bytecode name it, so it is only valid where it was built), what it holds (the wheelhouse's and
NLTK data's identity) and the interpreter it was made from (platform and Python). Bytecode is
compiled hash-based and unchecked (`--invalidation-mode unchecked-hash`): valid wherever the
bytes land, whatever times the unpack gives the sources. The cache is rebuildable: a lost one
costs one build per kind, so the controller's state archive leaves it out.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from tabpy_provision.wheelhouse import archive_cache

#: In a virtualenv: the identity of what it holds, written once its install completed.
MARKER = ".tabpy-provision-wheelhouse"
SUFFIX = ".tar.zst"
#: Kept per virtualenv folder and platform: the one deployed and the one before (a rollback).
KEPT = 2
#: The Debian/RHEL package giving `zstd` on the hosts (the archive's compression).
PACKAGES = ("zstd",)


@dataclass(frozen=True)
class VenvKind:
    venv: str  # absolute path on the hosts
    identity: str  # what it holds (server/deploy.venv_identity)
    platform: str  # platforms.Platform.key
    python: str  # the interpreter it is made from

    @property
    def key(self) -> str:
        blob = json.dumps([self.venv, self.identity, self.platform, self.python])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def family(self) -> str:
        """Kinds that replace one another in a cache (one folder name per wheelhouse)."""
        return f"{self.platform}.{self.venv.rsplit('/', 1)[1].rsplit('-', 1)[0]}"

    def archive(self, cache_dir: Path) -> Path:
        return cache_dir / f"{self.family}.{self.key}{SUFFIX}"

    def record(self) -> dict[str, str]:
        """What the cached archive's manifest must say for it to be this kind's."""
        return {"venv": self.venv, "identity": self.identity, "platform": self.platform,
                "python": self.python}


def default_cache_dir() -> Path:
    return archive_cache.default_cache_dir() / "venvs"


def cached(kind: VenvKind, cache_dir: Path) -> dict | None:
    """The cached archive's manifest (sha256, unpacked size, where it was built) when a
    complete one of this kind is there, else None."""
    archive = kind.archive(cache_dir)
    if archive_cache.cached(archive, kind.record()) is None:
        return None
    return json.loads(archive_cache.manifest_path(archive).read_text())


def store(received: Path, kind: VenvKind, cache_dir: Path, *, unpacked_bytes: int,
          built_on: str) -> str:
    """Puts `received` (on the cache's file system) in place as this kind's archive, then
    removes the family's older archives beyond KEPT. Its sha256."""
    digest = archive_cache.put_in_place(received, kind.archive(cache_dir), {
        **kind.record(), "unpacked_bytes": unpacked_bytes, "built_on": built_on,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    family = sorted(cache_dir.glob(f"{kind.family}.*{SUFFIX}"),
                    key=lambda path: path.stat().st_mtime, reverse=True)
    for old in family[KEPT:]:
        archive_cache.manifest_path(old).unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return digest


def incoming(cache_dir: Path, kind: VenvKind) -> Path:
    """Where an archive being received is written (renamed into place once complete)."""
    return cache_dir / f".incoming-{kind.key}-{time.monotonic_ns()}"


#: Paths whose Python is never byte-compiled at install: the libraries' own test suites
#: (40% of the files; TabPy never imports them, and Python compiles in memory if one does).
NOT_COMPILED = r"/tests?/"


def build_script(kind: VenvKind, requirements: tuple[str, ...], work_dir: str,
                 with_nltk_data: bool) -> str:
    """Unpacks the pushed wheelhouse (WORK/wheelhouse.tar) and installs `requirements` into a
    new virtualenv of the kind's Python, offline; the NLTK data archive (WORK/nltk-data.tar)
    goes in its share/ (where NLTK looks by default). Files are hard links into uv's unpacked
    wheels (each written once; uv copies when the work folder is on another file system),
    bytecode is compiled as root (the service runs from a virtualenv it cannot write), the
    marker written last and the work folder removed. A failure (a full disk) leaves no partial
    virtualenv or work folder behind."""
    q = shlex.quote
    venv, uv, python = kind.venv, f"{work_dir}/bin/uv", kind.venv + "/bin/python"
    # Unpacked by root under umask 022: NLTK refuses data folders others may write.
    nltk = (f"mkdir -p {q(venv + '/share')}; tar -xf {q(work_dir + '/nltk-data.tar')} "
            f"--no-same-owner -C {q(venv + '/share')}; ") if with_nltk_data else ""
    return (
        f"set -e; umask 022; v={q(venv)} w={q(work_dir)}; trap 'rm -rf \"$v\" \"$w\"' EXIT; "
        f"tar -xf {q(work_dir + '/wheelhouse.tar')} -C {q(work_dir)}; "
        f"export UV_CACHE_DIR={q(work_dir + '/cache')} UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never; "
        f"{q(uv)} venv --quiet --python {q(kind.python)} {q(venv)}; "
        f"{q(uv)} pip install --quiet --offline --no-index --link-mode hardlink "
        f"--python {q(python)} --find-links {q(work_dir + '/wheels')} "
        f"{' '.join(map(q, requirements))}; {nltk}"
        f"{q(python)} -W ignore -m compileall -q -j 0 --invalidation-mode unchecked-hash "
        f"-x {q(NOT_COMPILED)} {q(venv + '/lib')}; "
        f"echo {q(kind.identity)} > {q(venv + '/' + MARKER)}; trap - EXIT; rm -rf {q(work_dir)}")


def _parts(venv: str) -> tuple[str, str]:
    parent, name = venv.rsplit("/", 1)
    return parent, name


def pack_command(venv: str) -> str:
    """Writes the finished virtualenv as a zstd-compressed tar on stdout (without its marker:
    a receiving host writes its own once its checks passed), then one line on stderr:
    `unpacked BYTES`."""
    parent, name = _parts(venv)
    q = shlex.quote
    # sh has no pipefail: tar's own status is kept in a file
    return (f"set -e; cd {q(parent)}; [ -f {q(f'{name}/{MARKER}')} ]; t=$(mktemp); "
            f"{{ tar -cf - --exclude={q(f'{name}/{MARKER}')} {q(name)}; echo $? > \"$t\"; }} "
            "| zstd -q -T0 -3; s=$(cat \"$t\"); rm -f \"$t\"; [ \"$s\" = 0 ]; "
            f"echo unpacked $(du -sb {q(name)} | cut -f1) >&2")


def unpack_command(venv: str, identity: str, sha256: str, lock: str) -> str:
    """Reads a finished virtualenv (pack_command's bytes) on stdin: their sha256 must be
    `sha256`, the unpacked tree goes into a staging folder of the same parent, is renamed into
    place, must import TabPy with its own Python, and is marked complete last. Anything short
    of that leaves no virtualenv under its name (a killed unpack leaves the staging folder,
    which the next one removes)."""
    parent, name = _parts(venv)
    q = shlex.quote
    staging = f"{parent}/.incoming-{name}"
    script = (
        f"set -e; umask 022; s={q(staging)} v={q(venv)}; "
        "rm -rf \"$s\" \"$v\"; mkdir -m 0700 \"$s\"; trap 'rm -rf \"$s\"' EXIT; "
        "mkfifo \"$s/.bytes\"; sha256sum < \"$s/.bytes\" > \"$s/.sum\" & "
        "tee \"$s/.bytes\" | zstd -dc -q | tar -xf - --no-same-owner -C \"$s\"; wait $!; "
        f"[ \"$(cut -d' ' -f1 \"$s/.sum\")\" = {q(sha256)} ] "
        "|| { echo 'the archive arrived with another digest' >&2; exit 1; }; "
        f"[ -d \"$s/\"{q(name)} ] && [ ! -e \"$s/\"{q(f'{name}/{MARKER}')} ]; "
        f"chmod 0755 \"$s/\"{q(name)}; mv -T \"$s/\"{q(name)} \"$v\"; "
        "trap 'rm -rf \"$s\" \"$v\"' EXIT; "
        "\"$v/bin/python\" -I -B -c 'import tabpy' "
        "|| { echo \"the shipped virtualenv's Python cannot import TabPy\" >&2; exit 1; }; "
        f"echo {q(identity)} > \"$v/\"{q(MARKER)}; trap - EXIT; rm -rf \"$s\"")
    return f"flock {q(lock)} sh -c {q(script)}"


def unpacked_bytes(stderr: str) -> int | None:
    """The size pack_command reported, or None."""
    for line in stderr.splitlines():
        word, _, value = line.partition(" ")
        if word == "unpacked" and value.strip().isdigit():
            return int(value)
    return None

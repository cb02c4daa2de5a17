"""NLTK data for offline TabPy hosts: one archive built and cached on the controller.

NLTK (installed with TabPy) reads its data files - lexicons, corpora, tokenizer models - from
"NLTK data" folders, which ``nltk.download()`` fills from the internet. TabPy's hosts never reach
the internet, and TabPy's pre-built "Sentiment Analysis" model calls
``nltk.sentiment.vader.SentimentIntensityAnalyzer()``, which loads
``sentiment/vader_lexicon.zip/vader_lexicon/vader_lexicon.txt`` (NLTK 3.10.4,
``nltk/sentiment/vader.py``) and fails without it. So the controller builds the data:

- From REGISTRY PACKAGES (``SOURCES``), fetched with the controller's own pip (corporate index or
  proxy honoured) at a pinned version AND sha256: ``vader_lexicon`` comes from PyPI's
  ``vadersentiment==3.3.2`` (MIT, the VADER authors' package), whose wheel holds the VADER
  lexicon (``vaderSentiment/vader_lexicon.txt``: token, mean, standard deviation, ratings, tab
  separated, CRLF, no final newline; 7520 lines). It is checked the way NLTK's
  ``SentimentIntensityAnalyzer.make_lex_dict`` parses it, kept byte for byte, and packed as NLTK's
  downloader lays it out: ``sentiment/vader_lexicon.zip`` holding
  ``vader_lexicon/vader_lexicon.txt``. (Not compared with nltk_data's own copy, which this
  network cannot reach; NLTK scores "I love this" 0.6369 with it, the value usually quoted.)
- From a FOLDER on the controller, for data no registry package carries (no wheel on PyPI holds
  NLTK's punkt/punkt_tab or TextBlob's corpora; Debian has no NLTK data): the operator lays it
  out like an ``nltk_data`` folder (``corpora/``, ``tokenizers/``, ``taggers/``, ...; see
  ``folder_problem``), e.g. by running ``nltk.download(..., download_dir=FOLDER)`` on a machine
  with internet. Its files are packed as they are; one that would shadow a registry resource
  of the same build is refused.

Archive (uncompressed tar, byte-for-byte deterministic: sorted members, mtime 1980-01-01,
uid/gid 0, no user/group names, mode 0644, no directory entries): ``nltk_data/<category>/...``,
e.g. ``nltk_data/sentiment/vader_lexicon.zip`` (a stored, i.e. uncompressed, zip with fixed
dates and sorted members). Cached as ``<default_cache_dir()>/nltk-data/nltk-data-<id12>.tar``
with a ``.json`` manifest beside it, where ``id12`` starts the build's identity: a digest of the
``SOURCES`` entries used (pins and hashes) and of the folder's files (paths and contents, not
their times, modes or the folder's own location), so it is known before a build.

On a host the deploy unpacks it as root into ``<venv>/share/`` (a fresh venv may lack it)::

    mkdir -p VENV/share && tar -xf ARCHIVE -C VENV/share

which puts the data in ``VENV/share/nltk_data``: NLTK 3.10.4 searches ``os.path.join(sys.prefix,
"share", "nltk_data")`` by default (``nltk/data.py``, the ``path`` list, after ``$NLTK_DATA``,
``~/nltk_data`` and ``sys.prefix/nltk_data``), and ``sys.prefix`` is the virtualenv for its
python. The service also gets ``NLTK_DATA=VENV/share/nltk_data``, so a script run with another
interpreter finds it too. NLTK 3.10.4 refuses (with a RuntimeWarning, then "Resource not found")
a data folder, a directory below it or a file that is owned by another account than the reader
and root, or is group- or world-writable (``nltk/pathsec.py``): root owns what root unpacks, the
files are 0644, and the directories tar creates follow root's umask (0022 gives 0755) - keep
them so.

Stdlib only; pip runs in a subprocess through wheelhouse's helpers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabpy_provision.wheelhouse import archive_cache, pinning, pip_command
from tabpy_provision.wheelhouse.archive_cache import Log
from tabpy_provision.wheelhouse.pinning import WheelhouseError

#: Top folder of every archive member; the deploy unpacks the archive into ``<venv>/share``.
TOP = "nltk_data"
#: The folders NLTK's downloader puts packages in (its index's ``subdir`` values).
CATEGORIES = frozenset({
    "chunkers", "corpora", "grammars", "help", "misc", "models", "sentiment", "stemmers",
    "taggers", "tokenizers",
})
#: Date of every member of the zips built here (the zip epoch, as pinning.EPOCH).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: Bumped when the archive's layout or the conversion changes: part of the identity.
LAYOUT_VERSION = 1


class NltkDataError(WheelhouseError):
    """NLTK data cannot be built or used; the message says what to do."""


# --- where the data comes from -----------------------------------------------------------------


def vader_lexicon_problem(data: bytes) -> str | None:
    """Why NLTK 3.10.4 could not read ``data`` as a VADER lexicon, else None.

    Mirrors ``nltk.data.load(..., format="text")`` (UTF-8, else Latin-1) and
    ``SentimentIntensityAnalyzer.make_lex_dict``: every "\\n"-separated line, stripped, has a
    tab-separated token and a float - a trailing newline (an empty last line) breaks it.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    for number, line in enumerate(text.split("\n"), 1):
        try:
            (_word, measure) = line.strip().split("\t")[0:2]
            float(measure)
        except ValueError:
            return f"line {number} {line[:60]!r} is not 'token<TAB>mean...'"
    return None


@dataclass(frozen=True)
class Source:
    """One NLTK resource taken from a file inside a registry wheel."""

    #: pip requirement pinning the distribution, e.g. "vadersentiment==3.3.2".
    requirement: str
    #: sha256 of the one wheel file pip may use (``--require-hashes``).
    wheel_sha256: str
    #: The file inside the wheel.
    member: str
    #: Where it goes under nltk_data/: ``<category>/<package>.zip``...
    target: str
    #: ...holding this member (NLTK's downloader layout); None: the file itself is ``target``.
    zip_member: str | None
    license: str
    #: Refuses a file NLTK could not read (not part of the identity: it changes no bytes).
    check: Callable[[bytes], str | None] | None = field(default=None, compare=False, repr=False)

    def record(self) -> dict[str, str | None]:
        """What the identity and the manifest say of this source."""
        return {
            "requirement": self.requirement,
            "wheel_sha256": self.wheel_sha256,
            "member": self.member,
            "target": self.target,
            "zip_member": self.zip_member,
        }

    @property
    def project(self) -> str:
        return pinning.canonical_name(self.requirement.split("==", 1)[0])

    @property
    def version(self) -> str:
        return self.requirement.split("==", 1)[1]


#: NLTK resource name (``nltk.download`` id) -> the registry package it is taken from.
SOURCES: Mapping[str, Source] = {
    "vader_lexicon": Source(
        requirement="vadersentiment==3.3.2",
        wheel_sha256="3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311",
        member="vaderSentiment/vader_lexicon.txt",
        target="sentiment/vader_lexicon.zip",
        zip_member="vader_lexicon/vader_lexicon.txt",
        license="MIT",
        check=vader_lexicon_problem,
    ),
}


@dataclass(frozen=True)
class NltkData:
    #: The cached tar (it may not exist yet: see find_nltk_data).
    archive: Path
    #: sha256 over LAYOUT_VERSION, the SOURCES entries used and the folder's files.
    identity: str
    #: The registry-backed resources in it, sorted.
    resources: tuple[str, ...]
    #: The controller folder whose files it also holds (absolute), or None.
    folder: str | None


# --- pure pieces ----------------------------------------------------------------------------------


def resources_problem(resources: object) -> str | None:
    """Why ``resources`` is not a list of known, distinct registry-backed resource names."""
    known = ", ".join(sorted(SOURCES))
    if isinstance(resources, str) or not isinstance(resources, list | tuple):
        return f"must be a list of NLTK resource names ({known}), got {resources!r}"
    seen = set()
    for name in resources:
        if not isinstance(name, str):
            return f"must be a list of NLTK resource names ({known}), got the item {name!r}"
        if name not in SOURCES:
            return (
                f"{name!r} is not an NLTK resource with a registry package here (those are: "
                f"{known}); supply any other NLTK data as an nltk_data folder on the controller "
                "(corpora/, tokenizers/, ... as nltk.download(..., download_dir=FOLDER) writes it)"
            )
        if name in seen:
            return f"{name!r} is listed twice"
        seen.add(name)
    return None


def _shadowed(relpath: str, source: Source) -> bool:
    """True when a folder file at ``relpath`` is, or NLTK could take it for, ``source``'s target
    (``sentiment/vader_lexicon.zip`` or a file under ``sentiment/vader_lexicon/``)."""
    stem = source.target.removesuffix(".zip")
    return relpath == source.target or relpath.startswith(stem + "/")


def deterministic_zip(members: Mapping[str, bytes]) -> bytes:
    """A stored (uncompressed: no zlib version in the bytes) zip of ``members`` plus their parent
    directories as entries (as ``zip -r`` writes them), sorted, dated
    1980-01-01, files 0644 and directories 0755."""
    names = set(members)
    for name in members:
        if not name or name.startswith("/") or name.endswith("/"):
            raise NltkDataError(f"zip member {name!r} is not a relative file path")
        parts = name.split("/")
        names.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix: the mode bits below are read
            info.compress_type = zipfile.ZIP_STORED
            if name.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                archive.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, members[name])
    return out.getvalue()


def pack_tar(dest: Path, entries: Mapping[str, Path]) -> None:
    """The deterministic tar of ``{member name: file}``, every member a 0644 regular file."""
    archive_cache.write_tar(dest, [(name, Path(path), 0o644) for name, path in entries.items()])


def _identity(sources: Mapping[str, Source], folder_digest: str | None) -> str:
    record = {
        "layout": LAYOUT_VERSION,
        "sources": {name: sources[name].record() for name in sorted(sources)},
        "folder": folder_digest,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _folder_digest(hashes: Mapping[str, str]) -> str:
    """One digest of ``{relative path: sha256}``, in ``sha256sum`` line form, sorted."""
    text = "".join(f"{hashes[rel]}  {rel}\n" for rel in sorted(hashes))
    return hashlib.sha256(text.encode()).hexdigest()


# --- the operator's folder -------------------------------------------------------------------


_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")


def _folder_files(folder: str | os.PathLike) -> dict[str, Path]:
    """``{path relative to the folder: file}`` for an nltk_data-like folder, or NltkDataError.

    Symlinks are followed while they stay inside the folder (a file reached through one is
    packed as a regular file); each member must be a readable regular file.
    """
    given = os.path.expanduser(os.fspath(folder))
    root = Path(os.path.abspath(given))
    if not root.exists():
        raise NltkDataError(f"{given} does not exist")
    if not root.is_dir():
        raise NltkDataError(f"{given} is not a folder")
    real_root = Path(os.path.realpath(root))
    found: dict[str, Path] = {}

    def walk(directory: Path, rel: tuple[str, ...], chain: frozenset[str]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise NltkDataError(f"cannot read the folder {directory}: {exc.strerror}") from exc
        for entry in entries:
            relpath = "/".join((*rel, entry.name))
            path = Path(entry.path)
            try:
                relpath.encode("utf-8")
            except UnicodeEncodeError:
                raise NltkDataError(f"{path} has a name that is not UTF-8") from None
            if _BAD_NAME.search(entry.name):
                raise NltkDataError(f"{path!r} has a control character or backslash in its name")
            if not rel and entry.name not in CATEGORIES:
                if entry.name == TOP and entry.is_dir():
                    raise NltkDataError(
                        f"{given} holds {TOP}/: give that folder itself, the one holding "
                        "corpora/, tokenizers/, ..."
                    )
                raise NltkDataError(
                    f"{relpath} in {given} is not an NLTK data category folder: the folder must "
                    f"hold only {', '.join(sorted(CATEGORIES))}"
                )
            if entry.is_symlink():
                target = os.path.realpath(path)
                if not os.path.exists(target):
                    raise NltkDataError(f"{path} is a symlink to a missing {target}")
                if not Path(target).is_relative_to(real_root):
                    raise NltkDataError(f"{path} is a symlink leading out of {given}, to {target}")
            try:
                info = os.stat(path)
            except OSError as exc:
                raise NltkDataError(f"cannot read {path}: {exc.strerror}") from exc
            if stat.S_ISDIR(info.st_mode):
                if not rel and not os.access(path, os.R_OK | os.X_OK):
                    raise NltkDataError(f"cannot read the folder {path}")
                real = os.path.realpath(path)
                if real in chain:
                    raise NltkDataError(f"{path} is a symlink loop (back to {real})")
                walk(path, (*rel, entry.name), chain | {real})
            elif not rel:
                raise NltkDataError(
                    f"{relpath} in {given} is a file: the folder holds category folders only "
                    f"({', '.join(sorted(CATEGORIES))})"
                )
            elif not stat.S_ISREG(info.st_mode):
                raise NltkDataError(f"{path} is not a regular file")
            elif not os.access(path, os.R_OK):
                raise NltkDataError(f"cannot read {path}")
            else:
                found[relpath] = path

    walk(root, (), frozenset({str(real_root)}))
    if not found:
        raise NltkDataError(f"{given} holds no files")
    return found


def _collision(files: Iterable[str], resources: Iterable[str]) -> str | None:
    for name in sorted(resources):
        source = SOURCES[name]
        hits = sorted(rel for rel in files if _shadowed(rel, source))
        if hits:
            return (
                f"{hits[0]} in the folder would shadow the resource {name} taken from "
                f"{source.requirement}: drop {name} from the resources or the file from the folder"
            )
    return None


def folder_problem(path: object, *, resources: Sequence[str] = ()) -> str | None:
    """Why ``path`` is not a usable controller folder of NLTK data, else None (reads it).

    It must be a readable folder laid out like nltk_data: only category folders at the top
    (corpora/, tokenizers/, sentiment/, taggers/, ...: ``CATEGORIES``), below them readable
    regular files and folders only, symlinks only to places inside it, at least one file, and -
    for the registry ``resources`` of the same build - nothing in place of those.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        return f"must be the path of a folder on the controller, got {path!r}"
    try:
        files = _folder_files(path)
    except NltkDataError as exc:
        return str(exc)
    if isinstance(resources, list | tuple) and resources_problem(resources) is None:
        return _collision(files, resources)
    return None


# --- build and cache ------------------------------------------------------------------------------


def _checked(resources: Sequence[str], folder: str | os.PathLike | None
             ) -> tuple[tuple[str, ...], dict[str, Path], str | None]:
    """(sorted resources, the folder's files, its absolute path) - or NltkDataError."""
    problem = resources_problem(resources)
    if problem:
        raise NltkDataError(f"NLTK resources: {problem}")
    files: dict[str, Path] = {}
    absolute = None
    if folder is not None:
        problem = folder_problem(folder, resources=resources)
        if problem:
            raise NltkDataError(f"NLTK data folder: {problem}")
        files = _folder_files(folder)
        absolute = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    if not resources and not files:
        raise NltkDataError("no NLTK data to ship: name resources or give a folder")
    return tuple(sorted(resources)), files, absolute


def _hash_files(files: Mapping[str, Path]) -> dict[str, str]:
    return {rel: archive_cache.sha256_file(path) for rel, path in files.items()}


def _archive_for(directory: Path, identity: str) -> Path:
    return directory / f"nltk-data-{identity[:12]}.tar"


def _cache_directory(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return archive_cache.default_cache_dir() / "nltk-data"


def find_nltk_data(resources: Sequence[str], folder: str | os.PathLike | None, *,
                   cache_dir: Path | None = None) -> tuple[NltkData, bool]:
    """(the NLTK data archive for these resources and folder, whether a complete one is cached).

    Writes nothing (ensure_nltk_data builds); reads (hashes) the folder's files. NltkDataError
    when resources_problem or folder_problem (with these resources) has something to say, or
    when there is nothing to ship.
    """
    names, files, absolute = _checked(resources, folder)
    digest = _folder_digest(_hash_files(files)) if files else None
    identity = _identity({name: SOURCES[name] for name in names}, digest)
    archive = _archive_for(_cache_directory(cache_dir), identity)
    found = NltkData(archive, identity, names, absolute)
    return found, archive_cache.cached(archive, {"identity": identity}) is not None


def download_sources(names: Iterable[str], dest: Path, *, python: str = sys.executable
                     ) -> dict[str, Path]:
    """pip-download the wheels of ``SOURCES[name]`` into ``dest``, by pin and sha256 (no deps,
    wheels only); ``{requirement: wheel}``."""
    sources = {SOURCES[name].requirement: SOURCES[name] for name in names}
    if not sources:
        return {}
    reqs = Path(dest) / "nltk-data-requirements.txt"
    reqs.write_text("".join(
        f"{req} --hash=sha256:{sources[req].wheel_sha256}\n" for req in sorted(sources)
    ))
    wheels_dir = Path(dest) / "wheels"
    wheels_dir.mkdir(exist_ok=True)
    try:
        pip_command.run(
            python,
            ["download", "--no-deps", "--only-binary=:all:", "--require-hashes",
             "-d", str(wheels_dir), "-r", str(reqs)],
            "pip download " + " ".join(sorted(sources)),
        )
    except WheelhouseError as exc:
        raise NltkDataError(str(exc)) from exc
    found: dict[str, Path] = {}
    for wheel in sorted(wheels_dir.glob("*.whl")):
        project, version = pinning.parse_wheel_filename(wheel.name)
        for req, source in sources.items():
            if project == source.project and version == source.version:
                found[req] = wheel
    for req, source in sorted(sources.items()):
        wheel = found.get(req)
        if wheel is None:
            raise NltkDataError(f"pip download {req} left no {source.project} wheel")
        if archive_cache.sha256_file(wheel) != source.wheel_sha256:
            raise NltkDataError(f"{wheel.name} does not have the pinned sha256 of {req}")
    return found


def _convert(source: Source, wheel: Path, dest: Path) -> Path:
    """Write ``source``'s member of ``wheel`` in the NLTK layout to ``dest``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(source.member)
    except KeyError:
        raise NltkDataError(f"{wheel.name} has no {source.member}") from None
    except zipfile.BadZipFile as exc:
        raise NltkDataError(f"{wheel.name} is not a readable wheel: {exc}") from exc
    if source.check is not None:
        problem = source.check(data)
        if problem:
            raise NltkDataError(f"{source.member} in {wheel.name}: {problem}")
    if source.zip_member is not None:
        data = deterministic_zip({source.zip_member: data})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def _build(archive: Path, identity: str, names: tuple[str, ...], files: Mapping[str, Path],
           folder: str | None, python: str, log: Log) -> str:
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=archive.parent))
    try:
        entries: dict[str, Path] = {}
        # The folder first, copied: the archive and its identity come from the same bytes.
        staged: dict[str, Path] = {}
        for number, rel in enumerate(sorted(files)):
            copy = work / "folder" / f"{number:06d}"
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(files[rel], copy)
            staged[rel] = copy
        hashes = _hash_files(staged)
        digest = _folder_digest(hashes) if staged else None
        if _identity({name: SOURCES[name] for name in names}, digest) != identity:
            raise NltkDataError(f"the NLTK data folder {folder} changed during the build: "
                                "run again")
        for rel, copy in staged.items():
            entries[f"{TOP}/{rel}"] = copy
        if names:
            log(f"  pip download {', '.join(SOURCES[n].requirement for n in names)} ...")
            wheels = download_sources(names, work, python=python)
            for name in names:
                source = SOURCES[name]
                converted = _convert(source, wheels[source.requirement], work / "data" / name)
                entries[f"{TOP}/{source.target}"] = converted
        tmp = work / (archive.name + ".tmp")  # removed with the work folder if cut short
        log(f"  packing {len(entries)} files -> {archive}")
        pack_tar(tmp, entries)
        return archive_cache.put_in_place(tmp, archive, {
            "identity": identity,
            "layout": LAYOUT_VERSION,
            "sources": {name: SOURCES[name].record() for name in names},
            "folder": folder,
            "folder_files": hashes,
            "members": {name: archive_cache.sha256_file(path) for name, path in entries.items()},
        })
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_nltk_data(resources: Sequence[str], folder: str | os.PathLike | None, *,
                     cache_dir: Path | None = None, python: str = sys.executable,
                     log: Log = print) -> NltkData:
    """The cached NLTK data archive for these resources and folder, built first when missing.

    ``cache_dir`` holds the archives (default ``default_cache_dir() / "nltk-data"``). A cached
    archive is reused when complete (written last, atomically) and matching its manifest's
    identity and sha256; the identity changes with the SOURCES used and the folder's files.
    """
    found, cached = find_nltk_data(resources, folder, cache_dir=cache_dir)
    if cached:
        return found

    def build() -> str:
        what = ", ".join(found.resources) or "no registry resources"
        log(f"building NLTK data ({what}; folder {found.folder}) ...")
        _, files, _ = _checked(resources, folder)
        return _build(found.archive, found.identity, found.resources, files, found.folder,
                      python, log)

    archive_cache.build_once(found.archive, {"identity": found.identity}, build,
                             what="NLTK data", log=log)
    return found

"""A TabPy server's operations (pyinfra): its releases, virtualenvs and units."""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from tabpy_provision.run import remote
from tabpy_provision.run.facts import (
    FirstLine,
    LinkName,
    SubfoldersByAge,
)
from tabpy_provision.server.facts import (
    IntactManifest,
    PasswordFileUsers,
    ReferencedVenvs,
    TabpyUnits,
)
from tabpy_provision.server.release import CHECKSUMS, MANIFEST, Release


@operation()
def tabpy_release(config_dir: str, release: Release, users: tuple[str, ...]):
    """The release folder, complete and intact; built in a staging folder and renamed into
    place, so a half-built release never exists under its name. Every file's bytes go from
    memory through remote.upload (never a file another user can read) and are never diffed."""
    releases = f"{config_dir}/releases"
    target = f"{releases}/{release.name}"
    if host.get_fact(IntactManifest, path=target) == release.manifest:
        return
    _announce_changes(config_dir, release, users)
    staging = f"{releases}/.staging-{release.name}"
    group = next(f.group for f in release.files)
    yield StringCommand("rm -rf", QuoteString(staging), QuoteString(target),
                        "&& install -d -m 0750 -o root -g", group, QuoteString(staging),
                        QuoteString(f"{staging}/tls"), QuoteString(f"{staging}/instances"))
    for item in release.files:
        yield remote.upload(item.content, f"{staging}/{item.path}", mode=item.mode,
                            owner=item.owner, group=item.group)
    yield remote.upload(release.checksums.encode(), f"{staging}/{CHECKSUMS}", mode="0644")
    yield StringCommand("ln -s", QuoteString(release.venv), QuoteString(f"{staging}/venv"))
    # The manifest goes last: a release folder without it is incomplete.
    yield remote.upload(release.manifest.encode(), f"{staging}/{MANIFEST}", mode="0644")
    yield StringCommand("sync -f", QuoteString(staging), "&& mv -T", QuoteString(staging),
                        QuoteString(target))


def _announce_changes(config_dir: str, release: Release, users: tuple[str, ...]) -> None:
    """Say what the new release changes against the active one: file names and user names,
    never contents or hashes."""
    active = host.get_fact(IntactManifest, path=f"{config_dir}/current") or ""
    changed = sorted(set(release.manifest.splitlines()) - set(active.splitlines()))
    names = [line.split(" ")[0] for line in changed]
    verb = "" if host.state.is_executing else "would be "
    host.log_styled(f"release {release.name}: {verb}changed: {', '.join(names)}")
    present = set(host.get_fact(PasswordFileUsers, path=f"{config_dir}/current/passwords"))
    added, removed = sorted(set(users) - present), sorted(present - set(users))
    if added or removed:
        host.log_styled("TabPy users " + "; ".join(
            f"{verb}{what}: {', '.join(who)}" for what, who in
            (("added", added), ("removed", removed)) if who))


def switch_command(config_dir: str, link: str, release_name: str) -> StringCommand:
    """Point `link` at a release by an atomic rename (never a moment without the link)."""
    return StringCommand("cd", QuoteString(config_dir), "&& ln -sfn",
                         QuoteString(f"releases/{release_name}"), QuoteString(f".{link}.new"),
                         "&& mv -T", QuoteString(f".{link}.new"), QuoteString(link))


@operation()
def other_units_stopped(service: str, wanted: list[str]):
    """TabPy units not in `wanted` (another process count: tabpy.service, tabpy@PORT)
    stopped and disabled."""
    for name in host.get_fact(TabpyUnits, service=service):
        if name not in wanted:
            yield StringCommand("systemctl disable --now --quiet", QuoteString(name))


@operation()
def prune_releases(config_dir: str, keep: int):
    """Remove old releases: never the current or previous one, at most `keep` in all."""
    names = host.get_fact(SubfoldersByAge, path=f"{config_dir}/releases")
    protected = {host.get_fact(LinkName, path=f"{config_dir}/{link}")
                 for link in ("current", "previous")} - {None}
    kept = [*protected, *[n for n in names if n not in protected]][:max(keep, len(protected))]
    for name in names:
        if name not in kept:
            yield StringCommand("rm -rf", QuoteString(f"{config_dir}/releases/{name}"))


@operation()
def prune_venvs(venvs_dir: str, config_dir: str, protect: str):
    """Remove virtualenvs no release uses any more (`protect`: the one being deployed)."""
    used = set(host.get_fact(ReferencedVenvs, releases_dir=f"{config_dir}/releases")) | {protect}
    for name in host.get_fact(SubfoldersByAge, path=venvs_dir):
        if name not in used:
            yield StringCommand("rm -rf", QuoteString(f"{venvs_dir}/{name}"))


#: In a virtualenv: the identity of what it holds, written once its install completed.
VENV_MARKER = ".tabpy-provision-wheelhouse"


#: Paths whose Python is never byte-compiled at install: the libraries' own test suites
#: (40% of the files; TabPy never imports them, and Python compiles in memory if one does).
NOT_COMPILED = r"/tests?/"


@operation()
def tabpy_venv(venv: str, archive: Path, identity: str, requirements: tuple[str, ...],
               work_dir: str, python: str, nltk_archive: Path | None = None):
    """A virtualenv of `python` with `requirements` (TabPy's, and the analysts' extras)
    installed from a pushed wheelhouse archive, offline, and the NLTK data archive unpacked in
    its share/ (where NLTK looks by default, and where the unit's NLTK_DATA points).
    Marked complete by a file holding `identity`: a partial install is redone.
    Files are hard links into uv's unpacked wheels (each written once; uv copies when the work
    folder is on another filesystem), removed with the work folder; bytecode is compiled as
    root, so the service runs from a venv it cannot write."""
    marker = f"{venv}/{VENV_MARKER}"
    if host.get_fact(FirstLine, path=marker) == identity:
        return
    q = shlex.quote
    archive_on_host, uv = f"{work_dir}/wheelhouse.tar", f"{work_dir}/bin/uv"
    # An install left running by a killed deploy must finish (or die) before this one starts.
    lock = ("flock", f"{work_dir}.lock", "sh", "-c")
    yield StringCommand(*lock, QuoteString(
        f"rm -rf {q(venv)} {q(work_dir)} && install -d -m 0700 {q(work_dir)}"))
    yield remote.upload(archive, archive_on_host)
    data_on_host = f"{work_dir}/nltk-data.tar"
    if nltk_archive is not None:
        yield remote.upload(nltk_archive, data_on_host)
    # Unpacked by root under umask 022: NLTK refuses data folders others may write.
    unpack_data = (f"mkdir -p {q(venv + '/share')}; tar -xf {q(data_on_host)} --no-same-owner "
                   f"-C {q(venv + '/share')}; ") if nltk_archive is not None else ""
    yield StringCommand(*lock, QuoteString(
        # a failed install (a full disk) leaves no partial virtualenv or work folder behind
        f"set -e; umask 022; v={q(venv)} w={q(work_dir)}; trap 'rm -rf \"$v\" \"$w\"' EXIT; "
        f"tar -xf {q(archive_on_host)} -C {q(work_dir)}; "
        f"export UV_CACHE_DIR={q(work_dir + '/cache')} UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never; "
        f"{q(uv)} venv --quiet --python {q(python)} {q(venv)}; "
        f"{q(uv)} pip install --quiet --offline --no-index --link-mode hardlink "
        f"--python {q(venv + '/bin/python')} --find-links {q(work_dir + '/wheels')} "
        f"{' '.join(map(q, requirements))}; {unpack_data}"
        f"{q(venv + '/bin/python')} -W ignore -m compileall -q -j 0 -x {q(NOT_COMPILED)} "
        f"{q(venv + '/lib')}; "
        f"echo {identity} > {q(marker)}; trap - EXIT; rm -rf {q(work_dir)}"))

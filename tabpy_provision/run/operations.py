"""Custom pyinfra operations: read the host's state with facts, yield only what closes the gap."""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation

from tabpy_provision.run import disk_space, host_claims, remote
from tabpy_provision.run.facts import (
    FileState,
    FirstLine,
    FolderStates,
    FreeSpace,
    IntactManifest,
    KeychainSha1s,
    LinkName,
    PasswordFileUsers,
    ReferencedVenvs,
    SubfoldersByAge,
    SystemAccount,
    TabpyUnits,
    TextFiles,
)
from tabpy_provision.run.summary import note_failure
from tabpy_provision.server.release import CHECKSUMS, MANIFEST, Release
from tabpy_provision.trust import plan as trust
from tabpy_provision.trust.plan import ClientTrustPlan


def _q(path: str) -> QuoteString:
    return QuoteString(path)


def _owner_and_mode(path: str, owner: str, group: str, mode: str) -> StringCommand:
    """Fix an existing path's owner, group and mode in place."""
    return StringCommand("chown", QuoteString(f"{owner}:{group}"), _q(path), "&& chmod", mode,
                         _q(path))


@operation()
def barrier():
    """Nothing, on every host. pyinfra orders operations per host only (another host's later
    operations may run first): what follows a barrier runs after what precedes it everywhere,
    e.g. Tableau is given a rotated password only once TabPy serves it."""
    yield from ()


@operation()
def system_account(account: str, home: str, shell: str = "/usr/sbin/nologin"):
    """A system user `account` with a group of its own, this home (not created), shell and
    this tool's comment (how a later run knows the account is TabPy's: run/host_claims.py): what
    server.group + server.user do, read with one command instead of a loop over every
    account of the host."""
    present = host.get_fact(SystemAccount, account=account)
    comment = host_claims.ACCOUNT_COMMENT
    named = ("--home-dir", QuoteString(home), "--shell", QuoteString(shell), "--comment",
             QuoteString(comment), QuoteString(account))
    if present["user"] is None:  # the preflight refused a group of that name alone
        yield StringCommand("useradd --system --no-create-home --user-group", *named)
    elif present["user"] != (account, home, shell, comment):
        yield StringCommand("usermod --gid", QuoteString(account), "--home", QuoteString(home),
                            "--shell", QuoteString(shell), "--comment", QuoteString(comment),
                            QuoteString(account))


@operation()
def folders(wanted: tuple[tuple[str, str, str, str], ...]):
    """Each (path, owner, group, mode) of `wanted` is a folder with that owner and mode
    (parents made as needed), all read with one command."""
    present = host.get_fact(FolderStates, paths=[path for path, *_ in wanted])
    for path, owner, group, mode in wanted:
        found = present.get(path)
        if found is None:
            yield StringCommand("install -d -o", QuoteString(owner), "-g", QuoteString(group),
                                "-m", mode, _q(path))
        elif found != (mode.zfill(4), owner, group):
            yield _owner_and_mode(path, owner, group, mode)


@operation()
def file_content(path: str, content: bytes, mode: str = "0644", owner: str = "root",
                 group: str = "root"):
    """The file `path` holds `content` with this owner and mode: written through remote.upload
    when its bytes differ (pyinfra's files.put goes through a predictable /tmp name under
    sudo), its owner or mode fixed in place when only they differ."""
    present = host.get_fact(FileState, path=path)
    if present is None or present[0] != hashlib.sha256(content).hexdigest():
        yield remote.upload(content, path, mode=mode, owner=owner, group=group)
    elif present[1:] != (mode.zfill(4), owner, group):
        yield _owner_and_mode(path, owner, group, mode)


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
    yield StringCommand("rm -rf", _q(staging), _q(target), "&& install -d -m 0750 -o root -g",
                        group, _q(staging), _q(f"{staging}/tls"), _q(f"{staging}/instances"))
    for item in release.files:
        yield remote.upload(item.content, f"{staging}/{item.path}", mode=item.mode,
                            owner=item.owner, group=item.group)
    yield remote.upload(release.checksums.encode(), f"{staging}/{CHECKSUMS}", mode="0644")
    yield StringCommand("ln -s", _q(release.venv), _q(f"{staging}/venv"))
    # The manifest goes last: a release folder without it is incomplete.
    yield remote.upload(release.manifest.encode(), f"{staging}/{MANIFEST}", mode="0644")
    yield StringCommand("sync -f", _q(staging), "&& mv -T", _q(staging), _q(target))


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
    return StringCommand("cd", _q(config_dir), "&& ln -sfn", _q(f"releases/{release_name}"),
                         _q(f".{link}.new"), "&& mv -T", _q(f".{link}.new"), _q(link))


@operation()
def other_units_stopped(service: str, wanted: list[str]):
    """TabPy units not in `wanted` (another process count: tabpy.service, tabpy@PORT)
    stopped and disabled."""
    for name in host.get_fact(TabpyUnits, service=service):
        if name not in wanted:
            yield StringCommand("systemctl disable --now --quiet", _q(name))


@operation()
def prune_releases(config_dir: str, keep: int):
    """Remove old releases: never the current or previous one, at most `keep` in all."""
    names = host.get_fact(SubfoldersByAge, path=f"{config_dir}/releases")
    protected = {host.get_fact(LinkName, path=f"{config_dir}/{link}")
                 for link in ("current", "previous")} - {None}
    kept = [*protected, *[n for n in names if n not in protected]][:max(keep, len(protected))]
    for name in names:
        if name not in kept:
            yield StringCommand("rm -rf", _q(f"{config_dir}/releases/{name}"))


@operation()
def prune_venvs(venvs_dir: str, config_dir: str, protect: str):
    """Remove virtualenvs no release uses any more (`protect`: the one being deployed)."""
    used = set(host.get_fact(ReferencedVenvs, releases_dir=f"{config_dir}/releases")) | {protect}
    for name in host.get_fact(SubfoldersByAge, path=venvs_dir):
        if name not in used:
            yield StringCommand("rm -rf", _q(f"{venvs_dir}/{name}"))


#: In a virtualenv: the identity of what it holds, written once its install completed.
VENV_MARKER = ".tabpy-provision-wheelhouse"

#: Paths whose Python is never byte-compiled at install: the libraries' own test suites
#: (40% of the files; TabPy never imports them, and Python compiles in memory if one does).
NOT_COMPILED = r"/tests?/"


@operation()
def room_for(needs: Callable[[], list[disk_space.Need]]):
    """Fails the host, before anything is written, when a file system lacks room for `needs`
    (called only when something is to be written: reading a wheelhouse's contents costs)."""
    wanted = needs()
    if not wanted:
        return
    short = disk_space.shortfalls(
        host.name, wanted, host.get_fact(FreeSpace, paths=sorted({n.path for n in wanted})))
    if short:
        if not host.state.is_executing:
            logger.warning("    [%s] %s", host.name, "; ".join(short))
        yield fail_command("; ".join(short), in_summary=True)


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


@operation()
def controller_check(check: Callable[[], tuple[bool, str]], success_note: str = ""):
    """Run `check` on the controller while the deploy executes. Passing is not a change
    (a healthy rerun reports no changes); failing fails the host with the reason."""
    if not host.state.is_executing:
        return
    ok, detail = check()
    if ok:
        host.noop(f"{success_note}{detail}")
        return
    yield fail_command(detail)


def fail_command(detail: str, *, in_summary: bool = False) -> FunctionCommand:
    """A command that fails the host, saying why (`in_summary`: also as its reason in the
    end-of-run summary)."""

    def fail(state, host) -> bool:  # (state, host): pyinfra then uses the return value
        if in_summary:
            note_failure(state, host.name, detail)
        host.log_styled(detail, fg="red")
        return False

    return FunctionCommand(fail, (), {})


@operation(is_idempotent=False)
def host_failed(reason: str):
    """Fail this host with `reason` at this point of its run (what came before stays done),
    e.g. a certificate renewal that failed while the current certificate keeps serving."""
    yield fail_command(reason, in_summary=True)


@operation()
def macos_trusted_certificates(plan: ClientTrustPlan, keychain: str = trust.SYSTEM_KEYCHAIN):
    """The macOS System keychain trusts exactly the plan's certificates among ours: missing
    ones added (looked up by SHA-1), retired or no longer wanted ones deleted, in one
    authorization window that is always closed again (trust.macos_trust_command). What this
    scope trusts is recorded (PEM, root-only folder) to know later what to remove; what other
    scopes' records want is never removed."""
    present = host.get_fact(KeychainSha1s, keychain=keychain)
    record = plan.macos_record_path
    folder = posixpath.dirname(record)
    records = host.get_fact(TextFiles, folder=folder, pattern="trusted-*.pem")
    recorded = records.get(posixpath.basename(record))
    elsewhere = [cert for name, lines in records.items() if name != posixpath.basename(record)
                 for cert in trust.read_record(lines)]
    adds, deletes = plan.macos_changes(present, trust.read_record(recorded), elsewhere)
    staged = [(cert, f"{folder}/{cert.name}.pem") for cert in (*adds, *deletes)]
    if staged or recorded is None:
        yield StringCommand("install -d -m 0700", _q(folder))
    for cert, path in staged:
        yield FileUploadCommand(BytesIO(cert.pem), path)
    if staged:
        yield StringCommand(trust.macos_trust_command(staged[:len(adds)], staged[len(adds):],
                                                      keychain))
    if recorded != plan.macos_record.decode().splitlines():
        yield FileUploadCommand(BytesIO(plan.macos_record), record)

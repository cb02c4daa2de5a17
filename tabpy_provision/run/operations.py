"""Custom pyinfra operations: read the host's state with facts, yield only what closes the gap."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from tabpy_provision.run import disk_space, host_claims, remote
from tabpy_provision.run.facts import (
    FileState,
    FolderStates,
    FreeSpace,
    SystemAccount,
)
from tabpy_provision.run.summary import note_failure


def _owner_and_mode(path: str, owner: str, group: str, mode: str) -> StringCommand:
    """Fix an existing path's owner, group and mode in place."""
    return StringCommand("chown", QuoteString(f"{owner}:{group}"), QuoteString(path),
                         "&& chmod", mode, QuoteString(path))


@operation()
def barrier():
    """Nothing, on every host. pyinfra orders operations per host only (another host's later
    operations may run first): what follows a barrier runs after what precedes it everywhere,
    e.g. Tableau is given a rotated password only once TabPy serves it."""
    yield from ()


@operation()
def system_account(account: str, home: str, shell: str = "/usr/sbin/nologin",
                   comment: str = host_claims.ACCOUNT_COMMENT):
    """A system user `account` with a group of its own, this home (not created), shell and
    this tool's comment (how a later run knows the account is ours: run/host_claims.py): what
    server.group + server.user do, read with one command instead of a loop over every
    account of the host."""
    present = host.get_fact(SystemAccount, account=account)
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
                                "-m", mode, QuoteString(path))
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



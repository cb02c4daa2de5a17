"""Backup and restore of TabPy hosts (deploy/backup.py, deploy/restore.py, deploy/failover.py).

A backup pulls, as one consistent snapshot, the active release's files (config, password file,
certificate chain and key) and TabPy's state (state.ini and the deployed models), streamed to
a private file on the controller, and files it encrypted once proven restorable
(backup/archive.py; the host's side: backup/commands.py). A restore verifies the archive BEFORE
touching the target, deploys the target from inventory with the TabPy version of the backup,
then swaps the backed-up state in while TabPy is stopped and checks that every model answers;
a failed restore puts the target's own state back. Config, users and TLS of a restored host
come from the inventory (the source of truth: a restore cannot bring back a rotated password or
a certificate for another name); the archive keeps them for audit (Snapshot.read).
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.state import State

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.backup import archive_members
from tabpy_provision.backup import commands as backup_commands
from tabpy_provision.controller.files import Staged
from tabpy_provision.platforms.facts import PythonTarget
from tabpy_provision.run import disk_space, remote
from tabpy_provision.run.current import run_of
from tabpy_provision.run.preflight import (
    BadInput,
    Preflight,
    preflight,
    refuse,
    root_access_problems,
    tabpy_python,
)
from tabpy_provision.run.release import MANIFEST
from tabpy_provision.run.summary import note_failure
from tabpy_provision.server import verify
from tabpy_provision.server.plan import TabpyServerPlan, project_path
from tabpy_provision.settings import value_checks
from tabpy_provision.settings.groups import TABPY_SERVERS
from tabpy_provision.settings.secret_refs import (
    SecretError,
    describe,
    passphrase_problem,
    resolve,
    secret_store,
)
from tabpy_provision.settings.table import with_defaults

WORK = backup_commands.WORK


def backup_passphrase(name: str, values: Mapping, files: Staged | None = None) -> str:
    """The backup key; a new generated one is staged in `files` (the run's; None: a check
    that writes nothing)."""
    reference = values.get("backup_key")
    if reference is None:
        raise BadInput(f"{name}: backup_key: required to encrypt and decrypt backups")
    try:
        passphrase = resolve(reference, store=secret_store(
            project_path(values["secrets_dir"]), values["secrets_vault_path"], "backup",
            files if files is not None else Staged()), store_key="backup_key",
            allow_plaintext=values["allow_plaintext_secrets"])
    except SecretError as error:
        raise BadInput(f"{name}: backup_key ({describe(reference)}): {error}") from None
    problem = passphrase_problem(passphrase)
    if problem:
        raise BadInput(f"{name}: backup_key ({describe(reference)}): {problem}")
    return passphrase


def _shell(target, command: str) -> tuple[bool, list[str]]:
    ok, output = remote.run(target, "sh", "-c", shlex.quote(command))
    return ok, output.stdout_lines + output.stderr_lines


# --- backup ------------------------------------------------------------------------------------

def snapshot_script(plan: TabpyServerPlan) -> str:
    """The host's script that takes the snapshot (backup_commands.snapshot_script). The
    release files are those the host's active release lists in its manifest (a release made
    by an older or newer version of this tool has other files than this one builds)."""
    tabpy = plan.settings.tabpy
    return backup_commands.snapshot_script(
        release_dir=plan.current_dir, release_manifest=f"{plan.current_dir}/{MANIFEST}",
        state_folders=archive_members.outermost(
            [tabpy.tabpy_state_path, tabpy.tabpy_query_object_path]),
        service=f"{tabpy.tabpy_service_name}.service", venv=plan.venv_link,
        max_bytes=plan.settings.backup.backup_max_bytes)


@operation()
def backup_host(plan: TabpyServerPlan, passphrase_of: Callable[[], str]):
    """Snapshot the host, bring it over in chunks, encrypt it into
    backup_dir/environment/host (0600), keep the newest backup_keep."""
    if not host.state.is_executing:
        return
    tabpy, backup = plan.settings.tabpy, plan.settings.backup

    def back_up(state, host) -> bool:
        def failed(reason: str) -> bool:
            note_failure(state, host.name, reason)
            host.log_styled(reason, fg="red")
            return False

        ok, output = remote.run(host, "sh", "-c", shlex.quote(snapshot_script(plan)))
        refusal = backup_commands.snapshot_refusal(output.stdout_lines,
                                                   max_bytes=backup.backup_max_bytes)
        taken = backup_commands.snapshot_taken(output.stdout_lines) if ok else None
        if refusal or taken is None:
            said = (output.stderr_lines or output.stdout_lines)[-3:]
            return failed(refusal or f"snapshot failed: {' '.join(said)}")
        now = datetime.now(UTC)
        backup_dir, environment = project_path(backup.backup_dir), backup.environment
        room = disk_space.room_problem(backup_dir, 3 * taken.size, "this backup (the snapshot, "
                                       "its archive and the archive's proof)")
        if room:
            return failed(f"backup_dir: {room}; nothing written")
        path = backup_archive.archive_path(backup_dir, environment, plan.host, now)
        backup_archive.hold_private(backup_dir, path)
        with backup_archive.workspace(backup_dir) as work:
            tar = Path(work) / "snapshot.tar"
            ok, said = remote.download(host, backup_commands.send_command(), tar)
            if not ok or tar.stat().st_size != taken.size:
                return failed(f"the snapshot's transfer failed ({tar.stat().st_size} of "
                              f"{taken.size} bytes): {said}")
            try:
                manifest = backup_archive.manifest_from_tar(
                    tar, host=plan.host, fqdn=plan.fqdn, created=now.isoformat(),
                    tabpy_version=taken.tabpy_version, python_version=taken.python_version,
                    query_object_path=tabpy.tabpy_query_object_path,
                    state_path=tabpy.tabpy_state_path, settings=_public_settings(plan))
            except backup_archive.ArchiveError as error:
                return failed(f"backup refused: {error}")
            proof = Path(work) / "proof"
            proof.mkdir(mode=0o700)
            try:
                proven = backup_archive.write_proven(tar, manifest, passphrase_of(), path,
                                                     host=plan.host, now=now, folder=proof)
            except backup_archive.ArchiveError as error:
                return failed(f"the new archive failed its proof ({error}): not kept, the "
                              "older archives untouched")
            summary = proven.models_summary()
        kept = backup_archive.archives(backup_dir, environment, plan.host)
        for old in backup_archive.expired(kept, backup.backup_keep, path):
            old.unlink()
        host.log_styled(f"backed up to {path}, proven restorable ({len(manifest['files'])} "
                        f"members, {taken.size} bytes of tar, TabPy {taken.tabpy_version}; "
                        f"{summary})")
        return True

    yield FunctionCommand(back_up, (), {})


def _public_settings(plan: TabpyServerPlan) -> dict:
    """The host's settings for the manifest: secret references described, never resolved.
    (Every setting by its name, as the manifest keeps them: read from the mapping.)"""
    values = dict(plan.values)
    values["tabpy_users"] = {user: describe(ref) for user, ref in values["tabpy_users"].items()}
    for name in ("backup_key", "tabpy_key_passphrase"):
        if values.get(name) is not None:
            values[name] = describe(values[name])
    return json.loads(json.dumps(values, default=str))


# --- restore -----------------------------------------------------------------------------------

@dataclass
class RestorePlan:
    preflight: Preflight
    snapshots: dict[str, backup_archive.Snapshot] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    #: The private folders holding the verified snapshots, for as long as the run needs them.
    workspaces: list[tempfile.TemporaryDirectory] = field(default_factory=list)


def restore_preflight(state: State) -> RestorePlan:
    """Find and verify every archive to restore, before any change anywhere; then plan the
    targets with the TabPy version of their backup."""
    run = run_of(state)
    with run.lock:
        if run.restore is None:
            try:
                run.restore = _check_restores(state)
            except BadInput as error:
                run.restore = error
    result = run.restore
    if isinstance(result, BadInput):
        raise result
    return result


def _check_restores(state: State) -> RestorePlan:
    snapshots, sources, overrides, problems, workspaces = {}, {}, {}, [], []
    access = root_access_problems(state)  # before the facts below
    if access:
        refuse(access)
    active = set(state.inventory.get_active_hosts())  # honours --limit
    for target in state.inventory.get_group(TABPY_SERVERS, []):
        if target not in active:
            continue
        data = target.data.dict()
        try:
            path = _archive_for(target.name, data)
            # beside the archive (its folder exists): a check creates or tightens no folder
            workspaces.append(backup_archive.workspace(path.parent))
            snapshot = backup_archive.open_archive(
                path, backup_passphrase(target.name, with_defaults(data)),
                Path(workspaces[-1].name))
        except backup_archive.ArchiveError as error:
            problems.append(f"{target.name}: restore archive {path}: {error}")
            continue
        except BadInput as error:
            problems += error.problems
            continue
        backed_python = ".".join(snapshot.manifest["python_version"].split(".")[:2])
        abi = (remote.read_once(target, PythonTarget, python=tabpy_python(target))
               or {}).get("abi", "")
        if f"cp{backed_python.replace('.', '')}" != abi and not data.get(
                "restore_allow_python_change"):
            problems.append(f"{target.name}: restore: the models were saved by Python "
                            f"{backed_python}, this host runs {abi or 'no python3'}: they may "
                            "not load (set restore_allow_python_change to try anyway)")
            continue
        snapshots[target.name], sources[target.name] = snapshot, path
        overrides[target.name] = {"tabpy_version": snapshot.manifest["tabpy_version"]}
    if problems:
        refuse(problems)
    for name, path in sources.items():
        logger.info(f"    [{name}] restoring {path} (verified: authentication tag and "
                    f"{len(snapshots[name].manifest['files'])} members)")
    return RestorePlan(preflight(state, overrides=overrides), snapshots, sources,
                       workspaces=workspaces)


def _archive_for(target: str, data: Mapping) -> Path:
    """`restore_archive` (a path), else the newest backup of `restore_from` (default: the
    target itself) in `restore_environment` (default: this inventory's environment)."""
    values = with_defaults(data)
    if data.get("restore_archive"):
        return project_path(data["restore_archive"])
    source = data.get("restore_from") or target
    environment = data.get("restore_environment") or values["environment"]
    # Both name folders under backup_dir: neither may leave it.
    if value_checks.dns_name_problem(source):
        raise BadInput(f"{target}: restore_from: {value_checks.dns_name_problem(source)}")
    if value_checks.unix_name(environment):
        raise BadInput(f"{target}: restore_environment: {value_checks.unix_name(environment)}")
    found = backup_archive.archives(project_path(values["backup_dir"]), environment, source)
    if not found:
        raise BadInput(f"{target}: restore: no backup of {source} in "
                       f"{project_path(values['backup_dir']) / environment / source}")
    return found[-1]


@operation()
def restore_host(plan: TabpyServerPlan, snapshot: backup_archive.Snapshot, source: Path):
    """Swap the backed-up state in (TabPy stopped), start, check every model; on failure put
    the target's own state back and start it again."""
    if not host.state.is_executing:
        host.noop(f"would restore {source}")
        return
    tabpy = plan.settings.tabpy
    state_dirs = [tabpy.tabpy_state_path, tabpy.tabpy_query_object_path]
    q = shlex.quote
    staging = " ".join(q(f"{d}.restore") for d in state_dirs)
    yield StringCommand("rm -rf", staging)
    yield StringCommand("install -d -m 0700", q(f"{WORK}"))

    def send(state, host) -> bool:
        state_tar = backup_archive.state_tar(snapshot)
        try:
            ok, said = remote.write_file(host, f"{WORK}/state.tar", state_tar)
        finally:
            state_tar.unlink()
        if not ok:
            host.log_styled(f"sending the state failed: {said}", fg="red")
        return ok

    yield FunctionCommand(send, (), {})
    yield StringCommand(f"trap 'rm -rf {WORK}' EXIT;", backup_commands.extract_command(
        f"{WORK}/state.tar", snapshot.staging_moves(tabpy.tabpy_state_path,
                                                    tabpy.tabpy_query_object_path)))

    def swap(state, host) -> bool:
        service = q(f"{tabpy.tabpy_service_name}.service")
        move_in = "; ".join(f"rm -rf {q(d)}.pre-restore; mv {q(d)} {q(d)}.pre-restore; "
                            f"mv {q(d)}.restore {q(d)}" for d in state_dirs)
        move_back = "; ".join(f"rm -rf {q(d)}; mv {q(d)}.pre-restore {q(d)}" for d in state_dirs)
        _shell(host, f"systemctl stop {service}; {move_in}; systemctl start {service}")
        problem = models_problem(plan, snapshot.models)
        if problem is None:
            host.log_styled(f"restored {source.name}, every model answering: "
                            f"{snapshot.models_summary()}")
            return True
        host.log_styled(f"restore failed: {problem}; putting this host's own state back",
                        fg="red")
        _shell(host, f"systemctl stop {service}; {move_back}; systemctl start {service}")
        return False

    yield FunctionCommand(swap, (), {})


def models_problem(plan: TabpyServerPlan, models: list[str]) -> str | None:
    """None when TabPy serves and every model is listed and answers on /query/<name>."""
    common = dict(plan.endpoint_args, credentials=plan.health_credentials)
    timeout = plan.settings.secrets.tabpy_health_check_timeout
    up = verify.wait_for_tabpy(timeout, evaluate=plan.settings.tabpy.tabpy_evaluate_enable,
                               **common)
    if up.ok:
        up = verify.wait_for_tabpy(timeout,
                                   check=verify.check_models_loaded, **common)
    if not up.ok:
        return up.detail
    listed = verify.request("GET", "/endpoints", **common)
    known = listed.json() if listed.status == 200 else {}
    for model in models:
        # TabPy's endpoint names may hold spaces (its Sentiment Analysis does)
        answer = verify.request("POST", "/query/" + urllib.parse.quote(model, safe=""),
                                body={"data": {}}, **common)
        if model not in known or answer.status == 404:
            return f"model {model!r} does not answer on /query/{model} (HTTP {answer.status})"
    return None


def seconds_since_process_start() -> float:
    """How long this process has run (the RTO clock starts when the command starts)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


@operation()
def report_recovery_time():
    """Print the RTO once, from the first host still running, when every host passed."""
    state = host.state
    if state.is_executing and host.name == min(h.name for h in state.active_hosts):
        if state.failed_hosts:
            host.log_styled("failover incomplete: see the failed hosts above", fg="red")
        else:
            host.log_styled(f"RTO: {seconds_since_process_start():.1f} s from the command's "
                            "start to passing verification", fg="green")
    yield from ()

"""Keep the controller's state of an environment safe beyond the controller:

    tabpy-provision state backup [-i INVENTORY] [--out FILE]
    tabpy-provision state restore ARCHIVE [-i INVENTORY] [--replace]

The state is what makes an environment the same one on the next run: its private CA (and the
keys it issued) and its generated passwords and keys (pki_dir, secrets_dir of its TabPy servers
and balancers). Without it a new controller is refused by the deploy (it would mint a new CA
and new passwords); with it, the next deploy changes nothing. The archive is encrypted with the
passphrase of `controller_state_key` (a secret reference kept off the controller); copy it off
the controller (object store, vault, another site). Generated passwords kept in Vault
(secrets_vault_path) are not in it: Vault keeps them.

Exit codes: 0 done, 1 refused (nothing written).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.cli import common
from tabpy_provision.cli.common import Refused
from tabpy_provision.controller import state_archive
from tabpy_provision.controller.files import ControllerFileError, Staged
from tabpy_provision.server.plan import project_path
from tabpy_provision.settings import groups
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.secret_refs import (
    SecretError,
    describe,
    passphrase_problem,
    resolve,
    secret_store,
)


def environment_of(inventory) -> tuple[str, dict[str, Path], str]:
    """(environment, {setting.index: folder}, passphrase): the environment and key of the
    inventory's TabPy servers (they must agree), the folders of them and their balancers."""
    servers = common.group_data(inventory, groups.TABPY_SERVERS)
    if not servers:
        raise Refused(f"no host in {groups.TABPY_SERVERS}")
    environments, references, folders = set(), set(), {}
    for name, data in (*servers, *common.group_data(inventory, groups.POOL)):
        values = settings.with_defaults(data)
        if (name, data) in servers:
            environments.add(values["environment"])
            references.add(values["controller_state_key"])
        for setting in ("pki_dir", "secrets_dir"):
            folder = project_path(values[setting])
            if folder not in folders.values():
                folders[f"{setting}.{sum(k.startswith(setting) for k in folders)}"] = folder
    if len(environments) > 1:
        raise Refused(f"environment: the hosts disagree ({', '.join(sorted(environments))})")
    if len(references) > 1 or None in references:
        raise Refused("controller_state_key: required, and the same on every TabPy server")
    reference = references.pop()
    try:
        passphrase = resolve(reference, store=secret_store(Path("/nonexistent"), None, "-",
                                                           Staged()),
                             store_key="-", allow_plaintext=False)
    except SecretError as error:
        raise Refused(f"controller_state_key ({describe(reference)}): {error}") from None
    problem = passphrase_problem(passphrase)
    if problem:
        raise Refused(f"controller_state_key ({describe(reference)}): {problem}")
    return environments.pop(), folders, passphrase


def backup(inventory: str, out: Path | None) -> str:
    environment, folders, passphrase = environment_of(inventory)
    present = {key: folder for key, folder in folders.items() if folder.is_dir()}
    if not present:
        raise Refused(f"no controller state to back up ({', '.join(map(str, folders.values()))} "
                      "missing)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or Path.cwd() / state_archive.archive_name(environment, stamp)
    try:
        state_archive.pack_state(present, passphrase, target, environment=environment)
    except backup_archive.ArchiveError as error:
        raise Refused(f"{error} (nothing written)") from None
    return (f"{target}: controller state of {environment} ({len(present)} folders), encrypted; "
            "copy it off this controller")


def restore(inventory: str, archive: Path, replace: bool) -> str:
    environment, folders, passphrase = environment_of(inventory)
    files = Staged()
    try:
        done = state_archive.stage_restore(archive, passphrase, folders, files,
                                           environment=environment, replace=replace)
    except backup_archive.ArchiveError as error:
        raise Refused(f"{archive}: {error}") from None
    if done.conflicts:
        raise Refused(f"{done.conflicts[0]} (and {len(done.conflicts) - 1} more) differ from the "
                      "archive: this controller holds another state; --replace overwrites it")
    files.apply()
    return (f"restored {len(done.written)} files of {environment} ({done.unchanged} already "
            "equal); the next deploy should change nothing")


def register(sub) -> None:
    parser = sub.add_parser("state", help="the controller's state of an environment (its CA, "
                            "generated passwords and keys), encrypted, to keep it beyond the "
                            "controller", description=__doc__.split("\n\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    backup_cmd = actions.add_parser("backup", help="write the encrypted state archive")
    backup_cmd.add_argument("--out", type=Path, help="default: ./<environment>-<UTC time>"
                                                     f"{state_archive.SUFFIX}")
    restore_cmd = actions.add_parser("restore", help="put an archive's state back")
    restore_cmd.add_argument("archive", type=Path)
    restore_cmd.add_argument("--replace", action="store_true",
                             help="overwrite state this controller holds that differs")
    for action in (backup_cmd, restore_cmd):
        common.add_inventory(action)
        action.set_defaults(func=run)


def run(args) -> int:
    inventory = common.load_state(args).inventory
    try:
        if args.action == "backup":
            print(backup(inventory, args.out))
        else:
            print(restore(inventory, args.archive, args.replace))
    except ControllerFileError as error:
        raise Refused(str(error)) from None
    return common.OK

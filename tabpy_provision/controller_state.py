"""Keep the controller's state of an environment safe beyond the controller:

    python -m tabpy_provision.controller_state INVENTORY backup [--out FILE]
    python -m tabpy_provision.controller_state INVENTORY restore ARCHIVE [--replace]

The state is what makes an environment the same one on the next run: its private CA (and the
keys it issued) and its generated passwords and keys (pki_dir, secrets_dir of its TabPy servers
and balancers). Without it a new controller is refused by the deploy (it would mint a new CA
and new passwords); with it, the next deploy changes nothing. The archive is encrypted with the
passphrase of `controller_state_key` (a secret reference kept off the controller); copy it off
the controller (object store, vault, another site). Generated passwords kept in Vault
(secrets_vault_path) are not in it: Vault keeps them.

Exit codes: 0 done, 1 refused (nothing written), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.controller import state_archive
from tabpy_provision.controller.files import ControllerFileError, Staged
from tabpy_provision.pool import balancer
from tabpy_provision.server.plan import project_path
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.groups import TABPY_SERVERS as TABPY_GROUP
from tabpy_provision.settings.secret_refs import (
    SecretError,
    describe,
    passphrase_problem,
    resolve,
    secret_store,
)
from tabpy_provision.site_check import load_hosts


class Refused(Exception):
    """One line saying why nothing was done."""


def environment_of(inventory: str) -> tuple[str, dict[str, Path], str]:
    """(environment, {setting.index: folder}, passphrase): the environment and key of the
    inventory's TabPy servers (they must agree), the folders of them and their balancers."""
    servers = load_hosts(inventory, TABPY_GROUP)
    if not servers:
        raise Refused(f"{inventory}: no host in {TABPY_GROUP}")
    environments, references, folders = set(), set(), {}
    for name, data in (*servers, *load_hosts(inventory, balancer.GROUP)):
        problems = settings.check_values(name, data)
        if problems:
            raise Refused(problems[0])
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tabpy_provision.controller_state",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("inventory")
    sub = parser.add_subparsers(dest="command", required=True)
    backup_cmd = sub.add_parser("backup", help="write the encrypted state archive")
    backup_cmd.add_argument("--out", type=Path, help="default: ./<environment>-<UTC time>"
                                                     f"{state_archive.SUFFIX}")
    restore_cmd = sub.add_parser("restore", help="put an archive's state back")
    restore_cmd.add_argument("archive", type=Path)
    restore_cmd.add_argument("--replace", action="store_true",
                             help="overwrite state this controller holds that differs")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            print(backup(args.inventory, args.out))
        else:
            print(restore(args.inventory, args.archive, args.replace))
    except (Refused, ControllerFileError) as error:
        print(f"tabpy-provision: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

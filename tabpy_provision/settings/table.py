"""What is done with every setting of tabpy-provision (the one list: settings/catalogue.py).

The settings reference (docs/settings.md, written by
settings_reference.py and kept equal by a test), the refusal of unknown keys and the validation
that runs before any host is touched all come from `SETTINGS`. No pyinfra import here: this
module is pure and unit-tested in milliseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from tabpy_provision.settings.catalogue import ROLES, SETTINGS
from tabpy_provision.settings.errors import ProvisionError
from tabpy_provision.settings.model import Role, Setting

__all__ = ["ROLES", "SETTINGS", "Role", "Setting"]


ROLE_BY_NAME = {role.name: role for role in ROLES}


class SettingsError(ProvisionError):
    """Bad inputs; `problems` holds one line per problem, each naming host and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def defaults() -> dict[str, Any]:
    """The data_defaults of the TabPy server @deploy."""
    return {s.name: s.default for s in SETTINGS}


def with_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting's value for one host: declared, else the default."""
    return {s.name: data.get(s.name, s.default) for s in SETTINGS}


def check_values(host: str, data: Mapping[str, Any]) -> list[str]:
    """Check the declared settings of one host; return `host: field: problem` lines."""
    problems = []
    for setting in SETTINGS:
        problem = setting.check(data.get(setting.name, setting.default))
        if problem:
            problems.append(f"{host}: {setting.name}: {problem}")
    return problems


#: Keys a run takes from `--data` that are not settings (what one run should do).
RUN_OPTIONS = {
    "rotate_users": "rotate (`--users`): the users to rotate (default: every generated one)",
    "restore_from": "restore, failover (`--from`): the host whose backup is restored",
    "restore_environment": "restore, failover (`--environment`): the environment the backup "
                           "was filed under",
    "restore_archive": "restore, failover (`--archive`): one archive instead of the newest",
    "acme_renew": "deploy (`--acme-renew`): order new ACME certificates now, before their "
                  "renewal window: all, or names (tabpy1.example.com,tabpy.example.com)",
    "new_identity": "deploy (`--new-identity`): give hosts that already serve another CA, or "
                    "hold users this controller has no generated password for, a new CA and new "
                    "passwords",
}
#: pyinfra's own data: connectors' settings and global arguments (`_sudo`, `_env`, ...).
PYINFRA_PREFIXES = ("ssh_", "winrm_", "docker_", "dockerssh_", "chroot_", "podman_", "local_",
                    "terraform_", "vagrant_", "_")


def unknown_keys(host: str, data: Iterable[str]) -> list[str]:
    """`host: key: unknown setting (did you mean ...?)` for each key no one reads."""
    known = [*BY_NAME, *RUN_OPTIONS]
    problems = []
    for key in sorted(data):
        if key in BY_NAME or key in RUN_OPTIONS or key.startswith(PYINFRA_PREFIXES):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{host}: {key}: unknown setting{hint}")
    return problems


def input_problems(host: str, data: Mapping[str, Any]) -> list[str]:
    """The one check of a host's inventory data that every command reading an inventory runs
    before anything else: no unknown key, every declared value valid on its own."""
    return unknown_keys(host, data) or check_values(host, data)


def refusal_lines(problems: list[str]) -> list[str]:
    """How every command and deploy ends when its input is refused: each problem, then one
    closing line of ours (no source file, no traceback)."""
    count = len(problems)
    return [f"tabpy-provision: {line}" for line in problems] + [
        f"tabpy-provision: refused ({count} problem{'' if count == 1 else 's'}); nothing was "
        "changed"]


def misplaced_keys(host: str, data: Iterable[str], groups: Iterable[str]) -> list[str]:
    """`host: key: ...` for settings the host's groups do not read (a warning: group data
    shared by several groups may well hold them)."""
    groups = set(groups)
    lines = []
    for key in sorted(data):
        setting = BY_NAME.get(key)
        role = ROLE_BY_NAME[setting.role] if setting else None
        if role and role.groups is not None and not groups & set(role.groups):
            lines.append(f"{host}: {key}: a {role.name} setting, read only on hosts "
                         f"of {', '.join(role.groups)}: ignored here")
    return lines

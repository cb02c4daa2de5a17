"""The SystemAccount fact's command, run in this machine's own sh against its own accounts."""

import pwd
import subprocess

from tabpy_provision.facts import SystemAccount


def _read(account: str):
    fact = SystemAccount()
    command = fact.command(account=account).get_raw_value()
    lines = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return fact.process(lines) if lines else fact.default()


def test_an_existing_account_is_read_with_its_group_home_and_shell():
    root = pwd.getpwnam("root")
    assert _read("root") == {"group": True, "user": ("root", root.pw_dir, root.pw_shell)}


def test_a_missing_account_and_group_read_as_absent():
    assert _read("no-such-account-here") == {"group": False, "user": None}

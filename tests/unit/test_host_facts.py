"""Account and folder facts, their commands run in this machine's own sh against its own files."""

import grp
import pwd
import subprocess
from pathlib import Path

from tabpy_provision.functions.facts import PublishedFunctions
from tabpy_provision.run.facts import FolderStates, SystemAccount


def _read(account: str):
    fact = SystemAccount()
    command = fact.command(account=account).get_raw_value()
    lines = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return fact.process(lines) if lines else fact.default()


def test_an_existing_account_is_read_with_its_group_home_and_shell():
    root = pwd.getpwnam("root")
    assert _read("root") == {"group": True, "user": ("root", root.pw_dir, root.pw_shell,
                                                     root.pw_gecos)}


def test_a_missing_account_and_group_read_as_absent():
    assert _read("no-such-account-here") == {"group": False, "user": None}


def test_folder_states_read_back_owner_group_and_mode_of_folders_only(tmp_path):
    odd = tmp_path / "a folder with spaces"
    odd.mkdir(mode=0o750)
    odd.chmod(0o750)
    (tmp_path / "a file").write_text("")
    paths = [str(odd), str(tmp_path / "a file"), str(tmp_path / "missing")]
    fact = FolderStates()
    lines = subprocess.run(["sh", "-c", fact.command(paths=paths).get_raw_value()],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    user = pwd.getpwuid(odd.stat().st_uid).pw_name
    group = grp.getgrgid(odd.stat().st_gid).gr_name
    assert fact.process(lines) == {str(odd): ("0750", user, group)}


def test_published_functions_are_read_from_each_state_folder_with_its_record(tmp_path):
    recorded = Path(__file__).parent / "recorded" / "tabpy-2.16.0-state.ini"
    one, two, three = tmp_path / "9101", tmp_path / "9102", tmp_path / "no state yet"
    for folder in (one, two):
        folder.mkdir()
        (folder / "state.ini").write_text(recorded.read_text())
    (one / "record.json").write_text("{}")
    fact = PublishedFunctions()
    command = fact.command(folders=[str(one), str(two), str(three)],
                           record="record.json").get_raw_value()
    lines = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    found = fact.process(lines)
    assert found[str(three)] == ({}, False)
    assert found[str(one)][1] is True and found[str(two)][1] is False
    assert set(found[str(one)][0]) == {"add_one", "anova", "ttest", "PCA"}
    assert found[str(one)][0] == found[str(two)][0]

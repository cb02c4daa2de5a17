import os
from pathlib import Path

import pytest

from tabpy_provision.backup.archive import ArchiveError
from tabpy_provision.controller.files import Staged
from tabpy_provision.controller.state_archive import pack_state, stage_restore
from tests.unit.crafted import KEY, Entry, archive_of, tree

RECORDED = Path(__file__).parent / "recorded" / "format-1" / "lab.tabpy-controller"


def packed(folders, tmp_path, environment="lab") -> Path:
    out = tmp_path / "archives" / "state.tabpy-controller"
    pack_state(folders, KEY, out, environment=environment)
    return out


@pytest.fixture
def state(tmp_path):
    pki, secrets = tmp_path / "pki", tmp_path / "secrets"
    (pki / "ca").mkdir(parents=True)
    (pki / "ca" / "root.key").write_bytes(b"ROOT KEY")
    (secrets / "tabpy_users").mkdir(parents=True)
    (secrets / "tabpy_users" / "alice").write_bytes(b"s3cret-password\n")
    return {"pki_dir.0": pki, "secrets_dir.0": secrets}


def test_round_trip_into_other_folders(state, tmp_path):
    archive = packed(state, tmp_path)
    assert b"ROOT KEY" not in archive.read_bytes()
    assert b"s3cret-password" not in archive.read_bytes()
    elsewhere = {"pki_dir.0": tmp_path / "new" / "pki", "secrets_dir.0": tmp_path / "new" / "s"}
    files = Staged()
    done = stage_restore(archive, KEY, elsewhere, files, environment="lab")
    assert not (tmp_path / "new").exists()
    files.apply()
    assert (tmp_path / "new/pki/ca/root.key").read_bytes() == b"ROOT KEY"
    assert (tmp_path / "new/s/tabpy_users/alice").stat().st_mode & 0o077 == 0
    assert len(done.written) == 2 and done.conflicts == ()
    again = stage_restore(archive, KEY, elsewhere, Staged(), environment="lab")
    assert again.written == () and again.unchanged == 2


def test_a_different_state_is_not_overwritten_unless_asked(state, tmp_path):
    archive = packed(state, tmp_path)
    (state["pki_dir.0"] / "ca" / "root.key").write_bytes(b"ANOTHER KEY")
    done = stage_restore(archive, KEY, state, Staged(), environment="lab")
    assert done.conflicts == (str(state["pki_dir.0"] / "ca" / "root.key"),)
    files = Staged()
    stage_restore(archive, KEY, state, files, environment="lab", replace=True)
    files.apply()
    assert (state["pki_dir.0"] / "ca" / "root.key").read_bytes() == b"ROOT KEY"


@pytest.mark.parametrize("key, environment, message", [
    ("wrong key, long enough", "lab", "authentication failed"),
    (KEY, "production", "archive of environment 'lab', the inventory's is 'production'"),
])
def test_refusals(state, tmp_path, key, environment, message):
    archive = packed(state, tmp_path)
    with pytest.raises(ArchiveError, match=message):
        stage_restore(archive, key, state, Staged(), environment=environment)


def test_a_format_1_archive_is_still_restored(tmp_path):
    """Recorded with the format 1 code (commit 4844edf): pki/ca/root.key and
    secrets/tabpy_users/alice."""
    folders = {"pki_dir.0": tmp_path / "pki", "secrets_dir.0": tmp_path / "secrets"}
    files = Staged()
    done = stage_restore(RECORDED, KEY, folders, files, environment="lab")
    files.apply()
    assert len(done.written) == 2
    assert (tmp_path / "pki/ca/root.key").read_bytes() == b"ROOTKEY\n"
    assert (tmp_path / "secrets/tabpy_users/alice").read_bytes() == b"pw\n"


@pytest.mark.parametrize("bad", [
    Entry("pki_dir.0//abs/path", data=b"own"),  # issue 27: was written to /abs/path
    Entry("/pki_dir.0/ca/x", data=b"own"),
    Entry("pki_dir.0/../../../x", data=b"own"),
    Entry("pki_dir.0/ca/./x", data=b"own"),
    Entry("pki_dir.0/ca/root.key", data=b"a second root key"),  # a duplicate
    Entry("pki_dir.0/ca/link", "symlink", "/etc/shadow"),
    Entry("pki_dir.0/ca/link", "symlink", "root.key"),
    Entry("pki_dir.0/ca/hard", "hardlink", "pki_dir.0/ca/root.key"),
    Entry("pki_dir.0/ca/fifo", "fifo"),
    Entry("pki_dir.0/ca/null", "char"),
    Entry("pki_dir.0/sub", "dir"),
    Entry("elsewhere.0/x", data=b"a folder the inventory does not have"),
    Entry("pki_dir.0", data=b"a file instead of the folder"),  # the key below it is named
])
def test_a_crafted_state_archive_is_refused_whole_before_anything_is_staged(tmp_path, bad):
    folders = {"pki_dir.0": tmp_path / "pki", "secrets_dir.0": tmp_path / "secrets"}
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "kept").write_bytes(b"as it was")
    crafted = [Entry("pki_dir.0/ca/root.key", data=b"ROOT KEY"),
               Entry("secrets_dir.0/tabpy_users/alice", data=b"pw\n"), bad]
    archive = archive_of(crafted, tmp_path, kind="controller-state", environment="lab")
    before, files = tree(tmp_path), Staged()
    with pytest.raises(ArchiveError) as refused:
        stage_restore(archive, KEY, folders, files, environment="lab")
    named = "pki_dir.0/ca/root.key" if bad.name == "pki_dir.0" else bad.name
    assert str(refused.value).startswith(f"/{named}: ")
    assert files.changes() == []
    files.apply()
    assert tree(tmp_path) == before


@pytest.mark.parametrize("make, kind", [
    (lambda path: path.symlink_to("/etc/hostname"), "a symbolic link"),
    (lambda path: path.symlink_to("root.key"), "a symbolic link"),
    (os.mkfifo, "a special file"),
])
def test_the_state_pack_refuses_what_is_not_a_regular_file(state, tmp_path, make, kind):
    """Before issue 27 a link in pki_dir was followed: its target's bytes were archived."""
    make(state["pki_dir.0"] / "ca" / "other")
    with pytest.raises(ArchiveError, match=f"pki/ca/other: {kind}; the controller's state "
                                           "holds regular files only"):
        packed(state, tmp_path)
    assert not (tmp_path / "archives").exists() or not any((tmp_path / "archives").iterdir())

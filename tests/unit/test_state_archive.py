from pathlib import Path

import pytest

from tabpy_provision.backup_archive import ArchiveError
from tabpy_provision.controller.files import Staged
from tabpy_provision.controller.state_archive import pack_state, stage_restore

KEY = "correct horse battery staple"


RECORDED = Path(__file__).parent / "recorded" / "format-1" / "lab.tabpy-controller"


def packed(folders, tmp_path, environment="lab") -> Path:
    out = tmp_path / "state.tabpy-controller"
    with out.open("wb") as archive:
        pack_state(folders, KEY, archive, environment=environment)
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

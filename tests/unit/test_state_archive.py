import pytest

from tabpy_provision.backup_archive import ArchiveError
from tabpy_provision.controller.files import Staged
from tabpy_provision.controller.state_archive import pack_state, stage_restore

KEY = "correct horse battery staple"


@pytest.fixture
def state(tmp_path):
    pki, secrets = tmp_path / "pki", tmp_path / "secrets"
    (pki / "ca").mkdir(parents=True)
    (pki / "ca" / "root.key").write_bytes(b"ROOT KEY")
    (secrets / "tabpy_users").mkdir(parents=True)
    (secrets / "tabpy_users" / "alice").write_bytes(b"s3cret-password\n")
    return {"pki_dir.0": pki, "secrets_dir.0": secrets}


def test_round_trip_into_other_folders(state, tmp_path):
    archive = pack_state(state, KEY, environment="lab")
    assert b"ROOT KEY" not in archive and b"s3cret-password" not in archive
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


def test_a_different_state_is_not_overwritten_unless_asked(state):
    archive = pack_state(state, KEY, environment="lab")
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
def test_refusals(state, key, environment, message):
    archive = pack_state(state, KEY, environment="lab")
    with pytest.raises(ArchiveError, match=message):
        stage_restore(archive, key, state, Staged(), environment=environment)

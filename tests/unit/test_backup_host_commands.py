"""The host side of a backup and a restore, run here on folders in a temporary directory with
GNU tar (the tar the hosts run): a state folder with symbolic and hard links, a FIFO, an empty
folder and a sparse file goes through GNU tar, the archive and back, and comes out as it was;
crafted archives are refused before anything is extracted."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tabpy_provision import backup_archive, backup_commands
from tests.unit.crafted import KEY, Entry, archive_of, tree

STATE, MODELS = "/var/lib/tabpy/state", "/var/lib/tabpy/query_objects"
FACTS = {"state_path": STATE, "query_object_path": MODELS, "tabpy_version": "2.16.0",
         "python_version": "3.11.2"}


def make_state(root: Path) -> None:
    """What scripts sent to /evaluate can leave in TabPy's state folder."""
    state = root / STATE[1:]
    (state / "query_objects/add_forty/1").mkdir(parents=True)
    (root / MODELS[1:]).mkdir()
    (root / "etc/tabpy/current/tls").mkdir(parents=True)
    (root / "etc/tabpy/current/passwords").write_bytes(b"alice $2b$hash\n")
    (root / "etc/tabpy/current/tls/tabpy.key").write_bytes(b"KEY")
    (state / "state.ini").write_text("[Service Info]\n")
    (state / "query_objects/add_forty/1/add_forty.pkl").write_bytes(b"\x80\x04model")
    (state / "empty").mkdir()
    os.symlink("query_objects/add_forty/1/add_forty.pkl", state / "latest")
    os.symlink("../state.ini", state / "query_objects/ini")  # not a model: not a folder
    os.link(state / "state.ini", state / "state.ini.hard")
    os.mkfifo(state / "fifo")
    with open(state / "sparse", "wb") as sparse:
        sparse.truncate(64 << 20)
        sparse.seek(32 << 20)
        sparse.write(b"data in the middle")
    (state / "query_objects/add_forty/1/add_forty.pkl").chmod(0o640)


def host_snapshot(root: Path, out: Path) -> Path:
    """The snapshot as the host's script takes it (GNU tar, names from /)."""
    subprocess.run(["tar", "-cf", out, "-C", root, "etc/tabpy/current/passwords",
                    "etc/tabpy/current/tls/tabpy.key", STATE[1:], MODELS[1:]], check=True)
    return out


def restore_locally(archive: Path, work: Path, target: Path) -> backup_archive.Snapshot:
    """What deploy/restore.py does, with the target's / in `target`: open and verify the
    archive, send its state tar, extract it with the restore's command."""
    snapshot = backup_archive.open_archive(archive, KEY, work)
    state_tar = backup_archive.state_tar(snapshot)
    subprocess.run(backup_commands.extract_command(
        str(state_tar), snapshot.staging_moves(STATE, MODELS), into=str(target)),
        shell=True, check=True)
    return snapshot


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir(mode=0o700)
    return folder


def test_links_fifos_empty_folders_and_sparse_files_come_back_as_they_were(tmp_path, work):
    """Before issue 27 the archive of such a state failed its own check ("content does not
    match the manifest") and could never be restored."""
    source = tmp_path / "source"
    make_state(source)
    tar = host_snapshot(source, tmp_path / "snapshot.tar")
    manifest = backup_archive.manifest_from_tar(tar, **FACTS)
    kinds = {m["path"]: (m["type"], m["link"]) for m in manifest["files"]}
    assert kinds[f"{STATE}/latest"] == ("symlink", "query_objects/add_forty/1/add_forty.pkl")
    assert kinds[f"{STATE}/state.ini.hard"] == ("hardlink", f"{STATE}/state.ini")
    assert kinds[f"{STATE}/fifo"] == ("fifo", "")
    assert kinds[f"{STATE}/empty"] == ("dir", "")
    with (tmp_path / "archive").open("wb") as out:
        backup_archive.pack(tar, manifest, KEY, out, host="tabpy1.lab.test")
    target = tmp_path / "target"
    target.mkdir()
    snapshot = restore_locally(tmp_path / "archive", work, target)
    assert snapshot.models == ["add_forty"]
    restored = target / (STATE[1:] + ".restore")
    assert tree(restored) == tree(source / STATE[1:])
    assert tree(target / (MODELS[1:] + ".restore")) == {}
    assert not (target / "etc").exists()  # the release files (keys) are not sent
    hard = (restored / "state.ini").stat(), (restored / "state.ini.hard").stat()
    assert hard[0].st_ino == hard[1].st_ino
    assert stat.S_ISFIFO((restored / "fifo").lstat().st_mode)
    assert (restored / "latest").read_bytes() == b"\x80\x04model"


@pytest.mark.parametrize("bad", [
    Entry("/etc/cron.d/x", data=b"* * * * * root sh"),  # absolute
    Entry(STATE[1:] + "/../../../../etc/cron.d/x", data=b"x"),
    Entry(STATE[1:] + "//etc/cron.d/x", data=b"x"),
    Entry(STATE[1:] + "/./x", data=b"x"),
    Entry(STATE[1:] + "/out", "symlink", "../../../../etc"),
    Entry(STATE[1:] + "/out", "symlink", "/etc"),
    Entry(STATE[1:] + "/state.ini", data=b"a second one"),  # a duplicate
    Entry(STATE[1:] + "/hard", "hardlink", "etc/shadow"),
    Entry(STATE[1:] + "/dev", "char"),
    Entry(STATE[1:] + "/dev", "block"),
    Entry("etc/cron.d", "dir"),  # a folder outside the state folders
])
def test_a_crafted_host_backup_is_refused_whole_before_anything_is_written(tmp_path, work, bad):
    good = [Entry(STATE[1:], "dir"), Entry(MODELS[1:], "dir"),
            Entry(STATE[1:] + "/state.ini", data=b"[Service Info]\n")]
    archive = archive_of([*good, bad], tmp_path, **FACTS)
    target = tmp_path / "target"
    (target / "etc/cron.d").mkdir(parents=True)
    before = tree(target)
    with pytest.raises(backup_archive.ArchiveError) as refused:
        restore_locally(archive, work, target)
    assert str(refused.value).startswith(f"/{bad.name}: ")
    assert tree(target) == before
    assert not (work / "state.tar").exists()


def test_a_member_below_a_link_is_refused(tmp_path, work):
    crafted = [Entry(STATE[1:], "dir"), Entry(MODELS[1:], "dir"),
               Entry(STATE[1:] + "/up", "symlink", "query_objects"),
               Entry(STATE[1:] + "/up/x", data=b"through the link")]
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(backup_archive.ArchiveError, match=f"{STATE}/up/x: below {STATE}/up"):
        restore_locally(archive_of(crafted, tmp_path, **FACTS), work, target)
    assert tree(target) == {}


def test_the_extract_command_takes_only_the_state_folders_re_rooted(tmp_path):
    command = backup_commands.extract_command(
        "/var/cache/tabpy-provision/backup/state.tar",
        [(STATE, "/srv/tabpy+2/state.restore")])
    assert command == (
        "tar -xpf /var/cache/tabpy-provision/backup/state.tar --same-owner --no-wildcards -C / "
        "--transform='s,^var/lib/tabpy/state(/|$),srv/tabpy+2/state.restore\\1,xS' -- "
        "var/lib/tabpy/state")

"""The host side of a backup and a restore, run here on folders in a temporary directory with
GNU tar (the tar the hosts run): the snapshot script measures, refuses or takes a snapshot and
cleans up after itself; a state folder with symbolic and hard links, a FIFO, an empty folder
and a sparse file goes through the script, the archive and the restore's extract command and
comes out as it was; crafted archives are refused before anything is extracted."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.backup import commands as backup_commands
from tests.unit.crafted import KEY, Entry, archive_of, tree

STATE, MODELS = "/var/lib/tabpy/state", "/var/lib/tabpy/query_objects"
FACTS = {"state_path": STATE, "query_object_path": MODELS, "tabpy_version": "2.16.0",
         "python_version": "3.11.2"}


def make_state(root: Path) -> None:
    """A release and what scripts sent to /evaluate can leave in TabPy's state folder."""
    state = root / STATE[1:]
    (state / "query_objects/add_forty/1").mkdir(parents=True)
    (root / MODELS[1:]).mkdir()
    release = root / "etc/tabpy/releases/r-1"
    (release / "tls").mkdir(parents=True)
    (release / "passwords").write_bytes(b"alice $2b$hash\n")
    (release / "tls/tabpy.key").write_bytes(b"KEY")
    (release / ".manifest").write_text("passwords tabpy:tabpy 0600 ab12\n"
                                       "tls/tabpy.key tabpy:tabpy 0600 cd34\n"
                                       "venv -> /opt/tabpy/venv\n")
    os.symlink("releases/r-1", root / "etc/tabpy/current")
    (state / "state.ini").write_text("[Service Info]\n")
    (state / "query_objects/add_forty/1/add_forty.pkl").write_bytes(b"\x80\x04model")
    (state / "empty").mkdir()
    os.symlink("query_objects/add_forty/1/add_forty.pkl", state / "latest")
    os.symlink("../state.ini", state / "query_objects/ini")  # not a model: not a folder
    os.link(state / "state.ini", state / "state.ini.hard")
    os.mkfifo(state / "fifo")
    with open(state / "sparse", "wb") as sparse:  # more extents than GNU's first header maps
        sparse.truncate(64 << 20)
        for extent in range(12):
            sparse.seek(extent * (5 << 20))
            sparse.write(b"data between holes %d" % extent)
    (state / "query_objects/add_forty/1/add_forty.pkl").chmod(0o640)


@pytest.fixture
def host(tmp_path):
    """A host's / in tmp_path/root, its TabPy virtualenv and systemctl stand-ins logging
    what they were asked, and a script that runs a command there."""
    root = tmp_path / "root"
    make_state(root)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/systemctl.log\n')
    venv = tmp_path / "venv/bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("#!/bin/sh\necho 2.16.0 3.11.2\n")
    for tool in (bin_dir / "systemctl", venv / "python"):
        tool.chmod(0o755)

    def run(command: str, **environment) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", command], capture_output=True, check=False,
                              env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                                   **environment})
    run.root, run.bin, run.work, run.log = root, bin_dir, tmp_path / "host-work", \
        tmp_path / "systemctl.log"
    return run


def script(host, max_bytes: int = 2 << 30) -> str:
    root = str(host.root)
    return backup_commands.snapshot_script(
        release_dir=f"{root}/etc/tabpy/current",
        release_manifest=f"{root}/etc/tabpy/current/.manifest",
        state_folders=[f"{root}{MODELS}", f"{root}{STATE}"], service="tabpy.service",
        venv=f"{host.root.parent}/venv", max_bytes=max_bytes, work=str(host.work))


def taken(host, max_bytes: int = 2 << 30) -> tuple[subprocess.CompletedProcess,
                                                   backup_commands.Taken | None]:
    done = host(script(host, max_bytes))
    return done, backup_commands.snapshot_taken(done.stdout.decode().splitlines())


def host_snapshot(host, out: Path) -> Path:
    """The snapshot as the host's script takes it and the backup fetches it (its names are
    paths under tmp_path/root)."""
    done, snapshot = taken(host)
    assert done.returncode == 0 and snapshot is not None, done.stderr
    assert snapshot.tabpy_version == "2.16.0" and snapshot.python_version == "3.11.2"
    assert stat.S_IMODE((host.work / "snapshot.tar").stat().st_mode) == 0o600
    sent = host(backup_commands.send_command(str(host.work)))
    assert sent.returncode == 0 and len(sent.stdout) == snapshot.size
    assert not host.work.exists()  # removed once sent
    out.write_bytes(sent.stdout)
    return out


def host_facts(host) -> dict:
    return {**FACTS, "state_path": f"{host.root}{STATE}",
            "query_object_path": f"{host.root}{MODELS}"}


def restore_locally(archive: Path, work: Path, target: Path, *,
                    into: tuple[str, str] = (STATE, MODELS)) -> backup_archive.Snapshot:
    """What deploy/restore.py does, with the target's / in `target`: open and verify the
    archive, send its state tar, extract it with the restore's command."""
    snapshot = backup_archive.open_archive(archive, KEY, work)
    state_tar = backup_archive.state_tar(snapshot)
    subprocess.run(backup_commands.extract_command(
        str(state_tar), snapshot.staging_moves(*into), into=str(target)),
        shell=True, check=True)
    return snapshot


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir(mode=0o700)
    return folder


def test_links_fifos_empty_folders_and_sparse_files_come_back_as_they_were(tmp_path, work,
                                                                          host):
    """Before issue 27 the archive of such a state failed its own check ("content does not
    match the manifest") and could never be restored."""
    tar = host_snapshot(host, tmp_path / "snapshot.tar")
    assert tar.stat().st_size < 1 << 20  # the 64 MiB sparse file by its data
    facts = host_facts(host)
    state = facts["state_path"]
    manifest = backup_archive.manifest_from_tar(tar, **facts)
    kinds = {m["path"]: (m["type"], m["link"]) for m in manifest["files"]}
    assert kinds[f"{state}/latest"] == ("symlink", "query_objects/add_forty/1/add_forty.pkl")
    assert kinds[f"{state}/state.ini.hard"] == ("hardlink", f"{state}/state.ini")
    assert kinds[f"{state}/fifo"] == ("fifo", "")
    assert kinds[f"{state}/empty"] == ("dir", "")
    assert f"{host.root}/etc/tabpy/current/passwords" in kinds
    with (tmp_path / "archive").open("wb") as out:
        backup_archive.pack(tar, manifest, KEY, out, host="tabpy1.lab.test")
    target = tmp_path / "target"
    target.mkdir()
    snapshot = restore_locally(tmp_path / "archive", work, target)
    assert snapshot.models == ["add_forty"]
    restored = target / (STATE[1:] + ".restore")
    assert tree(restored) == tree(host.root / STATE[1:])
    assert tree(target / (MODELS[1:] + ".restore")) == {}
    assert sorted(os.listdir(target)) == ["var"]  # the release files (keys) are not sent
    hard = (restored / "state.ini").stat(), (restored / "state.ini.hard").stat()
    assert hard[0].st_ino == hard[1].st_ino
    assert stat.S_ISFIFO((restored / "fifo").lstat().st_mode)
    assert (restored / "latest").read_bytes() == b"\x80\x04model"
    sparse = (restored / "sparse").stat()
    assert sparse.st_size == 64 << 20 and sparse.st_blocks * 512 < 1 << 20
    assert not host.log.exists()  # TabPy was not stopped


def test_a_2_gib_sparse_file_makes_a_small_snapshot_measured_before_it_is_written(host):
    """Before issue 27 (tar without --sparse) this snapshot was 2 GiB, written under
    /var/cache on the host and read whole into the controller's memory."""
    with open(host.root / STATE[1:] / "sparse", "r+b") as sparse:
        sparse.truncate(2 << 30)
    done, snapshot = taken(host)
    assert done.returncode == 0, done.stderr
    assert snapshot.size == (host.work / "snapshot.tar").stat().st_size < 1 << 20


def test_an_oversized_state_is_refused_before_anything_is_written(host):
    (host.root / STATE[1:] / "model.bin").write_bytes(os.urandom(2 << 20))
    done, snapshot = taken(host, max_bytes=1 << 20)
    lines = done.stdout.decode().splitlines()
    assert done.returncode == backup_commands.REFUSED and snapshot is None
    assert not host.work.exists()
    measured = int(lines[-1].split()[1])
    assert measured > 2 << 20
    assert backup_commands.snapshot_refusal(lines, max_bytes=1 << 20) == (
        f"backup_max_bytes: the snapshot would be {measured / 2**20:.1f} MiB, over the limit "
        "of 1.0 MiB; nothing was written (raise "
        "backup_max_bytes, or clear TabPy's state)")


def test_a_host_without_the_space_is_refused_before_anything_is_written(host):
    (host.bin / "df").write_text('#!/bin/sh\necho Avail; echo 4096\n')
    (host.bin / "df").chmod(0o755)
    done, snapshot = taken(host)
    lines = done.stdout.decode().splitlines()
    assert done.returncode == backup_commands.REFUSED and snapshot is None
    assert not host.work.exists()
    refusal = backup_commands.snapshot_refusal(lines, max_bytes=2 << 30)
    assert refusal.startswith("/var/cache/tabpy-provision/backup: the snapshot needs ")
    assert refusal.endswith(" and its file system has 4.0 KiB free; nothing was "
                            "written")


def test_a_failed_tar_leaves_no_snapshot_and_says_why(host):
    os.rename(host.root / MODELS[1:], host.root / "moved")
    done, snapshot = taken(host)
    assert done.returncode != 0 and snapshot is None
    assert b"query_objects: Cannot stat: No such file or directory" in done.stderr
    assert not host.work.exists()


def test_tabpy_is_stopped_for_the_copy_only_as_a_last_resort_and_always_started(host):
    """A state that changes under every try (a find stand-in that never says the same)."""
    (host.bin / "find").write_text("#!/bin/sh\ndate +%s%N\n")
    (host.bin / "sleep").write_text("#!/bin/sh\n")
    for tool in ("find", "sleep"):
        (host.bin / tool).chmod(0o755)
    done, snapshot = taken(host)
    assert done.returncode == 0 and snapshot is not None, done.stderr
    assert host.log.read_text() == "stop tabpy.service\nstart tabpy.service\n"
    (host.root.parent / "venv/bin/python").write_text("#!/bin/sh\nexit 1\n")
    host.log.unlink()
    done, snapshot = taken(host)
    assert done.returncode != 0 and snapshot is None
    assert host.log.read_text() == "stop tabpy.service\nstart tabpy.service\n"
    assert not host.work.exists()


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


def test_the_download_streams_into_a_new_private_file(host, tmp_path):
    """remote.download as it runs for the controller itself (the path without SSH)."""
    from types import SimpleNamespace

    from tabpy_provision.run import remote

    done, snapshot = taken(host)
    local = SimpleNamespace(name="@local", connector=SimpleNamespace())
    ok, said = remote.download(local, backup_commands.send_command(str(host.work)),
                               tmp_path / "fetched.tar")
    assert ok and said == ""
    assert (tmp_path / "fetched.tar").stat().st_size == snapshot.size
    assert stat.S_IMODE((tmp_path / "fetched.tar").stat().st_mode) == 0o600
    assert not host.work.exists()
    ok, said = remote.download(local, backup_commands.send_command(str(host.work)),
                               tmp_path / "again.tar")
    assert not ok and "No such file or directory" in said
    with pytest.raises(FileExistsError):
        remote.download(local, "true", tmp_path / "again.tar")


@pytest.mark.skipif(os.getuid() != 0, reason="its members are root's: --same-owner as root")
def test_a_format_1_backup_is_restored_by_the_same_commands(tmp_path, work):
    archive = Path(__file__).parent / "recorded/format-1/tabpy1.lab.test.tabpy-backup"
    target = tmp_path / "target"
    target.mkdir()
    snapshot = restore_locally(archive, work, target)
    restored = target / (STATE[1:] + ".restore")
    assert snapshot.models == ["add_forty"]
    assert (restored / "query_objects/add_forty/1/add_forty.pkl").read_bytes() == (
        b"model bytes\x80\x04")
    assert (restored / "empty").is_dir() and (target / (MODELS[1:] + ".restore")).is_dir()
    assert sorted(os.listdir(target)) == ["var"]

"""Backup archives: encrypted, authenticated, verified against their manifest, written and read
in chunks."""

import io
import os
import stat
import tarfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabpy_provision.backup import archive as ba
from tabpy_provision.backup import archive_encryption
from tabpy_provision.controller.files import private_output

SECRET_LINE = b"MHcCAQEEIDummyPrivateKeyLineThatMustNeverAppearInClear=="
KEY = "correct horse battery staple"
RECORDED = Path(__file__).parent / "recorded"
FOLDERS = {"state_path": "/var/lib/tabpy/state",
           "query_object_path": "/var/lib/tabpy/query_objects"}


def snapshot_tar(path: Path, state_ini: bytes = b"[Service Info]\n") -> Path:
    """A snapshot as the host's GNU tar lists it: folders before what they hold."""
    with tarfile.open(path, mode="w") as tar:
        for name, data, mode in (
            ("etc/tabpy/current/passwords", b"alice " + b"a" * 128 + b"\n", 0o600),
            ("etc/tabpy/current/tls/tabpy.key", b"-----BEGIN\n" + SECRET_LINE + b"\n", 0o600),
            ("var/lib/tabpy/state", None, 0o750),
            ("var/lib/tabpy/state/state.ini", state_ini, 0o640),
            ("var/lib/tabpy/state/query_objects", None, 0o750),
            ("var/lib/tabpy/state/query_objects/add_one", None, 0o750),
            ("var/lib/tabpy/state/query_objects/add_one/1", None, 0o750),
            ("var/lib/tabpy/state/query_objects/add_one/1/model.pkl", b"\x80\x04model", 0o644),
            ("var/lib/tabpy/state/query_objects/other", None, 0o750),
            ("var/lib/tabpy/state/query_objects/other/2", None, 0o750),
            ("var/lib/tabpy/state/query_objects/other/2/model.pkl", b"\x80\x04other", 0o644),
            ("var/lib/tabpy/query_objects", None, 0o750),
        ):
            info = tarfile.TarInfo(name)
            info.mode, info.uname, info.gname = mode, "tabpy", "tabpy"
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return path


def packed(tmp_path: Path, tar: Path, manifest: dict, key: str = KEY) -> Path:
    out = tmp_path / "out.tabpy-backup"
    with out.open("wb") as archive:
        ba.pack(tar, manifest, key, archive, host="tabpy1.lab.test")
    return out


def opened(tmp_path: Path, archive: Path | bytes, key: str = KEY) -> ba.Snapshot:
    if isinstance(archive, bytes):
        (tmp_path / "given").write_bytes(archive)
        archive = tmp_path / "given"
    folder = tmp_path / f"work{len(list(tmp_path.glob('work*')))}"
    folder.mkdir(mode=0o700)
    return ba.open_archive(archive, key, folder)


@pytest.fixture
def archive(tmp_path):
    tar = snapshot_tar(tmp_path / "snapshot.tar")
    manifest = ba.manifest_from_tar(tar, **FOLDERS, tabpy_version="2.16.0",
                                    python_version="3.11.2")
    return packed(tmp_path, tar, manifest)


def test_round_trip_restores_files_owners_modes_and_models(tmp_path, archive):
    snapshot = opened(tmp_path, archive)
    assert snapshot.read("/var/lib/tabpy/state/state.ini") == b"[Service Info]\n"
    assert snapshot.tar.read_bytes() == (tmp_path / "snapshot.tar").read_bytes()
    assert stat.S_IMODE(snapshot.tar.stat().st_mode) == 0o600
    key = next(m for m in snapshot.members if m.path.endswith("tabpy.key"))
    assert (key.owner, key.group, key.mode) == ("tabpy", "tabpy", 0o600)
    assert snapshot.models == ["add_one", "other"]
    assert snapshot.manifest["tabpy_version"] == "2.16.0"


def test_models_published_from_the_inventory_are_named_apart_from_others(tmp_path):
    recorded = (RECORDED / "tabpy-2.16.0-state.ini").read_bytes()
    tar = snapshot_tar(tmp_path / "snapshot.tar", state_ini=recorded)
    taken = ba.Snapshot(ba.manifest_from_tar(tar, **FOLDERS), tar)
    assert taken.published == ["PCA", "add_one", "anova", "ttest"]
    assert taken.models_summary() == ("models deployed by others: other; published from "
                                      "the inventory: PCA, add_one, anova, ttest")


def test_no_secret_in_clear_in_the_archive_bytes(archive):
    data = archive.read_bytes()
    assert SECRET_LINE not in data
    assert b"a" * 128 not in data
    assert b"model" not in data


@pytest.mark.parametrize("position", [20, 200, -1])
def test_any_altered_byte_is_refused(tmp_path, archive, position):
    altered = bytearray(archive.read_bytes())
    altered[position] ^= 0x01
    with pytest.raises(ba.ArchiveError):
        opened(tmp_path, bytes(altered))


def test_wrong_key_and_truncation_are_refused(tmp_path, archive):
    data = archive.read_bytes()
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        opened(tmp_path, archive, "wrong horse")
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        opened(tmp_path, data[:-100])
    with pytest.raises(ba.ArchiveError, match="bad magic"):
        opened(tmp_path, b"PK\x03\x04" + data[4:])
    with pytest.raises(ba.ArchiveError):
        opened(tmp_path, data[:30])
    with pytest.raises(ba.ArchiveError, match="No such file"):
        opened(tmp_path, tmp_path / "missing.tabpy-backup")


def test_manifest_mismatch_is_refused(tmp_path):
    tar = snapshot_tar(tmp_path / "snapshot.tar")
    manifest = ba.manifest_from_tar(tar, **FOLDERS)
    manifest["files"][0]["sha256"] = "0" * 64
    with pytest.raises(ba.ArchiveError, match="passwords: content does not match the manifest"):
        opened(tmp_path, packed(tmp_path, tar, manifest))
    manifest = ba.manifest_from_tar(tar, **FOLDERS)
    manifest["files"][1].update(mode=0o644, owner="root")
    with pytest.raises(ba.ArchiveError, match="tabpy.key: mode, owner does not match"):
        opened(tmp_path, packed(tmp_path, tar, manifest))
    manifest = ba.manifest_from_tar(tar, **FOLDERS)
    manifest["files"].pop()
    with pytest.raises(ba.ArchiveError, match="query_objects: not in the manifest"):
        opened(tmp_path, packed(tmp_path, tar, manifest))
    manifest = ba.manifest_from_tar(tar, **FOLDERS)
    manifest["files"].append(dict(manifest["files"][0], path="/etc/elsewhere"))
    with pytest.raises(ba.ArchiveError, match="/etc/elsewhere: in the manifest, not in"):
        opened(tmp_path, packed(tmp_path, tar, manifest))


def test_a_64_mib_snapshot_is_packed_and_opened_in_bounded_memory(tmp_path):
    """Before format 2 the whole snapshot and archive were in memory (a peak of 192 MiB for
    this test)."""
    tar = tmp_path / "snapshot.tar"
    with tarfile.open(tar, mode="w") as snapshot:
        for name in ("var/lib/tabpy/state", "var/lib/tabpy/query_objects"):
            folder = tarfile.TarInfo(name)
            folder.type = tarfile.DIRTYPE
            snapshot.addfile(folder)
        info = tarfile.TarInfo("var/lib/tabpy/state/model.pkl")
        info.size = 64 << 20
        with open("/dev/urandom", "rb") as noise:
            snapshot.addfile(info, noise)
    tracemalloc.start()
    try:
        manifest = ba.manifest_from_tar(tar, **FOLDERS)
        archive = packed(tmp_path, tar, manifest)
        snapshot = opened(tmp_path, archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert snapshot.members[2].size == 64 << 20
    assert peak < 16 << 20, f"peak {peak >> 20} MiB"


def test_format_1_archives_are_still_read(tmp_path):
    """Recorded with the format 1 code (commit 4844edf): backup_archive.pack of a GNU tar of
    release files and a state folder with a model, an empty folder and TabPy 2.16's
    state.ini."""
    snapshot = opened(tmp_path, RECORDED / "format-1" / "tabpy1.lab.test.tabpy-backup")
    assert snapshot.models == ["add_forty"]
    assert snapshot.published == ["PCA", "add_one", "anova", "ttest"]
    assert snapshot.read("/etc/tabpy/current/passwords") == b"alice $2b$hash\n"
    assert snapshot.manifest["tabpy_version"] == "2.16.0"
    assert "/var/lib/tabpy/state/empty" in {m.path for m in snapshot.members}
    with tarfile.open(snapshot.tar) as tar:
        assert not any(name.startswith(("files/", "manifest")) for name in tar.getnames())
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        opened(tmp_path, RECORDED / "format-1" / "tabpy1.lab.test.tabpy-backup", "wrong key!")
    data = (RECORDED / "format-1" / "tabpy1.lab.test.tabpy-backup").read_bytes()
    for damaged in (data[:-1], data[:len(data) // 2], data + b"\x00"):
        with pytest.raises(ba.ArchiveError, match="authentication failed"):
            opened(tmp_path, damaged)


def write_archive(backup_dir, path, data):
    """What a backup does to write an archive: its folders held private, then the file."""
    ba.hold_private(backup_dir, path)
    with private_output(path) as out:
        out.write(data)


def test_paths_retention_and_private_writes(tmp_path):
    when = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    path = ba.archive_path(tmp_path, "lab", "tabpy1.lab.test", when)
    assert path == tmp_path / "lab" / "tabpy1.lab.test" / "20261128T010203Z.tabpy-backup"
    write_archive(tmp_path, path, b"x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for minute in range(5, 8):
        write_archive(tmp_path, ba.archive_path(tmp_path, "lab", "tabpy1.lab.test",
                                                when.replace(minute=minute)), b"x")
    found = ba.archives(tmp_path, "lab", "tabpy1.lab.test")
    assert found[0] == path and len(found) == 4
    assert ba.expired(found, 3, found[-1]) == [path]


def test_backup_dir_is_held_private_and_what_is_above_it_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    host_folder = shared / "backups" / "lab" / "tabpy1.lab.test"
    host_folder.mkdir(parents=True)
    for folder in (shared, *(host_folder, *host_folder.parents)[:3]):
        folder.chmod(0o1777 if folder == shared else 0o755)
    write_archive(shared / "backups", host_folder / "x.tabpy-backup", b"x")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    for folder in (host_folder, host_folder.parent, host_folder.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@settings(max_examples=300, deadline=None)
@given(existing=st.lists(st.integers(0, 50), unique=True, max_size=12),
       proven=st.integers(0, 60), keep=st.integers(1, 8))
def test_retention_never_removes_the_archive_just_proven(existing, proven, keep):
    """Whatever its name says of its age (a controller clock set back names it older)."""
    paths = sorted(Path(f"{minute:04d}{ba.SUFFIX}") for minute in {*existing, proven})
    newest = Path(f"{proven:04d}{ba.SUFFIX}")
    removed = ba.expired(paths, keep, newest)
    assert newest not in removed
    assert set(paths) - set(removed) == set(paths[-keep:]) | {newest}


def test_a_backup_counts_only_once_proven_restorable(tmp_path, monkeypatch):
    """An archive that its own restore would refuse never takes an archive's name, and
    retention then removes nothing: the newest archive stays a proven one. Before issue 27
    (pack, write, rotate) such archives were kept and the restorable ones rotated away."""
    tar = snapshot_tar(tmp_path / "snapshot.tar")
    manifest = ba.manifest_from_tar(tar, **FOLDERS)
    when, backups = datetime(2026, 11, 28, tzinfo=UTC), tmp_path / "backups"

    def back_up(minute, manifest=manifest):
        path = ba.archive_path(backups, "lab", "h", when.replace(minute=minute))
        proof = tmp_path / f"proof{minute}"
        proof.mkdir(mode=0o700)
        proven = ba.write_proven(tar, manifest, KEY, path, host="h",
                                 now=when.replace(minute=minute), folder=proof)
        for old in ba.expired(ba.archives(backups, "lab", "h"), 2, path):
            old.unlink()
        return proven

    assert back_up(1).models == ["add_one", "other"]
    back_up(2)
    good = ba.archives(backups, "lab", "h")
    real = archive_encryption.encrypt

    def flipping(plaintext, out, passphrase, **fields):  # a write that went wrong
        written = io.BytesIO()
        real(plaintext, written, passphrase, **fields)
        out.write(written.getvalue()[:-20] + bytes(20))

    monkeypatch.setattr(archive_encryption, "encrypt", flipping)
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        back_up(3)
    monkeypatch.undo()
    with pytest.raises(ba.ArchiveError, match="query_objects: not in the manifest"):
        back_up(4, dict(manifest, files=manifest["files"][:-1]))  # a manifest that lies
    assert ba.archives(backups, "lab", "h") == good
    assert sorted(os.listdir(good[0].parent)) == [path.name for path in good]
    for path in good:
        opened(tmp_path, path)


def test_a_workspace_is_private_on_disk_beside_the_archives_and_removed(tmp_path):
    ba.hold_private(tmp_path / "backups")
    with ba.workspace(tmp_path / "backups") as work:
        assert Path(work).parent == tmp_path / "backups"
        assert stat.S_IMODE(os.stat(work).st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
    assert not Path(work).exists()

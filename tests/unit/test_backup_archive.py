"""Backup archives: encrypted, authenticated, verified against their manifest."""

import io
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tabpy_provision import backup_archive as ba

SECRET_LINE = b"MHcCAQEEIDummyPrivateKeyLineThatMustNeverAppearInClear=="


def snapshot_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (
            ("etc/tabpy/current/passwords", b"alice " + b"a" * 128 + b"\n", 0o600),
            ("etc/tabpy/current/tls/tabpy.key", b"-----BEGIN\n" + SECRET_LINE + b"\n", 0o600),
            ("var/lib/tabpy/state/state.ini", b"[Service Info]\n", 0o640),
            ("var/lib/tabpy/state/query_objects/add_one/1/model.pkl", b"\x80\x04model", 0o644),
            ("var/lib/tabpy/state/query_objects/other/2/model.pkl", b"\x80\x04other", 0o644),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uname, info.gname = len(data), mode, "tabpy", "tabpy"
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("var/lib/tabpy/query_objects")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o750
        tar.addfile(folder)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive():
    tar = snapshot_tar()
    manifest = ba.manifest_from_tar(tar, state_path="/var/lib/tabpy/state",
                                    tabpy_version="2.16.0", python_version="3.11.2")
    return ba.pack(tar, manifest, "correct horse", host="tabpy1.lab.test")


def test_round_trip_restores_files_owners_modes_and_models(archive):
    snapshot = ba.unpack(archive, "correct horse")
    assert snapshot.files["/var/lib/tabpy/state/state.ini"] == b"[Service Info]\n"
    key = next(m for m in snapshot.members if m.path.endswith("tabpy.key"))
    assert (key.owner, key.group, key.mode) == ("tabpy", "tabpy", 0o600)
    assert snapshot.models == ["add_one", "other"]
    assert snapshot.manifest["tabpy_version"] == "2.16.0"


def test_models_published_from_the_inventory_are_named_apart_from_others(archive):
    recorded = (Path(__file__).parent / "recorded" / "tabpy-2.16.0-state.ini").read_bytes()
    snapshot = ba.unpack(archive, "correct horse")
    snapshot.files["/var/lib/tabpy/state/state.ini"] = recorded
    assert snapshot.published == ["PCA", "add_one", "anova", "ttest"]
    assert snapshot.models_summary() == ("models deployed by others: other; published from "
                                         "the inventory: PCA, add_one, anova, ttest")


def test_the_state_file_is_read_from_a_snapshot_tar():
    assert ba.state_file(snapshot_tar(), "/var/lib/tabpy/state") == {
        "/var/lib/tabpy/state/state.ini": b"[Service Info]\n"}
    assert ba.state_file(snapshot_tar(), "/elsewhere") == {}


def test_no_secret_in_clear_in_the_archive_bytes(archive):
    assert SECRET_LINE not in archive
    assert b"a" * 128 not in archive
    assert b"model" not in archive


@pytest.mark.parametrize("position", [20, 200, -1])
def test_any_altered_byte_is_refused(archive, position):
    altered = bytearray(archive)
    altered[position] ^= 0x01
    with pytest.raises(ba.ArchiveError):
        ba.unpack(bytes(altered), "correct horse")


def test_wrong_key_and_truncation_are_refused(archive):
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        ba.unpack(archive, "wrong horse")
    with pytest.raises(ba.ArchiveError, match="authentication failed"):
        ba.unpack(archive[:-100], "correct horse")
    with pytest.raises(ba.ArchiveError, match="bad magic"):
        ba.unpack(b"PK\x03\x04" + archive[4:], "correct horse")
    with pytest.raises(ba.ArchiveError):
        ba.unpack(archive[:30], "correct horse")


def test_manifest_mismatch_is_refused():
    tar = snapshot_tar()
    manifest = ba.manifest_from_tar(tar, state_path="/var/lib/tabpy/state")
    manifest["files"][0]["sha256"] = "0" * 64
    archive = ba.pack(tar, manifest, "k", host="h")
    with pytest.raises(ba.ArchiveError, match="does not match the manifest"):
        ba.unpack(archive, "k")


def test_paths_retention_and_private_writes(tmp_path):
    when = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    path = ba.archive_path(tmp_path, "lab", "tabpy1.lab.test", when)
    assert path == tmp_path / "lab" / "tabpy1.lab.test" / "20261128T010203Z.tabpy-backup"
    ba.write_archive(tmp_path, path, b"x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for minute in range(5, 8):
        ba.write_archive(tmp_path, ba.archive_path(tmp_path, "lab", "tabpy1.lab.test",
                                                   when.replace(minute=minute)), b"x")
    found = ba.archives(tmp_path, "lab", "tabpy1.lab.test")
    assert found[0] == path and len(found) == 4
    assert ba.expired(found, 3) == [path]


def test_backup_dir_is_held_private_and_what_is_above_it_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    host_folder = shared / "backups" / "lab" / "tabpy1.lab.test"
    host_folder.mkdir(parents=True)
    for folder in (shared, *(host_folder, *host_folder.parents)[:3]):
        folder.chmod(0o1777 if folder == shared else 0o755)
    ba.write_archive(shared / "backups", host_folder / "x.tabpy-backup", b"x")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    for folder in (host_folder, host_folder.parent, host_folder.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_header_asking_for_huge_scrypt_parameters_is_refused_before_deriving():
    import json
    import struct

    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    archive = ba.pack(empty.getvalue(), {"format": 1, "files": []}, "a long enough key",
                      host="h")
    (length,) = struct.unpack(">I", archive[8:12])
    header = json.loads(archive[12:12 + length])
    header["kdf_params"]["n"] = 2**30
    crafted = json.dumps(header).encode()
    forged = ba.MAGIC + struct.pack(">I", len(crafted)) + crafted + archive[12 + length:]
    with pytest.raises(ba.ArchiveError, match="unsupported key derivation parameters"):
        ba.unpack(forged, "a long enough key")

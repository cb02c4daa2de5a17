"""A finished virtualenv packed on one host and unpacked on another (wheelhouse/venvs.py): the
host commands run here with dash, GNU tar, zstd and a real virtualenv in a temporary folder;
the controller's cache of them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tabpy_provision.wheelhouse import venvs
from tabpy_provision.wheelhouse.venvs import VenvKind

IDENTITY = "f" * 64


def sh(command: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, timeout=120)


@pytest.fixture()
def venv(tmp_path: Path) -> Path:
    """A finished virtualenv (marker written) whose Python imports a `tabpy` package."""
    path = tmp_path / "opt" / "venvs" / "tabpy-2.16.0-cp311-x86_64+abc-0123456789ab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next(path.glob("lib/python3.*/site-packages"))
    (site / "tabpy").mkdir()
    (site / "tabpy" / "__init__.py").write_text("VERSION = '2.16.0'\n")
    (site / "tabpy" / "data.bin").write_bytes(os.urandom(100_000))
    os.chmod(site / "tabpy" / "__init__.py", 0o644)
    (path / venvs.MARKER).write_text(IDENTITY + "\n")
    return path


def tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry under root: its mode and content (a link: its target)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = (os.readlink(path) if path.is_symlink()
                   else path.read_bytes() if path.is_file() else b"")
        entries[str(path.relative_to(root))] = (info.st_mode, content)
    return entries


def packed(venv: Path) -> tuple[bytes, str]:
    done = sh(venvs.pack_command(str(venv)))
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr.decode()


def unpack(venv: Path, archive: bytes, sha256: str | None = None) -> subprocess.CompletedProcess:
    digest = sha256 or hashlib.sha256(archive).hexdigest()
    return sh(venvs.unpack_command(str(venv), IDENTITY, digest, str(venv.parent / "lock")),
              archive)


def test_a_packed_virtualenv_unpacks_equal_and_is_marked_complete_last(venv: Path):
    before = tree(venv)
    archive, said = packed(venv)
    assert venvs.unpacked_bytes(said) > 100_000
    shutil.rmtree(venv)
    done = unpack(venv, archive)
    assert done.returncode == 0, done.stderr
    assert tree(venv) == before  # the marker too: written by the receiving host
    assert sorted(p.name for p in venv.parent.iterdir()) == sorted([venv.name, "lock"])


def test_the_archive_never_carries_the_marker(venv: Path):
    archive, _ = packed(venv)
    listing = subprocess.run(["sh", "-c", "zstd -dc | tar -tf -"], input=archive,
                             capture_output=True, check=True).stdout.decode().split()
    assert f"{venv.name}/bin/python" in listing
    assert not [name for name in listing if name.endswith(venvs.MARKER)]


def test_an_unfinished_virtualenv_is_never_packed(venv: Path):
    (venv / venvs.MARKER).unlink()
    assert sh(venvs.pack_command(str(venv))).returncode != 0


@pytest.mark.parametrize("damage", ["another digest", "truncated", "not zstd", "empty"])
def test_damaged_bytes_leave_no_virtualenv_and_no_staging(venv: Path, damage: str):
    archive, _ = packed(venv)
    shutil.rmtree(venv)
    sent, digest = {
        "another digest": (archive, hashlib.sha256(b"other").hexdigest()),
        "truncated": (archive[:len(archive) // 2], None),
        "not zstd": (b"x" * 1000, None),
        "empty": (b"", None),
    }[damage]
    done = unpack(venv, sent, digest)
    assert done.returncode != 0
    assert sorted(p.name for p in venv.parent.iterdir()) == ["lock"]


def test_a_virtualenv_whose_python_cannot_import_tabpy_is_refused(venv: Path):
    shutil.rmtree(next(venv.glob("lib/python3.*/site-packages/tabpy")))
    archive, _ = packed(venv)
    shutil.rmtree(venv)
    done = unpack(venv, archive)
    assert b"cannot import TabPy" in done.stderr
    assert sorted(p.name for p in venv.parent.iterdir()) == ["lock"]


def test_an_unpack_replaces_a_partial_virtualenv_and_a_killed_unpacks_staging(venv: Path):
    archive, _ = packed(venv)
    before = tree(venv)
    (venv / venvs.MARKER).unlink()  # a partial virtualenv under the name
    (venv.parent / f".incoming-{venv.name}").mkdir()  # a killed unpack's staging folder
    (venv.parent / f".incoming-{venv.name}" / "junk").write_text("x")
    assert unpack(venv, archive).returncode == 0
    assert tree(venv) == before
    assert sorted(p.name for p in venv.parent.iterdir()) == sorted([venv.name, "lock"])


def kind(**changed) -> VenvKind:
    fields = {"venv": "/opt/tabpy/venvs/tabpy-2.16.0-cp311-x86_64+abc-0123456789ab",
              "identity": IDENTITY, "platform": "debian-12", "python": "/usr/bin/python3"}
    return VenvKind(**{**fields, **changed})


def test_every_field_a_virtualenvs_bytes_depend_on_is_in_its_key():
    elsewhere = "/srv/tabpy/venvs/tabpy-2.16.0-cp311-x86_64+abc-0123456789ab"
    keys = {kind().key, kind(venv=elsewhere).key, kind(identity="e" * 64).key,
            kind(platform="rhel-9").key,
            kind(python="/usr/bin/python3.11").key}
    assert len(keys) == 5


def cache_entry(cache: Path, which: VenvKind, content: bytes) -> str:
    received = venvs.incoming(cache, which)
    received.write_bytes(content)
    return venvs.store(received, which, cache, unpacked_bytes=10, built_on="tabpy1")


def test_a_stored_archive_is_found_by_its_kind_only(tmp_path: Path):
    digest = cache_entry(tmp_path, kind(), b"finished")
    found = venvs.cached(kind(), tmp_path)
    assert found["sha256"] == digest == hashlib.sha256(b"finished").hexdigest()
    assert found["built_on"] == "tabpy1" and found["unpacked_bytes"] == 10
    assert venvs.cached(kind(platform="debian-13"), tmp_path) is None
    assert venvs.cached(kind(identity="e" * 64), tmp_path) is None


def test_a_changed_archive_is_not_served(tmp_path: Path):
    cache_entry(tmp_path, kind(), b"finished")
    archive = kind().archive(tmp_path)
    archive.write_bytes(b"tampered")
    assert venvs.cached(kind(), tmp_path) is None


def test_the_cache_keeps_the_two_newest_of_a_family_and_other_families(tmp_path: Path):
    other = kind(platform="debian-13")
    cache_entry(tmp_path, other, b"other platform")
    identities = ["a" * 64, "b" * 64, "c" * 64]
    for number, identity in enumerate(identities):
        cache_entry(tmp_path, kind(identity=identity), identity.encode())
        archive = kind(identity=identity).archive(tmp_path)
        os.utime(archive, (time.time() - 100 + number, time.time() - 100 + number))
    cache_entry(tmp_path, kind(identity="d" * 64), b"newest")
    assert venvs.cached(other, tmp_path) is not None
    kept = [identity for identity in [*identities, "d" * 64]
            if venvs.cached(kind(identity=identity), tmp_path)]
    assert kept == ["c" * 64, "d" * 64]
    assert len(list(tmp_path.glob("*.json"))) == 3


@pytest.mark.parametrize("failure", [ConnectionError("tabpy1: no answer for 60 s"),
                                     OSError(28, "No space left on device"),
                                     EOFError("channel closed")])
def test_a_virtualenv_not_kept_in_the_cache_is_said_never_fatal(tmp_path, monkeypatch, failure):
    """Keeping the first host's virtualenv costs only speed when it fails (a lost connection,
    a full disk here): a yellow line, no exception, no partial file in the cache."""
    from tabpy_provision.server import venv as server_venv

    def fetch(target, command, received):
        received.write_bytes(b"part of it")
        raise failure

    said = []

    class Target:
        name = "tabpy1"

        def log_styled(self, line, fg=None):
            said.append((line, fg))

    monkeypatch.setattr(server_venv.remote, "fetch", fetch)
    job = server_venv.VenvJob(kind(), tmp_path / "wheelhouse.tar", (), "/var/cache/x", None,
                              tmp_path / "cache")
    server_venv._keep(Target(), job)
    assert said == [(f"the finished virtualenv was not kept in the controller's cache "
                     f"({type(failure).__name__}: {failure})", "yellow")]
    assert list((tmp_path / "cache").iterdir()) == []

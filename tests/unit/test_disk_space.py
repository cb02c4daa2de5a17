"""Room on a host's disks (run/disk_space.py, facts.FreeSpace): what a deploy needs where, checked
before it writes."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import zipfile

import pytest

from tabpy_provision.run import disk_space
from tabpy_provision.run.disk_space import FileSystem, Need
from tabpy_provision.run.facts import FreeSpace

MiB = 2**20


def test_needs_on_one_file_system_add_up_and_the_reserve_is_kept():
    needs = [Need("the host's cache", "/var/cache/x", 300 * MiB, "the wheelhouse"),
             Need("tabpy_install_dir", "/opt/tabpy/venvs", 600 * MiB, "the new virtualenv")]
    one = {path: FileSystem("2049", "/", 950 * MiB) for path in ("/var/cache/x",
                                                                 "/opt/tabpy/venvs")}
    assert disk_space.shortfalls("tabpy1", needs, one, reserve=50 * MiB) == []
    [line] = disk_space.shortfalls("tabpy1", needs, one, reserve=51 * MiB)
    assert line == ("tabpy1: the host's cache, tabpy_install_dir: / has 950.0 MiB free; this "
                    "deploy needs 951.0 MiB there: the wheelhouse (300.0 MiB in /var/cache/x) "
                    "and the new virtualenv (600.0 MiB in /opt/tabpy/venvs), and 51.0 MiB "
                    "kept spare")


def test_each_file_system_is_judged_alone():
    needs = [Need("the host's cache", "/var/cache/x", 300 * MiB, "the wheelhouse"),
             Need("tabpy_install_dir", "/srv/small/venvs", 600 * MiB, "the new virtualenv")]
    two = {"/var/cache/x": FileSystem("2049", "/", 10 * 2**30),
           "/srv/small/venvs": FileSystem("51", "/srv/small", 600 * MiB)}
    [line] = disk_space.shortfalls("tabpy1", needs, two)
    assert line.startswith("tabpy1: tabpy_install_dir: /srv/small has 600.0 MiB free; this "
                           "deploy needs 664.0 MiB there: the new virtualenv")


@pytest.mark.parametrize(("size", "text"), [(0, "0 bytes"), (1023, "1023 bytes"),
                                            (1024, "1.0 KiB"), (5 * MiB + MiB // 2, "5.5 MiB"),
                                            (3 * 2**30, "3.0 GiB")])
def test_sizes_read_as_people_write_them(size, text):
    assert disk_space.size_text(size) == text


def test_the_wheels_contents_are_counted_from_their_zip_directories(tmp_path):
    archive, expected = tmp_path / "wheelhouse.tar", 0
    with tarfile.open(archive, "w") as tar:
        for number in range(3):
            wheel = io.BytesIO()
            with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zipped:
                for name in range(4):
                    data = os.urandom(1000 * (number + 1)) + b"\0" * 50_000
                    zipped.writestr(f"pkg{number}/m{name}.py", data)
                    expected += len(data)
            info = tarfile.TarInfo(f"wheels/pkg{number}-1.0-py3-none-any.whl")
            info.size = len(wheel.getvalue())
            tar.addfile(info, io.BytesIO(wheel.getvalue()))
        readme = tarfile.TarInfo("bin/uv")
        readme.size = 7
        tar.addfile(readme, io.BytesIO(b"#!/bin/"))
    assert disk_space.wheel_contents_size(archive) == expected
    [cache, venv] = disk_space.venv_needs(archive=archive, nltk_archive=None,
                                          work_dir="/var/cache/w", install_dir="/opt/t/venvs")
    assert cache.size == 2 * archive.stat().st_size + expected
    assert venv.size == int(expected * disk_space.BYTECODE_FACTOR)


def test_the_fact_reports_what_df_and_statvfs_say_for_paths_not_made_yet(tmp_path):
    """The real consumer: the fact's command run here, on paths that do not exist yet (their
    nearest existing folder counts) and one with a space in its name."""
    (tmp_path / "a b").mkdir()
    paths = [str(tmp_path / "a b" / "not" / "yet"), str(tmp_path)]
    command = FreeSpace().command(paths).get_raw_value()
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    found = FreeSpace().process(output)
    assert set(found) == set(paths)
    stats = os.statvfs(tmp_path)
    for path in paths:
        assert found[path].device == str(os.stat(tmp_path).st_dev)
        assert abs(found[path].free - stats.f_bavail * stats.f_frsize) < 64 * MiB

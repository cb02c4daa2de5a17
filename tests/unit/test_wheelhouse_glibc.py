"""Hosts with an older glibc than the locks assume (RHEL 8 and 9, Ubuntu 22.04): their glibc
read as the host reports it, the archive of their own (wheels for that glibc or older), and a
pin without such a wheel refused before any host (property-based; pip for real at the end)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tabpy_provision.cli.main import main as cli_main
from tabpy_provision.controller import artifacts
from tabpy_provision.platforms.facts import Glibc
from tabpy_provision.wheelhouse import build as wh
from tabpy_provision.wheelhouse import lock as wl
from tabpy_provision.wheelhouse import pinning, pip_command
from tests.unit.test_wheelhouse import FakePip

ROOT = Path(__file__).resolve().parents[2]
GLIBCS = st.tuples(st.just(2), st.integers(5, 60))
#: The lab's extras lock (statsmodels) for cp311.
EXTRAS = next((ROOT / "locks").glob("tabpy-2.16.0-cp311-x86_64+*.txt")).read_text()


# --- the host's glibc -------------------------------------------------------------------------


def test_the_fact_reads_this_machines_glibc_as_its_c_library_reports_it():
    command = Glibc().command()
    lines = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    major, minor = os.confstr("CS_GNU_LIBC_VERSION").split()[1].split(".")[:2]
    assert Glibc().process(lines) == (int(major), int(minor))


@given(glibc=GLIBCS, patch=st.sampled_from(["", ".1", ".9000"]))
def test_a_glibc_version_line_is_read_back(glibc, patch):
    assert Glibc().process([f"glibc {glibc[0]}.{glibc[1]}{patch}"]) == glibc


@given(line=st.text(max_size=30).filter(lambda text: not text.startswith("glibc ")))
def test_anything_else_is_no_glibc(line):
    assert Glibc().process([line]) is None
    assert Glibc().process([]) is None


# --- the archive of a glibc -------------------------------------------------------------------


@given(glibc=GLIBCS)
def test_the_floor_is_the_hosts_glibc_up_to_the_locks_own(glibc):
    floor = pinning.glibc_floor(glibc)
    assert floor == min(glibc, pinning.GLIBC_MAX)
    assert (pinning.glibc_label(floor) == "") == (floor == pinning.GLIBC_MAX)
    minors = {int(m) for m in re.findall(r"manylinux_2_(\d+)_", " ".join(
        pinning.target_args("cp311", "x86_64", floor)))}
    assert minors == set(range(5, floor[1] + 1))  # every older tag, none newer


def test_an_older_glibc_gets_an_archive_and_a_virtualenv_identity_of_its_own(tmp_path):
    debian, _ = wh.find_wheelhouse("2.16.0", "cp311", cache_dir=tmp_path)
    rhel8, built = wh.find_wheelhouse("2.16.0", "cp311", cache_dir=tmp_path, glibc=(2, 28))
    assert not built and not list(tmp_path.iterdir())
    assert rhel8.name == "tabpy-2.16.0-cp311-x86_64-glibc2.28" and rhel8.glibc == (2, 28)
    assert rhel8.archive == tmp_path / "tabpy-2.16.0-cp311-x86_64-glibc2.28.tar"
    assert rhel8.identity != debian.identity
    assert wh.find_wheelhouse("2.16.0", "cp311", cache_dir=tmp_path,
                              glibc=pinning.GLIBC_MAX)[0] == debian


def test_its_build_asks_pip_for_wheels_of_that_glibc_or_older(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(pip_command, "run", pip)
    built = wh.ensure_wheelhouse("2.16.0", "cp311", cache_dir=tmp_path, log=lambda line: None,
                                 glibc=(2, 28))
    assert built.archive.name == "tabpy-2.16.0-cp311-x86_64-glibc2.28.tar"
    for call in (c for c in pip.calls if c[0] == "download"):
        tags = [call[i + 1] for i, arg in enumerate(call) if arg == "--platform"]
        assert "manylinux_2_28_x86_64" in tags and "manylinux_2_29_x86_64" not in tags
    assert wh.find_wheelhouse("2.16.0", "cp311", cache_dir=tmp_path, glibc=(2, 28))[1]


def test_the_cli_builds_for_a_glibc_given_as_x_y(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pip_command, "run", FakePip())
    assert cli_main(["wheelhouse", "build", "--abi", "cp311", "--glibc", "2.34",
                                "--cache-dir", str(tmp_path)]) == 0
    assert (tmp_path / "tabpy-2.16.0-cp311-x86_64-glibc2.34.tar").is_file()
    with pytest.raises(SystemExit):
        cli_main(["wheelhouse", "build", "--abi", "cp311", "--glibc", "2.x"])
    assert "is not a glibc version like 2.28" in capsys.readouterr().err


# --- refused before any host ------------------------------------------------------------------


def test_pip_is_asked_once_per_lock_and_glibc_and_never_at_the_locks_own(monkeypatch):
    asked = []
    monkeypatch.setattr(wl, "check_glibc_floor", lambda *args: asked.append(args))
    checked: dict = {}
    assert artifacts.wheels_glibc("2.16.0", "cp311", "x86_64", None, (2, 41), checked) == (
        pinning.GLIBC_MAX, None)
    for _ in range(3):  # three RHEL 8 hosts
        assert artifacts.wheels_glibc("2.16.0", "cp311", "x86_64", EXTRAS, (2, 28),
                                      checked) == ((2, 28), None)
    assert asked == [("2.16.0", "cp311", "x86_64", (2, 28), EXTRAS)]


def test_a_pin_without_a_wheel_is_one_problem_naming_the_setting(monkeypatch):
    def no_wheel(*args):
        raise wl.NoWheel("pyarrow==22.0.0: no wheel for cp311 x86_64 (manylinux glibc <= "
                         "2.17, the host's)")

    monkeypatch.setattr(wl, "check_glibc_floor", no_wheel)
    assert artifacts.wheels_glibc("2.16.0", "cp311", "x86_64", EXTRAS, (2, 17), {}) == (
        (2, 17), "tabpy_requirements: pyarrow==22.0.0: no wheel for cp311 x86_64 (manylinux "
                 "glibc <= 2.17, the host's)")
    assert artifacts.wheels_glibc("2.16.0", "cp311", "x86_64", None, None, {})[1] == (
        "tabpy_version: the host's C library is not glibc (getconf GNU_LIBC_VERSION): "
        "TabPy's wheels need it")


def test_a_missing_wheel_of_an_added_pin_names_the_extra_requirements(monkeypatch):
    def pip(python, args, what):
        return subprocess.CompletedProcess(args, 1, "", (
            "ERROR: Could not find a version that satisfies the requirement patsy==1.0.3 (from "
            "versions: none)\nERROR: No matching distribution found for patsy==1.0.3\n"))

    monkeypatch.setattr(pip_command, "process", pip)
    with pytest.raises(wl.NoWheel) as caught:
        wl.check_glibc_floor("2.16.0", "cp311", "x86_64", (2, 17), EXTRAS)
    assert caught.value.field == "tabpy_requirements"
    assert str(caught.value) == ("statsmodels==0.15.0: needs patsy==1.0.3, which has no wheel "
                                 "for cp311 x86_64 (manylinux glibc <= 2.17, the host's)")


# --- real answers of pip (PyPI) ---------------------------------------------------------------


def test_tabpys_own_numpy_has_no_wheel_for_glibc_2_17_and_names_the_pin():
    with pytest.raises(wl.NoWheel) as caught:
        wl.check_glibc_floor("2.16.0", "cp311", "x86_64", (2, 17))
    assert caught.value.field == "tabpy_version"
    assert str(caught.value) == ("TabPy 2.16.0 pins numpy==2.4.6, which has no wheel for "
                                 "cp311 x86_64 (manylinux glibc <= 2.17, the host's)")


def test_rhel_8s_glibc_has_wheels_for_tabpy_and_the_labs_statsmodels():
    wl.check_glibc_floor("2.16.0", "cp311", "x86_64", (2, 28))
    wl.check_glibc_floor("2.16.0", "cp311", "x86_64", (2, 28), EXTRAS)

"""The lab's base images: mmdebstrap's command line, and both suites built at the same time
(fake builders: nothing is bootstrapped here)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lab import base
from lab.util import LabError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TABPY_LAB_DIR", str(tmp_path / "lab"))
    return tmp_path / "cache"


def test_the_command_is_a_minbase_with_the_suites_packages_as_root():
    cmd = base.bootstrap_command("bookworm", Path("/c/rootfs"), "http://mirror/debian")
    assert cmd[0] == "mmdebstrap"
    assert cmd[-3:] == ["bookworm", "/c/rootfs", "http://mirror/debian"]
    assert {"--mode=root", "--format=directory", "--variant=minbase"} <= set(cmd)
    include = [a for a in cmd if a.startswith("--include=")]
    assert include == [f"--include={','.join(base.packages('bookworm'))}"]
    assert {"pebble", "zstd", "systemd-sysv", "openssh-server"} <= set(
        include[0].removeprefix("--include=").split(","))
    trixie = base.bootstrap_command("trixie", Path("/c/rootfs"), "http://mirror/debian")
    assert "pebble" not in next(a for a in trixie if a.startswith("--include="))


def test_the_build_only_setting_of_dpkg_leaves_the_tree(tmp_path):
    cmd = base.bootstrap_command("trixie", tmp_path, "http://mirror/debian")
    assert f"--dpkgopt={base.UNSAFE_IO}" in cmd
    setting = tmp_path / "etc" / "dpkg" / "dpkg.cfg.d" / "99mmdebstrap"
    setting.parent.mkdir(parents=True)
    setting.write_text(base.UNSAFE_IO + "\n")
    base.customise(tmp_path)
    assert not setting.exists()
    assert (tmp_path / "etc" / "resolv.conf").read_text() == ""


def test_zstd_and_mmdebstrap_change_the_base_key():
    assert "zstd" in base.packages("trixie")
    assert base.PREREQUISITES["mmdebstrap"] == "mmdebstrap"
    assert "debootstrap" not in base.PREREQUISITES
    assert base.BASE_FORMAT >= 5


def test_both_suites_are_built_at_the_same_time(cache):
    both_running = threading.Barrier(2, timeout=5)  # broken unless the two overlap
    built, lines = [], []

    def build(suite, log):
        both_running.wait()
        built.append(suite)
        log(f"lab: base {suite} built in 0.1 s")

    base.ensure_bases({"trixie", "bookworm"}, log=lines.append, build=build)
    assert sorted(built) == ["bookworm", "trixie"]
    assert lines[0].startswith("lab: building base images bookworm, trixie with mmdebstrap")
    assert sorted(lines[1:]) == ["lab: base bookworm built in 0.1 s",
                                 "lab: base trixie built in 0.1 s"]


def test_one_failing_build_lets_the_other_finish_and_names_its_suite(cache):
    finished = []

    def build(suite, log):
        if suite == "bookworm":
            raise LabError("mmdebstrap bookworm failed (exit 1); log tail: E: no mirror")
        finished.append(suite)

    with pytest.raises(LabError) as raised:
        base.ensure_bases({"trixie", "bookworm"}, log=lambda line: None, build=build)
    assert str(raised.value) == ("bookworm: mmdebstrap bookworm failed (exit 1); "
                                 "log tail: E: no mirror")
    assert finished == ["trixie"]


def test_every_failure_is_reported(cache):
    def build(suite, log):
        raise OSError(28, "No space left on device")

    with pytest.raises(LabError) as raised:
        base.ensure_bases({"trixie", "bookworm"}, log=lambda line: None, build=build)
    assert str(raised.value).splitlines() == [
        "bookworm: [Errno 28] No space left on device",
        "trixie: [Errno 28] No space left on device"]


def test_ready_bases_are_not_built_again(cache):
    for suite in ("bookworm", "trixie"):
        (base.base_rootfs(suite) / "usr" / "bin").mkdir(parents=True)
        (base.base_dir(suite) / "base.json").write_text("{}\n")

    def build(suite, log):
        raise AssertionError(f"{suite} is ready")

    lines = []
    base.ensure_bases({"trixie", "bookworm"}, log=lines.append, build=build)
    assert lines == []


def test_rserve_is_a_prerequisite_found_by_its_path():
    from tabpy_provision.rserve import render
    assert base.PREREQUISITES["R"] == "r-base-core"
    assert base.PREREQUISITES[render.RSERVE_BINARY] == "r-cran-rserve"
    assert base.PREREQUISITES["/usr/lib/R/site-library/openssl/R/openssl"] == "r-cran-openssl"


def test_a_prerequisite_file_need_not_be_executable(tmp_path):
    (tmp_path / "lazyload").write_text("")  # mode 644, as R packages' files are
    assert base._present(str(tmp_path / "lazyload"))
    assert not base._present(str(tmp_path / "absent"))
    assert base._present("sh") and not base._present("no-such-command-here")

"""Distributions as data: detection from /etc/*-release as each release ships it (parsed by
pyinfra's own LinuxDistribution fact, as a deploy does), and every command a platform gets.

Debian 12 and 13's files are recorded from the lab's hosts; the others are transcribed from
those releases (only Debian's archive is reachable here, so they are never booted)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyinfra.facts.server import LinuxDistribution

from tabpy_provision import platforms
from tabpy_provision.platforms.facts import FirewallPorts, PythonTarget, SelinuxMode, SelinuxPorts
from tabpy_provision.wheelhouse import pinning

RECORDED = Path(__file__).with_name("recorded") / "release"
EXPECTED = {"debian-12": "debian-12", "debian-13": "debian-13", "ubuntu-22.04": "ubuntu-22.04",
            "ubuntu-24.04": "ubuntu-24.04", "rhel-8": "rhel-8", "rocky-9": "rhel-9",
            "almalinux-9": "rhel-9", "fedora-40": None, "centos-7": None}


def release_meta(name: str) -> dict:
    output = (RECORDED / f"{name}.txt").read_text().splitlines()
    return LinuxDistribution().process(output)["release_meta"]


@pytest.mark.parametrize(("recorded", "key"), EXPECTED.items())
def test_each_release_is_detected_from_its_files(recorded, key):
    found = platforms.detect(release_meta(recorded))
    assert (found.key if found else None) == key


def test_an_unsupported_release_is_one_line_naming_it_and_what_is_supported():
    line = platforms.unsupported("h1", release_meta("fedora-40"))
    assert line.startswith("h1: os: Fedora Linux 40 (Server Edition) is not supported "
                           "(supported: Debian 12 (bookworm), ")
    assert "\n" not in line


def test_every_platform_has_a_wheelhouse_lock_for_the_default_tabpy():
    for platform in platforms.PLATFORMS:
        assert pinning.lock_file(pinning.TABPY_VERSION_DEFAULT, platform.abi,
                                    "x86_64").exists(), platform.key


def test_the_python_named_is_one_its_packages_give():
    for platform in platforms.PLATFORMS:
        executable = platform.python.rsplit("/", 1)[1]
        assert executable in platform.python_packages, platform.key
        major, minor = int(platform.abi[2]), int(platform.abi[3:])
        assert executable in ("python3", f"python{major}.{minor}"), platform.key


def sh_syntax_ok(command: str) -> bool:
    return subprocess.run(["sh", "-n", "-c", command], check=False).returncode == 0


def test_firewall_front_ends_open_exactly_the_ports():
    rhel, ubuntu, debian = (next(p for p in platforms.PLATFORMS if p.key == key)
                            for key in ("rhel-9", "ubuntu-24.04", "debian-12"))
    assert platforms.open_port_commands(rhel, [9004, 9101, 9004]) == [
        "firewall-cmd --permanent --quiet --add-port=9004/tcp --add-port=9101/tcp",
        "firewall-cmd --reload --quiet"]
    assert platforms.open_port_commands(ubuntu, [9004]) == [
        "ufw allow 9004/tcp comment tabpy-provision"]
    assert platforms.open_port_commands(debian, [9004]) == []
    assert all(sh_syntax_ok(c) for c in platforms.open_port_commands(rhel, [9004]))
    assert platforms.open_ports_missing(["22/tcp"], [9004])
    assert not platforms.open_ports_missing(["9004/tcp", "22/tcp"], [9004])


def test_selinux_labels_ports_idempotently_and_relabels_only_what_is_asked():
    commands = platforms.selinux_commands([9101, 9004], ["/etc/tabpy", "/var/lib/tabpy x"],
                                          balancer=True)
    assert commands == [
        "semanage port -a -t http_port_t -p tcp 9004 2>/dev/null || "
        "semanage port -m -t http_port_t -p tcp 9004",
        "semanage port -a -t http_port_t -p tcp 9101 2>/dev/null || "
        "semanage port -m -t http_port_t -p tcp 9101",
        "setsebool -P haproxy_connect_any 1",
        "restorecon -R /etc/tabpy '/var/lib/tabpy x'"]
    assert all(sh_syntax_ok(c) for c in commands)
    assert platforms.selinux_commands([9004], [], balancer=False)[-1].startswith("semanage")


# --- the facts' parsing, on output recorded in the formats those tools print ---------------

def test_selinux_ports_are_read_from_semanage_port_list():
    # `semanage port -l` lines for http_port_t, after the fact's awk (one port or range a line)
    output = ["80,", "81,", "443,", "488,", "8008,", "8009,", "8443,", "9000-9002"]
    assert SelinuxPorts().process(output) == [80, 81, 443, 488, 8008, 8009, 8443, 9000, 9001,
                                              9002]
    assert SelinuxMode().process(["Enforcing"]) == "enforcing"
    assert SelinuxMode().process([]) == "disabled"


def test_firewall_ports_are_none_when_the_front_end_is_off():
    assert FirewallPorts().process([]) is None
    assert FirewallPorts().process(["active", "9004/tcp 22/tcp"]) == ["22/tcp", "9004/tcp"]
    assert FirewallPorts().process(["active"]) == []


def test_the_firewall_fact_commands_are_valid_shell():
    for frontend in ("firewalld", "ufw"):
        assert sh_syntax_ok(FirewallPorts().command(frontend))


def test_python_target_names_a_missing_python_as_none(tmp_path):
    command = PythonTarget().command(str(tmp_path / "python3.11")).get_raw_value()
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and PythonTarget().process(done.stdout.splitlines()) is None
    here = subprocess.run(["sh", "-c", PythonTarget().command("python3").get_raw_value()],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert PythonTarget().process(here)["abi"].startswith("cp3")


def test_the_docs_and_the_readme_show_the_current_support_table():
    root = Path(__file__).resolve().parents[2]
    for document in (root / "docs" / "platforms.md", root / "README.md"):
        assert platforms.support_table() in document.read_text(), document

"""The lab starts from fresh hosts when its disks were made for another checkout."""

from __future__ import annotations

import pytest

from lab import cli, machine, paths


@pytest.fixture
def lab_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_LAB_DIR", str(tmp_path / "lab"))
    (tmp_path / "lab").mkdir()
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.setattr(paths, "this_checkout", lambda: str(checkout))
    return tmp_path


def _hosts_in(monkeypatch, state: str) -> None:
    monkeypatch.setattr(machine, "status",
                        lambda h: machine.HostStatus(h, state, None, []))


def test_no_hosts_need_no_reset(lab_dir, monkeypatch):
    _hosts_in(monkeypatch, "absent")
    assert cli.made_for_another_checkout() is None


def test_hosts_of_this_checkout_are_kept(lab_dir, monkeypatch):
    _hosts_in(monkeypatch, "stopped")
    paths.owner_path().write_text(paths.checkout_identity() + "\n")
    assert cli.made_for_another_checkout() is None


def test_a_new_clone_in_the_same_folder_is_another_checkout(lab_dir, monkeypatch):
    _hosts_in(monkeypatch, "stopped")
    made_for = paths.checkout_identity()
    paths.owner_path().write_text(made_for + "\n")
    (lab_dir / "checkout" / ".cache" / "lab-checkout-id").unlink()
    assert cli.made_for_another_checkout() == made_for
    assert paths.checkout_identity().startswith(str(lab_dir / "checkout") + " (")


def test_hosts_of_another_checkout_are_named(lab_dir, monkeypatch):
    _hosts_in(monkeypatch, "stale")
    paths.owner_path().write_text("/elsewhere/tabpy-provision\n")
    assert cli.made_for_another_checkout() == "/elsewhere/tabpy-provision"


def test_hosts_without_an_owner_are_not_trusted(lab_dir, monkeypatch):
    _hosts_in(monkeypatch, "up")
    assert cli.made_for_another_checkout() == "an unknown checkout"


def test_the_inotify_limit_is_raised_for_many_hosts_and_never_lowered(tmp_path, monkeypatch):
    limit = tmp_path / "max_user_instances"
    monkeypatch.setattr(machine, "INOTIFY_INSTANCES", limit)
    said = []
    limit.write_text("128\n")
    machine.ensure_inotify_instances(20, said.append)
    assert int(limit.read_text()) == 128 + machine.INOTIFY_PER_HOST * 20
    assert said == [f"lab: fs.inotify.max_user_instances 128 -> {limit.read_text().strip()} "
                    "(20 hosts)"]
    limit.write_text("100000\n")
    machine.ensure_inotify_instances(20, said.append)
    assert limit.read_text() == "100000\n" and len(said) == 1


def test_a_limit_that_cannot_be_raised_is_said_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "INOTIFY_INSTANCES", tmp_path / "missing" / "limit")
    said = []
    machine.ensure_inotify_instances(7, said.append)
    assert len(said) == 1 and "not raised" in said[0]

"""What the controller builds for the hosts, found or staged (controller/artifacts.py): the
lock of extra requirements read from the repository, or refused without a host touched."""

from pathlib import Path

import pytest

from tabpy_provision.controller import artifacts
from tabpy_provision.controller.files import Staged
from tabpy_provision.wheelhouse import build as wheelhouse
from tabpy_provision.wheelhouse.pinning import WheelhouseError
from tests.unit.planning import planned

HOST = "tabpy1.example.com"
CP311 = {"abi": "cp311", "arch": "x86_64"}
LAB_LOCKS = Path(__file__).resolve().parents[2] / "locks"


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    return {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets"), "tabpy_locks_dir": str(LAB_LOCKS)}


def test_a_committed_lock_is_read_once_and_nothing_is_staged(data):
    plan = planned(HOST, {**data, "tabpy_requirements": ["statsmodels==0.15.0"]})
    files, found = Staged(), {}
    text = artifacts.extras_lock(plan, CP311, found, files, log=print)
    assert "statsmodels==0.15.0" in text.splitlines() and files.changes() == []
    assert artifacts.extras_lock(plan, CP311, found, files, log=print) is text
    built, _ = wheelhouse.find_wheelhouse("2.16.0", "cp311", lock_text=text)
    assert built.requirements == ("statsmodels==0.15.0",)


def test_no_requirements_no_lock(data):
    assert artifacts.extras_lock(planned(HOST, data), CP311, {}, Staged(), log=print) is None


def test_a_requirement_against_tabpys_pins_is_an_error_and_stages_nothing(data, tmp_path):
    plan = planned(HOST, {**data, "tabpy_requirements": ["numpy<2"],
                          "tabpy_locks_dir": str(tmp_path / "locks")})
    files = Staged()
    refused = artifacts.extras_lock(plan, CP311, {}, files, log=print)
    assert isinstance(refused, WheelhouseError)
    assert str(refused) == "numpy<2: TabPy 2.16.0 on cp311 x86_64 pins numpy==2.4.6"
    assert files.changes() == [] and not (tmp_path / "locks").exists()

"""`tabpy-provision wheelhouse build --abi cp311 --abi cp313` downloads both ABIs at the same
time (fake builds: no pip runs here)."""

from __future__ import annotations

import threading

import pytest

from tabpy_provision.cli import wheelhouse as cli_wheelhouse
from tabpy_provision.cli.main import main as cli_main
from tabpy_provision.wheelhouse.pinning import WheelhouseError


def test_every_abi_is_built_at_the_same_time():
    both_running = threading.Barrier(2, timeout=5)  # broken unless the two overlap
    built = []

    def build(abi):
        both_running.wait()
        built.append(abi)

    cli_wheelhouse.together(["cp311", "cp313", "cp311"], build)
    assert sorted(built) == ["cp311", "cp313"]


def test_one_failing_abi_lets_the_other_finish_and_is_named():
    finished = []

    def build(abi):
        if abi == "cp311":
            raise WheelhouseError("pip download -r x.txt failed (exit 1): ERROR: no wheel")
        finished.append(abi)

    with pytest.raises(WheelhouseError) as raised:
        cli_wheelhouse.together(["cp311", "cp313"], build)
    assert str(raised.value) == "cp311: pip download -r x.txt failed (exit 1): ERROR: no wheel"
    assert finished == ["cp313"]


def test_a_single_abi_error_is_said_as_it_is():
    def build(abi):
        raise WheelhouseError("no extras lock for cp313")

    with pytest.raises(WheelhouseError, match="^no extras lock for cp313$"):
        cli_wheelhouse.together(["cp313"], build)


def test_the_cli_refuses_with_one_line_per_failing_abi(monkeypatch, capsys):
    def fail(args, abi, log):
        raise WheelhouseError(f"no lock for {abi}")

    monkeypatch.setattr(cli_wheelhouse, "build_one", fail)
    assert cli_main(["wheelhouse", "build", "--abi", "cp311", "--abi", "cp313"]) == 1
    err = capsys.readouterr().err
    assert "cp311: no lock for cp311" in err and "cp313: no lock for cp313" in err

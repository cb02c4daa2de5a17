"""A finished virtualenv shipped to a cold host (server/venv.py): tabpy1 (Debian 12) built its
kind in the lab's first deploy and the controller kept it; the DR host, fresh, of the same
kind, gets it unpacked instead of building its own, byte for byte tabpy1's, and its bytecode
is what TabPy's account imports."""

from __future__ import annotations

from tests.integration.conftest import lab, lab_host, pyinfra

DR_INVENTORY = "inventory/lab_dr.py"
SOURCE, RECEIVER = "tabpy1.lab.test", "tabpydr.lab.test"
VENV = "$(readlink -f /etc/tabpy/current/venv)"
#: Every entry's path, type, mode, link target and content digest: one line per virtualenv.
TREE_DIGEST = (f"cd {VENV} && find . -printf '%P %y %m %l\\n' | LC_ALL=C sort | sha256sum && "
               "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum")


def test_a_cold_host_of_a_built_kind_gets_the_finished_virtualenv(converged):
    lab("reset", RECEIVER.split(".")[0])
    try:
        first = pyinfra(inventory=DR_INVENTORY)
        assert first.returncode == 0, first.output[-3000:]
        shipped = f"virtualenv shipped finished from the controller's cache (built on {SOURCE}"
        assert [line for line in first.output.splitlines()
                if f"[{RECEIVER}]" in line and shipped in line], first.output[-3000:]
        assert "virtualenv built here" not in first.output
        receiver, source = lab_host(RECEIVER), lab_host(SOURCE)
        assert receiver.check_output(TREE_DIGEST) == source.check_output(TREE_DIGEST)
        # As TabPy's account (which cannot write the virtualenv), TabPy's server and pandas
        # come from the shipped bytecode: none stale, none compiled again.
        said = receiver.run(f"cd /tmp && runuser -u tabpy -- {VENV}/bin/python -v -c "
                            "'import tabpy.tabpy, pandas' 2>&1")
        assert said.rc == 0, said.stdout[-2000:]
        venv_lines = [line for line in said.stdout.splitlines() if "/opt/tabpy/venvs/" in line]
        from_bytecode = [line for line in venv_lines if " matches " in line]
        from_source = [line for line in venv_lines
                       if line.startswith("# code object from") and line.endswith(".py'")]
        assert len(from_bytecode) > 200 and from_source == [], from_source[:5]
        assert "bytecode is stale" not in said.stdout
        rerun = pyinfra("--json", inventory=DR_INVENTORY)
        assert rerun.returncode == 0 and rerun.changed() == {}, rerun.changed()
    finally:
        lab("reset", RECEIVER.split(".")[0])

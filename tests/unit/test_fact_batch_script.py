"""Facts read together: the batch script run by a real shell gives each command's own stdout
lines (as pyinfra splits them) and exit status, whatever the commands print."""

from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from tabpy_provision.run import fact_batch
from tabpy_provision.run.facts import FirstLine, Sha256s

MARKER = "tabpy-provision-fact-0123456789abcdef"


def _lines(stdout: str) -> list[str]:
    """stdout split as pyinfra's connectors do (a line each, its newline stripped)."""
    return [line.rstrip("\n") for line in stdout.splitlines(keepends=True)]


def _printf_command(text: str, status: int) -> str:
    octal = "".join(f"\\{byte:03o}" for byte in text.encode())
    return f"printf '{octal}'; exit {status}"


outputs = st.text(alphabet=st.sampled_from("ab \n\t$'\"\\%@"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(outputs, st.integers(0, 3)), min_size=1, max_size=5))
def test_each_command_gets_its_own_lines_and_status(commands):
    script = fact_batch.batch_script([_printf_command(text, status) for text, status in commands],
                                     MARKER)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    alone = [subprocess.run(["sh", "-c", _printf_command(text, status)], capture_output=True,
                            text=True) for text, status in commands]
    assert fact_batch.split_outputs(_lines(done.stdout), MARKER, len(commands)) == [
        (run.returncode, _lines(run.stdout)) for run in alone]


def test_a_batch_cut_short_leaves_the_rest_unread():
    script = fact_batch.batch_script(["echo one", "kill -9 $$", "echo three"], MARKER)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert fact_batch.split_outputs(_lines(done.stdout), MARKER, 3) == [
        (0, ["one"]), (-1, []), (-1, [])]


def test_a_fact_is_one_key_however_its_arguments_are_given():
    assert fact_batch.fact_key(Sha256s, {"paths": ["/a"]}) == \
        fact_batch.fact_key(Sha256s, {"paths": ("/a",)})
    assert fact_batch.fact_key(FirstLine, {"path": "/a"}) != \
        fact_batch.fact_key(FirstLine, {"path": "/b"})

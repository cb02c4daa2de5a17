"""How a refused input ends a pyinfra run: our lines last, no source file and line."""

import subprocess
import sys
from pathlib import Path

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
PROBLEMS = ["tabpy1.example.com: tabpy_evalute_timeout: unknown setting (did you mean "
            "tabpy_evaluate_timeout?)", "tabpy2.example.com: tabpy_port: must be a port"]


def test_a_refusal_ends_the_run_with_its_problems_and_one_closing_line(tmp_path):
    # A deploy file refusing at load, as preflight does; @local is connected to, never changed.
    (tmp_path / "deploy.py").write_text(
        f"from tabpy_provision.run.preflight import refuse\nrefuse({PROBLEMS!r})\n")
    done = subprocess.run([PYINFRA, "-y", "@local", "deploy.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-3:] == [
        *(f"tabpy-provision: {line}" for line in PROBLEMS),
        "tabpy-provision: refused (2 problems); nothing was changed"]
    assert "line " not in done.stdout + done.stderr  # no "pyinfra error in FILE line N"
    assert "Starting operation" not in done.stdout

"""`python -m tabpy_provision.scheduled_backup inventory/<env>.py LOG`: backups from cron or a
systemd timer. Runs deploy/backup.py with its full output in LOG; silent with exit 0 when every
host was backed up, else exit 1 and ONE line saying which hosts failed and why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tabpy_provision.controller.files import PROJECT_ROOT
from tabpy_provision.run.summary import SUMMARY_HEADER

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def one_line_reason(output: str) -> str:
    """The failed hosts from the run's summary, else pyinfra's last error line."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if SUMMARY_HEADER in line:
            failed = [entry.split("]", 1)[-1].strip() for entry in lines[index + 1:]
                      if entry.strip().startswith("[") and "]   " in entry][:20]
            return "; ".join(f for f in failed if ":" in f)
    per_host = [f"{match[1]}: {match[2]}" for match in map(_HOST_ERROR.search, lines) if match]
    if per_host:
        return "; ".join(dict.fromkeys(per_host))
    return lines[-1].strip() if lines else "no output"


_HOST_ERROR = re.compile(r"\[([^\]]+)\]\s+(Could not connect.*|Error.*|.*failed.*)$")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tabpy_provision.scheduled_backup inventory/<env>.py LOG",
              file=sys.stderr)
        return 2
    inventory, log = argv
    done = subprocess.run([PYINFRA, "-y", inventory, "deploy/backup.py"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False)
    Path(log).write_text(done.stdout + done.stderr)
    if done.returncode == 0:
        return 0
    print(f"tabpy backup failed: {one_line_reason(done.stdout + done.stderr)} (log: {log})")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

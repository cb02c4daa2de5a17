"""NLTK 3.10.4 and TextBlob as the hosts install them, from the pinned wheels in the cp311
wheelhouse, for tests that check NLTK data against the real reader.

The wheels are unzipped into a folder (a site-packages without the installer's bookkeeping) and
the code runs in a child interpreter (``python -I``: no PYTHONPATH, no user site, no
$NLTK_DATA or ~/nltk_data from the test machine), so NLTK's module-level state (its data path,
its caches) starts fresh every time. ``regex`` is a cp311 binary wheel: the interpreter must be
CPython 3.11, as the controller's is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tabpy_provision.wheelhouse import build as wheelhouse
from tabpy_provision.wheelhouse import pinning

#: nltk, what it requires (Requires-Dist of nltk 3.10.4) and textblob (the model's other library).
PROJECTS = ("nltk", "click", "defusedxml", "joblib", "regex", "tqdm", "textblob")
ABI = "cp311"


def usable() -> str | None:
    """Why the child interpreter cannot load the cp311 wheels, else None."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return f"the cp311 wheels need CPython 3.11, this is {sys.version.split()[0]}"
    return None


def unpack(dest: Path) -> Path:
    """Unzip the PROJECTS' wheels from the cp311 wheelhouse into ``dest``; ``dest``."""
    archive = wheelhouse.ensure_wheelhouse(pinning.TABPY_VERSION_DEFAULT, ABI).archive
    wanted = {}
    with tarfile.open(archive) as tar:
        for name in tar.getnames():
            if name.startswith("wheels/") and name.endswith(".whl"):
                project, _ = pinning.parse_wheel_filename(name.rsplit("/", 1)[1])
                if project in PROJECTS:
                    wanted[project] = name
        missing = sorted(set(PROJECTS) - set(wanted))
        if missing:
            raise AssertionError(f"{archive.name} has no wheel for {missing}")
        for project in PROJECTS:
            with tar.extractfile(wanted[project]) as wheel, zipfile.ZipFile(wheel) as content:
                content.extractall(dest)
    return dest


def run(site: Path, code: str, *args: str, python: str = sys.executable,
        env: dict[str, str] | None = None, home: Path | None = None) -> object:
    """Run ``code`` with ``site`` first on sys.path and ``sys.argv[1:] == args``; the JSON its
    last stdout line holds. ``home`` (default: ``site``) is $HOME, so no ~/nltk_data is found."""
    prelude = f"import sys; sys.path.insert(0, {str(site)!r})\n"
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home or site),
        "LANG": "C.UTF-8",
        **(env or {}),
    }
    done = subprocess.run(
        [python, "-I", "-c", prelude + code, *args],
        capture_output=True, text=True, env=child_env, timeout=300, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"child python failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])

"""The pyinfra deploy files, one job of an operator's each (the README's job table), packaged
with the tool: a checkout's deploy/NAME.py includes this folder's NAME.py, and they include each
other by absolute path, so they run from any working folder. They are run by pyinfra, never
imported."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The packaged deploy file `name` ("site", "tabpy", ...)."""
    found = FOLDER / f"{name}.py"
    if name.startswith("_") or not found.is_file():
        raise ValueError(f"no deploy file {name!r} in {FOLDER}")
    return found

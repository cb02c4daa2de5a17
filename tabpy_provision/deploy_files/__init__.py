"""The pyinfra deploy files, one job of an operator's each (the README's job table), packaged
with the tool: a checkout's deploy/NAME.py runs this folder's NAME.py, and they include each
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


def include(name: str) -> None:
    """pyinfra's local.include of the packaged deploy file `name`, its operations named
    `deploy/NAME.py | ...` wherever the tool is installed (local.include names them by the
    file's path from the working folder: a site-packages path, different on every machine)."""
    from pyinfra import host
    from pyinfra_cli.util import exec_file

    with host.deploy(f"deploy/{name}.py", None, None, in_deploy=False):
        exec_file(str(path(name)))


def run(name: str) -> None:
    """The packaged deploy file `name` run as the file that calls this (a checkout's
    deploy/NAME.py): its operations are named as if they stood there."""
    from pyinfra_cli.util import exec_file

    exec_file(str(path(name)))

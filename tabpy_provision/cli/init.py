"""`tabpy-provision init DIR`: a site folder for the company's own repository: its inventory, the
analysts' functions, the extras locks, and a .gitignore that keeps the CA's keys, generated
passwords and backups out. The tool stays where pip installed it: upgrading it touches nothing
here."""

from __future__ import annotations

import shutil
from pathlib import Path

from tabpy_provision.cli.common import OK, Refused, command

SKELETON = Path(__file__).with_name("site_skeleton")
#: Skeleton names that are dot-files in a site (a dot-file would be left out of the wheel).
RENAMED = {"gitignore": ".gitignore"}


def register(sub) -> None:
    parser = command(sub, "init", "make a site folder (inventory, functions, locks, .gitignore)",
                     __doc__, run, inventory=False)
    parser.add_argument("folder", type=Path, metavar="DIR")


def run(args) -> int:
    folder: Path = args.folder
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise Refused(f"{folder}: exists and is not an empty folder (nothing was written)")
    made = make_site(folder)
    print(f"{folder}: site folder made ({', '.join(made)}); edit inventory.py, then run "
          "`tabpy-provision deploy --dry` in it")
    return OK


def make_site(folder: Path) -> list[str]:
    """Copy the skeleton into `folder` (new or empty); the names made."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sorted(SKELETON.iterdir()):
        if source.name.startswith(("_", ".")):
            continue
        target = folder / RENAMED.get(source.name, source.name)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        made.append(target.name)
    return made

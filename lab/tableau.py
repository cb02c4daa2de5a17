"""The lab's Tableau Server on tableau1 is a STAND-IN: no Tableau Server can run here, so every
boot installs the tsm stand-in of tests/standins (tsm_standin.py, named a stand-in in its
docstring) as the `tsm` of a Tableau Server 2019.4 - the generation of the seed's `tsm security
vizql-extsvc-ssl enable ...` and `tsm pending-changes apply` - with `tabadmin`, a member of the
TSM-authorized group `tsmadmin`, that the lab inventory runs tsm as. `make deploy` then shows
the seed's last step: tableau1 connected to TabPy, and its Test Connection in the table.

The tests of tests/integration/test_tableau.py replace it with other versions and put it back
(`provision`) when they end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .util import run

HOST = "tableau1"
VERSION_CODE = "20194.19.1105.1444"  # customer-bin.<code>: what the stand-in reads as 2019.4
TSM_DIR = Path("opt/tableau/tableau_server/packages") / f"customer-bin.{VERSION_CODE}"
STATE_DIR = Path("var/lib/tableau-standin")
ADMIN, AUTHORIZED_GROUP = "tabadmin", "tsmadmin"
STANDINS = Path(__file__).resolve().parents[1] / "tests" / "standins"


def provision(root: Path) -> None:
    """The tsm stand-in, its administrator and its state folder in tableau1's root folder."""
    if not _group_id(root):
        run(["groupadd", "--root", str(root), "--system", AUTHORIZED_GROUP])
    if ADMIN not in (root / "etc" / "passwd").read_text():
        run(["useradd", "--root", str(root), "--create-home", "--groups", AUTHORIZED_GROUP,
             "--shell", "/bin/bash", ADMIN])
    folder = root / TSM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STANDINS / "tsm_standin.py", folder / "tsm")
    (folder / "tsm").chmod(0o755)
    shutil.copyfile(STANDINS / "tableau_standin.py", folder / "tableau_standin.py")
    state = root / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    shutil.chown(state, "root", _group_id(root))
    state.chmod(0o2770)


def _group_id(root: Path) -> int | None:
    for line in (root / "etc" / "group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == AUTHORIZED_GROUP:
            return int(fields[2])
    return None


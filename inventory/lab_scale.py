"""N extra TabPy servers of the lab (scale1..scaleN, Debian 12), for `python -m bench scale`:
the lab's TabPy settings, users, CA and wheelhouse, no pool. N is TABPY_LAB_SCALE (default 1);
the hosts are booted by `python -m lab up --scale N`.

    TABPY_LAB_SCALE=5 pyinfra -y inventory/lab_scale.py deploy/tabpy.py
"""

import os
import runpy
from pathlib import Path

from lab import hosts as lab_hosts

_lab = runpy.run_path(str(Path(__file__).with_name("lab.py")))
_count = int(os.environ.get("TABPY_LAB_SCALE", "1"))

tabpy_servers = (
    _lab["_hosts"](lab_hosts.SCALE_GROUP, lab_hosts.scale_hosts(_count)),
    # no Tableau node, client or database in this inventory
    {**_lab["tabpy_servers"][1], "tabpy_allowed_sources": [], "tabpy_outbound_allowed": []},
)

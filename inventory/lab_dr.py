"""The lab's disaster-recovery site: one TabPy server, tabpydr.lab.test, that takes over from a
lost production host (`deploy/failover.py`). It shares the lab's secrets (the same users and
passwords) and CA, and restores the lab environment's backups.

    pyinfra -y inventory/lab_dr.py deploy/failover.py --data restore_from=tabpy1.lab.test
"""

import runpy
from pathlib import Path

from lab import hosts as lab_hosts

_lab = runpy.run_path(str(Path(__file__).with_name("lab.py")))

tabpy_servers = (
    _lab["_hosts"]("dr_tabpy_servers"),
    {**_lab["tabpy_servers"][1], "environment": "lab-dr", "restore_environment": "lab",
     # the lab's Tableau node and client reach the DR host after a failover (this inventory
     # does not hold their groups)
     "tabpy_allowed_sources": [h.address for h in lab_hosts.LAB_HOSTS
                               if {"tableau_servers", "clients"} & set(h.groups)]},
)

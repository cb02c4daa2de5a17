"""The lab site as fleets that forbid root over SSH run it: every host is reached as the lab's
`deploy` user, who escalates with passwordless sudo (`_sudo`). Same hosts, groups and settings
as inventory/lab.py.

    python -m lab root-login off     # sshd on every lab host refuses root
    pyinfra -y inventory/lab_sudo.py deploy/site.py
    python -m lab root-login on
"""

import runpy
from pathlib import Path

from lab.sudo import DEPLOY_USER

_lab = runpy.run_path(str(Path(__file__).with_name("lab.py")))


def _through_sudo(hosts: list) -> list:
    return [(name, {**data, "ssh_user": DEPLOY_USER, "_sudo": True,
                     # read only where sudo asks for it (the lab's sudo is passwordless unless
                     # a test makes it ask)
                     "sudo_password": "env:TABPY_LAB_SUDO_PASSWORD"})
            for name, data in hosts]


tabpy_servers = (_through_sudo(_lab["tabpy_servers"][0]), _lab["tabpy_servers"][1])
tabpy_lb = (_through_sudo(_lab["tabpy_lb"][0]), _lab["tabpy_lb"][1])
tableau_servers = (_through_sudo(_lab["tableau_servers"][0]), _lab["tableau_servers"][1])
rserve_servers = (_through_sudo(_lab["rserve_servers"][0]), _lab["rserve_servers"][1])
clients = _through_sudo(_lab["clients"])

"""The lab site with certificates from an ACME CA: Pebble on acme1 (lab/acme.py), a real ACME
server, in place of the private CA, for the TabPy servers and the pool's balancers alike. Same
hosts, groups and other settings as inventory/lab.py.

    pyinfra -y inventory/lab_acme.py deploy/site.py
    pyinfra -y inventory/lab_acme.py deploy/site.py --data acme_renew=all   # renew now

DNS-01: the controller publishes each challenge's TXT record in pebble-challtestsrv, Pebble's
DNS server, through `python -m lab.acme dns-hook`. Pebble makes a new root at every start;
`lab up` keeps the current one in the lab's state, and the clients and the Tableau node trust
it (tabpy_ca_file), as a company's clients trust its internal ACME CA's root.
"""

import runpy
import sys
from pathlib import Path

from lab import acme

_lab = runpy.run_path(str(Path(__file__).with_name("lab.py")))

ACME = {
    "acme_directory_url": acme.directory_url(),
    "acme_dns_hook": [sys.executable, "-m", "lab.acme", "dns-hook"],
    "acme_server_ca_file": str(acme.listener_ca_path()),
    "tabpy_ca_file": str(acme.root_path()),
    # the lab's ACME state apart from the lab's private CA (pki/lab)
    "pki_dir": "pki/lab-acme",
}

tabpy_servers = (_lab["tabpy_servers"][0], {**_lab["tabpy_servers"][1], **ACME,
                                            "trust_artifacts_dir": "trust-artifacts/lab-acme"})
tabpy_lb = (_lab["tabpy_lb"][0], {**_lab["tabpy_lb"][1], **ACME})
tableau_servers = _lab["tableau_servers"]
clients = _lab["clients"]

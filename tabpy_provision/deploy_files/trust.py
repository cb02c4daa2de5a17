"""Clients and Tableau nodes trust the TabPy servers' CAs: `pyinfra inventory/<env>.py
deploy/trust.py` (like every entry point, its first step writes the Windows and macOS
artifacts on the controller, see docs/trust.md). On a
Tableau Server node a changed trust store needs a Tableau restart: done when
tableau_restart_on_trust_change allows it, else the run says so."""

from pyinfra import host, state

from tabpy_provision.run.preflight import preflight
from tabpy_provision.tableau.operations import tableau_trust_restart
from tabpy_provision.trust.deploy import client_trust

checked = preflight(state)
if host.name in checked.trust:
    changed = client_trust(checked.trust[host.name])
    if host.name in checked.tableau:
        tableau_trust_restart(name="Tableau Server picks up a changed trust store",
                              plan=checked.tableau[host.name], trust_changed=changed)

"""Clients and Tableau nodes trust the TabPy servers' CAs: `pyinfra inventory/<env>.py
deploy/trust.py` (also writes the Windows and macOS artifacts, see the README)."""

from pyinfra import host, state

from tabpy_provision.deploys.client_trust import client_trust
from tabpy_provision.preflight import preflight

checked = preflight(state)
if host.name in checked.trust:
    client_trust(checked.trust[host.name])

"""Tableau Server nodes point at TabPy (tsm or REST API, by version), only where something
differs: `pyinfra inventory/<env>.py deploy/tableau.py` (part of deploy/site.py, after trust)."""

from pyinfra import host, state

from tabpy_provision.deploys.tableau_server import tableau_server
from tabpy_provision.operations import barrier
from tabpy_provision.preflight import preflight

checked = preflight(state)
barrier(name="After every TabPy server and trust store")
if host.name in checked.tableau_state:
    tableau_server(checked.tableau[host.name], checked.tableau_state[host.name])

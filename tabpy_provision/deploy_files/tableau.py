"""Tableau Server nodes (tsm or REST API, by version) and Tableau Cloud sites point at TabPy,
only where something differs: `pyinfra inventory/<env>.py deploy/tableau.py` (part of
deploy/site.py, after trust)."""

from pyinfra import host, state

from tabpy_provision.run.operations import barrier
from tabpy_provision.run.preflight import preflight
from tabpy_provision.tableau.cloud import test_connection
from tabpy_provision.tableau.deploy import tableau_server

checked = preflight(state)
barrier(name="After every TabPy server and trust store")
if host.name in checked.tableau_state:
    plan = checked.tableau[host.name]
    tableau_server(plan, checked.tableau_state[host.name], lambda: test_connection(
        plan, checked.plans.values(), checked.balancers.values()))

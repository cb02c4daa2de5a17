"""The Tableau Server @deploy: Tableau's analytics-extension connection to TabPy, set the way
its version needs (tsm, or the REST API from the controller) and only where it differs; then
Tableau's "Test Connection" from the node itself. Everything comes from a TableauPlan made and
checked, with what Tableau holds now, before any host is touched (preflight)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from tabpy_provision.run.lease import release_lease, take_lease
from tabpy_provision.run.operations import controller_check
from tabpy_provision.tableau import TableauPlan, TsmState
from tabpy_provision.tableau.cloud import CLOUD
from tabpy_provision.tableau.operations import (
    rest_connections,
    tableau_side_check,
    tsm_connection,
)
from tabpy_provision.tableau.rest import RestState


@deploy("Tableau Server")
def tableau_server(plan: TableauPlan, snapshot: TsmState | RestState, cloud_check) -> None:
    """`cloud_check`: Tableau Cloud's Test Connection, from the controller (a Tableau Cloud
    site has no node of ours to run it from)."""
    take_lease(name="Take the deploy lease (one deploy per host at a time)")
    if plan.rest is not None:
        rest_connections(name=f"TabPy connection of each site ({plan.summary})", plan=plan,
                         snapshot=snapshot)
    else:
        tsm_connection(name=f"TabPy connection ({plan.summary})", plan=plan, snapshot=snapshot)

    def check() -> tuple[bool, str]:
        result = cloud_check() if plan.mechanism == CLOUD else \
            tableau_side_check(host, plan.connection)
        return result.ok, result.detail

    controller_check(name="Test Connection, as Tableau does", check=check)
    release_lease(name="Release the deploy lease")

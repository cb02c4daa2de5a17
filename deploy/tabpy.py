"""TabPy servers only: `pyinfra inventory/<env>.py deploy/tabpy.py`."""

from pyinfra import host, state

from tabpy_provision.deploys.tabpy_server import tabpy_server
from tabpy_provision.preflight import preflight

checked = preflight(state)
if host.name in checked.plans:
    plan = checked.plans[host.name]
    tabpy_server(plan, checked.wheelhouses[host.name], checked.members(plan))

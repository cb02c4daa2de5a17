"""Rserve servers only: `pyinfra inventory/<env>.py deploy/rserve.py`."""

from pyinfra import host, state

from tabpy_provision.rserve.deploy import rserve_server
from tabpy_provision.run.preflight import preflight

checked = preflight(state)
if host.name in checked.rserve:
    rserve_server(checked.rserve[host.name], checked.platforms[host.name],
                  checked.fences.get(host.name))

"""The TabPy pool's balancers only: `pyinfra inventory/<env>.py deploy/balancer.py`."""

from pyinfra import host, state

from tabpy_provision.pool.deploy import pool_balancer
from tabpy_provision.run.operations import barrier, host_failed
from tabpy_provision.run.preflight import preflight

checked = preflight(state)
# The pool changes after its TabPy processes (new ones exist, removed ones were drained).
barrier(name="After every TabPy server")
if host.name in checked.balancers:
    pool = checked.balancers[host.name]
    pool_balancer(pool, checked.platforms[host.name])
    if pool.tls is not None and pool.tls.acme_error:
        host_failed(name="ACME certificate renewal", reason=pool.tls.acme_error)

"""TabPy servers: `pyinfra inventory/<env>.py deploy/tabpy.py`. The pool's balancers are only
told, before the roll, to also trust the CAs the TabPy servers move to (deploy/balancer.py
does the rest of the balancers)."""

from pyinfra import host, state

from tabpy_provision.pool import deploy as pool_balancer
from tabpy_provision.pool.operations import backend_cas_widened
from tabpy_provision.run import fact_batch
from tabpy_provision.run.operations import barrier, host_failed
from tabpy_provision.run.preflight import preflight
from tabpy_provision.server.deploy import tabpy_server

checked = preflight(state)
if host.name in checked.balancers:
    fact_batch.read_together(host, pool_balancer.facts_asked(checked.balancers[host.name],
                                                             checked.platforms[host.name]))
    backend_cas_widened(name="Pool balancer also trusts the TabPy servers' new CAs",
                        ca_pem=checked.balancers[host.name].backend_ca_pem)
barrier(name="Before the TabPy servers roll")
if host.name in checked.plans:
    plan = checked.plans[host.name]
    tabpy_server(plan, checked.wheelhouses[host.name], checked.nltk_data[host.name],
                 checked.members(plan), checked.fences[host.name], checked.platforms[host.name])
    if plan.tls is not None and plan.tls.acme_error:
        host_failed(name="ACME certificate renewal", reason=plan.tls.acme_error)

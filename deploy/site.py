"""The whole site, in order: TabPy servers, the pool's balancers, then clients and Tableau
nodes trusting their CAs, then Tableau Server's connection to TabPy, then a summary of the
hosts that failed."""

from pyinfra import local, state

from tabpy_provision.run.summary import failure_summary, record_failures

record_failures(state)
local.include("deploy/tabpy.py")
local.include("deploy/balancer.py")
local.include("deploy/trust.py")
local.include("deploy/tableau.py")
failure_summary(name="Summary of failed hosts")

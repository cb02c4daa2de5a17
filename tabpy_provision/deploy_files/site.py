"""The whole site, in order: TabPy servers, the pool's balancers, then clients and Tableau
nodes trusting their CAs, then Tableau Server's connection to TabPy, then a summary of the
hosts that failed."""

from pyinfra import local, state

from tabpy_provision.deploy_files import path
from tabpy_provision.run.summary import failure_summary, record_failures

record_failures(state)
local.include(str(path("tabpy")))
local.include(str(path("balancer")))
local.include(str(path("trust")))
local.include(str(path("tableau")))
failure_summary(name="Summary of failed hosts")

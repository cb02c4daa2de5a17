"""The whole site, in order: TabPy servers, then clients and Tableau nodes trusting their CAs,
then Tableau Server's connection to TabPy (more roles join here as they are built), then a
summary of the hosts that failed."""

from pyinfra import local, state

from tabpy_provision.summary import failure_summary, record_failures

record_failures(state)
local.include("deploy/tabpy.py")
local.include("deploy/trust.py")
local.include("deploy/tableau.py")
failure_summary(name="Summary of failed hosts")

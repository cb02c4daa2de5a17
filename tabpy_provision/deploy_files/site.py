"""The whole site, in order: TabPy servers, the pool's balancers, Rserve servers, then
clients and Tableau nodes trusting their CAs, then Tableau Server's connection to TabPy, then
a summary of the hosts that failed."""

from pyinfra import state

from tabpy_provision.deploy_files import include
from tabpy_provision.run.summary import failure_summary, record_failures

record_failures(state)
include("tabpy")
include("balancer")
include("rserve")
include("trust")
include("tableau")
failure_summary(name="Summary of failed hosts")

"""The whole site, in order: TabPy servers, the pool's balancers, Rserve servers, then
clients and Tableau nodes trusting their CAs, then Tableau Server's connection to TabPy, then
a summary of the hosts that failed.

What it does: tabpy_provision/deploy_files/site.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("site")

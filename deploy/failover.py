"""Fail over to a disaster-recovery site in one command:

    pyinfra -y inventory/<dr>.py deploy/failover.py --data restore_from=<lost host>

What it does: tabpy_provision/deploy_files/failover.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("failover")

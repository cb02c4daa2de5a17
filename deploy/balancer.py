"""The TabPy pool's balancers only: `pyinfra inventory/<env>.py deploy/balancer.py`.

What it does: tabpy_provision/deploy_files/balancer.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("balancer")

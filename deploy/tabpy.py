"""TabPy servers: `pyinfra inventory/<env>.py deploy/tabpy.py`. The pool's balancers are only
told, before the roll, to also trust the CAs the TabPy servers move to (deploy/balancer.py
does the rest of the balancers).

What it does: tabpy_provision/deploy_files/tabpy.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("tabpy")

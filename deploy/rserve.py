"""Rserve servers only: `pyinfra inventory/<env>.py deploy/rserve.py`.

What it does: tabpy_provision/deploy_files/rserve.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("rserve")

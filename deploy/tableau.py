"""Tableau Server nodes (tsm or REST API, by version) and Tableau Cloud sites point at TabPy,
only where something differs: `pyinfra inventory/<env>.py deploy/tableau.py` (part of
deploy/site.py, after trust).

What it does: tabpy_provision/deploy_files/tableau.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("tableau")

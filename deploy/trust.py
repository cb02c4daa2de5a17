"""Clients and Tableau nodes trust the TabPy servers' CAs: `pyinfra inventory/<env>.py
deploy/trust.py` (like every entry point, its first step writes the Windows and macOS
artifacts on the controller, see docs/trust.md). On a
Tableau Server node a changed trust store needs a Tableau restart: done when
tableau_restart_on_trust_change allows it, else the run says so.

What it does: tabpy_provision/deploy_files/trust.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("trust")

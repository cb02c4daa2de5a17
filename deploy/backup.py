"""Back up every TabPy server (or `--limit` some): `pyinfra -y inventory/<env>.py deploy/backup.py`.

What it does: tabpy_provision/deploy_files/backup.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("backup")

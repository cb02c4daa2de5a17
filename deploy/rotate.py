"""Rotate generated TabPy passwords, everywhere, in one run:

    pyinfra -y inventory/<env>.py deploy/rotate.py                          # every generated user
    pyinfra -y inventory/<env>.py deploy/rotate.py --data rotate_users=alice,bob

What it does: tabpy_provision/deploy_files/rotate.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("rotate")

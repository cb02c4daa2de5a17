"""Restore TabPy servers from their backups (or from another host's, for DR):

    pyinfra -y inventory/<env>.py deploy/restore.py [--limit HOST]
        [--data restore_from=OTHER_HOST] [--data restore_environment=production]
        [--data restore_archive=backups/.../X.tabpy-backup]

What it does: tabpy_provision/deploy_files/restore.py (this file runs it from the checkout)."""

from tabpy_provision.deploy_files import run

run("restore")

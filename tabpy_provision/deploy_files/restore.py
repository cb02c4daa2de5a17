"""Restore TabPy servers from their backups (or from another host's, for DR):

    pyinfra -y inventory/<env>.py deploy/restore.py [--limit HOST]
        [--data restore_from=OTHER_HOST] [--data restore_environment=production]
        [--data restore_archive=backups/.../X.tabpy-backup]

Every archive is verified (authentication tag, file hashes) before any host is touched; the
target is deployed from inventory with the backup's TabPy version, then its state and models are
swapped in and checked; a failed restore puts the target's own state back.
"""

from pyinfra import host, state

from tabpy_provision.backup.deploy import restore_host, restore_preflight
from tabpy_provision.deploy_files import include

checked = restore_preflight(state)
include("site")
if host.name in checked.snapshots:
    restore_host(name="Restore TabPy state and models from the backup",
                 plan=checked.preflight.plans[host.name], snapshot=checked.snapshots[host.name],
                 source=checked.sources[host.name])

"""Back up every TabPy server (or `--limit` some): `pyinfra -y inventory/<env>.py deploy/backup.py`.

Each host's release files and TabPy state (models) become one encrypted archive in
backup_dir/<environment>/<host>/<UTC time>.tabpy-backup; the newest backup_keep are kept. For
cron or a systemd timer: `tabpy-provision backup --log LOG`.
"""

from pyinfra import host, state

from tabpy_provision.backup.deploy import backup_host, backup_passphrase
from tabpy_provision.run.current import run_of
from tabpy_provision.run.preflight import preflight
from tabpy_provision.run.summary import failure_summary, record_failures

record_failures(state)
checked = preflight(state)
if host.name in checked.plans:
    plan = checked.plans[host.name]
    # Checked before any host is touched; a new generated key is written by the run's first
    # operation (preparing the controller), before any backup.
    passphrase = backup_passphrase(host.name, plan.values, run_of(state).files)
    backup_host(name="Back up TabPy (release files, state, models)", plan=plan,
                passphrase_of=lambda: passphrase)
failure_summary(name="Summary of failed hosts")

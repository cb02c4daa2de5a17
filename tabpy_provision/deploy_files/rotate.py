"""Rotate generated TabPy passwords, everywhere, in one run:

    pyinfra -y inventory/<env>.py deploy/rotate.py                          # every generated user
    pyinfra -y inventory/<env>.py deploy/rotate.py --data rotate_users=alice,bob

New passwords are made pending in the secret store, deployed by the whole site deploy (TabPy
restarts once per host; the health check uses the new password) and become current only when
every TabPy host took them. A failed or --dry run leaves the old passwords current.
"""

from pyinfra import state
from pyinfra.operations import python

from tabpy_provision.deploy_files import include
from tabpy_provision.run.preflight import preflight

checked = preflight(state, rotation=True)
include("site")


def _promote(state, host):
    ok, detail = checked.promote_rotations({failed.name for failed in state.failed_hosts})
    host.log_styled(detail, fg="green" if ok else "red")
    return ok


python.call(name="Make the rotated passwords current", function=_promote, _run_once=True)

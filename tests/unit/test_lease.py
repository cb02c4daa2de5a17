import os
import socket
import time
from pathlib import Path

from tabpy_provision.run.lease import holder_is_live

HERE = socket.gethostname()
LATER = int(time.time()) + 7 * 86400  # the suite may collect this long before it runs


def test_own_run_and_expired_leases_are_free():
    assert not holder_is_live(f"{HERE} {os.getpid()} run1 {LATER}", "run1")
    assert not holder_is_live(f"elsewhere 1 run2 {int(time.time()) - 1}", "run1")


def test_live_local_process_and_other_controllers_hold_it():
    assert holder_is_live(f"{HERE} {os.getpid()} run2 {LATER}", "run1")
    assert holder_is_live(f"elsewhere 1 run2 {LATER}", "run1")


def test_a_killed_local_deploy_releases_it():
    # A pid above the kernel's maximum: no process can have it (a real dead pid may be reused).
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    assert not holder_is_live(f"{HERE} {gone} run2 {LATER}", "run1")


def test_garbage_is_treated_as_held():
    assert holder_is_live("not a lease", "run1")

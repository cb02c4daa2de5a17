"""What a TabPy release holds (run/release.py: what a release is):

    /etc/tabpy/releases/<name>/tabpy.conf, passwords, tls/tabpy.crt, tls/tabpy.key,
        tls/sitecustomize.py (TLS profile of TabPy's connections), venv -> ...
        (several TabPy processes: instances/PORT.conf each instead of tabpy.conf)

Pure: no pyinfra import.
"""

from __future__ import annotations

from tabpy_provision.run.release import Release, ReleaseFile
from tabpy_provision.server import render
from tabpy_provision.server.plan import TabpyServerPlan


def build_release(plan: TabpyServerPlan, venv: str) -> Release:
    account = plan.settings.tabpy.tabpy_system_user
    files = [ReleaseFile(instance.config_name, render.tabpy_config(plan, instance).encode(),
                         "root", account, "0640", secret=False) for instance in plan.instances]
    if plan.password_file is not None:
        files.append(ReleaseFile("passwords", plan.password_file, account, account, "0600",
                                 secret=True))
    if plan.tls is not None:
        files.append(ReleaseFile("tls/tabpy.crt", plan.tls.chain_pem, "root", account, "0644",
                                 secret=False))
        files.append(ReleaseFile("tls/tabpy.key", plan.tls.key_pem, account, account, "0600",
                                 secret=True))
        files.append(ReleaseFile("tls/sitecustomize.py", render.tls_hook(plan).encode(), "root",
                                 account, "0644", secret=False))
    return Release(tuple(files), venv)

"""The clients' trust operations (pyinfra): a macOS keychain's trusted certificates."""

from __future__ import annotations

import posixpath
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from tabpy_provision.run.facts import (
    TextFiles,
)
from tabpy_provision.trust import plan as trust
from tabpy_provision.trust.facts import KeychainSha1s
from tabpy_provision.trust.plan import ClientTrustPlan


@operation()
def macos_trusted_certificates(plan: ClientTrustPlan, keychain: str = trust.SYSTEM_KEYCHAIN):
    """The macOS System keychain trusts exactly the plan's certificates among ours: missing
    ones added (looked up by SHA-1), retired or no longer wanted ones deleted, in one
    authorization window that is always closed again (trust.macos_trust_command). What this
    scope trusts is recorded (PEM, root-only folder) to know later what to remove; what other
    scopes' records want is never removed."""
    present = host.get_fact(KeychainSha1s, keychain=keychain)
    record = plan.macos_record_path
    folder = posixpath.dirname(record)
    records = host.get_fact(TextFiles, folder=folder, pattern="trusted-*.pem")
    recorded = records.get(posixpath.basename(record))
    elsewhere = [cert for name, lines in records.items() if name != posixpath.basename(record)
                 for cert in trust.read_record(lines)]
    adds, deletes = plan.macos_changes(present, trust.read_record(recorded), elsewhere)
    staged = [(cert, f"{folder}/{cert.name}.pem") for cert in (*adds, *deletes)]
    if staged or recorded is None:
        yield StringCommand("install -d -m 0700", QuoteString(folder))
    for cert, path in staged:
        yield FileUploadCommand(BytesIO(cert.pem), path)
    if staged:
        yield StringCommand(trust.macos_trust_command(staged[:len(adds)], staged[len(adds):],
                                                      keychain))
    if recorded != plan.macos_record.decode().splitlines():
        yield FileUploadCommand(BytesIO(plan.macos_record), record)

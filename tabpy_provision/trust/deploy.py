"""The client trust @deploy: the TabPy servers' CA certificates in the OS trust store of a
client or Tableau node (what Tableau's certificate check uses), retired ones removed.

Linux: one PEM per certificate in the family's anchor folder, then its update command - only
when a file was added or removed. macOS: the System keychain, by SHA-1 (see
operations.macos_trusted_certificates). Everything comes from a ClientTrustPlan made and
checked before any host is touched.
"""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from tabpy_provision.run.operations import file_content
from tabpy_provision.trust.facts import ManagedTrustFiles
from tabpy_provision.trust.operations import macos_trusted_certificates
from tabpy_provision.trust.plan import ClientTrustPlan


@deploy("Client trust")
def client_trust(plan: ClientTrustPlan) -> Callable[[], bool]:
    """Returns whether the trust store changed (will change, before the run executes)."""
    if plan.family == "macos":
        return _changed([macos_trusted_certificates(
            name="CA certificates in the System keychain", plan=plan)])
    store = plan.linux_store
    added = [file_content(name=f"Trust {cert.subject} ({cert.role})", path=plan.linux_path(cert),
                          content=cert.pem)
             for cert in plan.install]
    present = host.get_fact(ManagedTrustFiles, folder=store.anchor_dir,
                            prefix=plan.managed_prefix)
    removed = [files.file(name=f"No longer trusted: {path}", path=path, present=False)
               for path in plan.stale_files(present)]
    server.shell(name=f"Refresh the trust store ({store.refresh})", commands=[store.refresh],
                 _if=lambda: any(op.did_change() for op in removed))
    server.shell(name=f"Update the trust store ({store.update})", commands=[store.update],
                 _if=lambda: (any(op.did_change() for op in added)
                              and not any(op.did_change() for op in removed)))
    return _changed([*added, *removed])


def _changed(ops: list) -> Callable[[], bool]:
    return lambda: any(op.did_change() if host.state.is_executing else op.will_change
                       for op in ops)

"""What an Rserve release holds (run/release.py: what a release is):

    /etc/rserve/releases/<name>/Rserv.conf, auth.R (the login function), users,
        tls/rserve.crt (the leaf alone: Rserve sends the first certificate of its file),
        tls/chain.crt (the intermediates: OpenSSL completes the chain Rserve sends from them),
        tls/rserve.key

Rserve runs as its own user and reads every file itself (it is never started as root), so
the files are root's, readable by Rserve's group, and never writable by the R sessions.
Pure: no pyinfra import.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tabpy_provision.rserve import render
from tabpy_provision.rserve.plan import RservePlan
from tabpy_provision.run.release import Release, ReleaseFile

CONFIG = "Rserv.conf"


def leaf_and_chain(chain_pem: bytes) -> tuple[bytes, bytes]:
    """The leaf's PEM and the PEM of the certificates after it (b"" when none)."""
    certs = x509.load_pem_x509_certificates(chain_pem)
    pem = [cert.public_bytes(Encoding.PEM) for cert in certs]
    return pem[0], b"".join(pem[1:])


def params(plan: RservePlan, release_dir: str) -> render.RserveParams:
    """Where Rserve finds its files, in the release folder it is started from."""
    rserve = plan.settings.rserve
    _, chain = leaf_and_chain(plan.tls.chain_pem)
    return render.RserveParams(
        port=rserve.rserve_port, tls_key=f"{release_dir}/tls/rserve.key",
        tls_cert=f"{release_dir}/tls/rserve.crt",
        users_file=f"{release_dir}/users", auth_script=f"{release_dir}/auth.R",
        workdir=rserve.rserve_workdir, system_user=rserve.rserve_system_user,
        tls_chain=f"{release_dir}/tls/chain.crt" if chain else None)


def build_release(plan: RservePlan) -> Release:
    """The release's files. Their paths inside name the release folder, whose name is a digest
    of the files: the paths are written as the `current` link's (the unit resolves it)."""
    account = plan.settings.rserve.rserve_system_user
    where = params(plan, plan.current_dir)
    leaf, chain = leaf_and_chain(plan.tls.chain_pem)

    def readable(path: str, content: bytes, secret: bool = False) -> ReleaseFile:
        return ReleaseFile(path, content, "root", account, "0640", secret=secret)

    files = [readable(CONFIG, render.render_config(where).encode()),
             readable("auth.R", render.render_auth_script(where).encode()),
             readable("users", plan.users_file, secret=True),
             readable("tls/rserve.crt", leaf)]
    if chain:
        files.append(readable("tls/chain.crt", chain))
    files.append(readable("tls/rserve.key", plan.tls.key_pem, secret=True))
    return Release(tuple(files))

"""Is this controller the one that built the environment? Pure checks of what hosts already
have against what the controller holds.

An environment's identity is its private CA and its generated passwords. A controller that
lost them (a new laptop, a fresh CI runner, a colleague's clone) would otherwise mint new ones
as a side effect: every client trusting the old root through GPO or MDM, and every Tableau
site holding a generated password, would break. So a run stops, naming the host and what is
missing, unless the operator asks for a new identity (`--data new_identity=true`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cryptography import x509

from tabpy_provision import pki

RESTORE_HINT = ("restore the controller's state (tabpy-provision state restore ARCHIVE), or "
                "give the environment a new identity on purpose (tabpy-provision deploy "
                "--new-identity; pyinfra: --data new_identity=true)")


def wants_new_identity(data: Mapping) -> bool:
    return str(data.get("new_identity", "")).strip().lower() in ("1", "true", "yes")


def foreign_certificate(host: str, served_pem: str | None, cas: Sequence[pki.CaCert],
                        pki_dir: str, ca_is_new: bool) -> str | None:
    """A problem line when the host serves a certificate from a private CA of this tool that
    the controller's (any of its roots and intermediates, retired ones included) is not; None
    when it is, when the host serves nothing yet, or serves a company certificate (moving from
    a supplied certificate to the private CA is an ordinary change of the inventory)."""
    if not served_pem or "BEGIN CERTIFICATE" not in served_pem:
        return None
    try:
        chain = x509.load_pem_x509_certificates(served_pem.encode())
    except ValueError:
        return None  # unreadable: the deploy replaces it like any damaged file
    ours = any(pki.signed_by(chain[0], ca.cert) for ca in cas) or \
        any(pki.anchored_at(chain, ca.cert) for ca in cas if ca.role == pki.ROOT)
    if ours or not pki.from_private_ca(chain[0]):
        return None
    issuer = pki.subject_cn(chain[0], issuer=True) or chain[0].issuer.rfc4514_string()
    held = f"{pki_dir} holds no CA" if ca_is_new else f"the CA in {pki_dir} did not issue it"
    return (f"{host}: pki_dir: the host serves a certificate issued by {issuer!r}, but {held}: "
            f"{RESTORE_HINT}")


def missing_passwords(host: str, generated_missing: Iterable[str], users_on_host: Iterable[str],
                      location: str) -> list[str]:
    """Problem lines for generated users the host already has but this controller holds no
    password for (a new one would lock out whoever uses the current one)."""
    on_host = {user.lower() for user in users_on_host}
    return [f"{host}: tabpy_users.{user} (generate): the host already has this user, but "
            f"{location} holds no password for it: {RESTORE_HINT}"
            for user in sorted(generated_missing) if user.lower() in on_host]

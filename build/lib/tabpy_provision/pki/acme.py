"""Certificates from an ACME CA (Let's Encrypt, an internal step-ca or Vault PKI, Pebble in the
lab), as kept on the controller: whether the stored one is served again or a new one must be
ordered, and what an order needs. Pure: no network, no pyinfra (acme_client.py orders).

    pki_dir/acme/accounts/<CA host>-<digest of the directory URL>/key.pem   the account key
    pki_dir/acme/certs/<name>/fullchain.pem, key.pem, order.json           one per name

A stored certificate is served again while its chain checks (the supplied-certificate checks:
key, names, chain to tabpy_ca_file or else a publicly trusted CA), it came from the same
directory for the same names, and it does not end within the renewal window: ACME CAs
rate-limit orders, so a rerun orders nothing.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tabpy_provision.controller.files import Staged
from tabpy_provision.pki.certs import cert_sans, current_time, day_text, expiry_phrase
from tabpy_provision.pki.supplied import SuppliedCertificate, load_supplied_certificate

ACME_DIR = "acme"
CHAIN_FILE, KEY_FILE, ORDER_FILE = "fullchain.pem", "key.pem", "order.json"
#: What a plan holds for a certificate not ordered yet (a --dry run, a report): never served.
PENDING_PEM = b"# an ACME certificate, ordered when the run goes on\n"


@dataclass(frozen=True)
class AcmeOrder:
    """One certificate to order: names, CA, how its challenges are answered, and why."""
    names: tuple[str, ...]  # the first is the name the host is reached by
    directory_url: str
    challenge: str  # dns-01 or http-01
    folder: Path  # where the certificate is kept (pki_dir/acme/certs/<first name>)
    account_key: Path
    dns_hook: tuple[str, ...]  # run on the controller for each DNS-01 TXT record (dns-01)
    server_ca: Path | None  # verifies the ACME server's HTTPS; None: the OS trust store
    email: str | None
    timeout: int  # seconds for the whole order
    reason: str  # "new", "expires in 12 days (renewal window 30)", "renewal asked" ...
    #: What keeps serving when the order fails (the stored certificate, if still valid).
    current: SuppliedCertificate | None = field(default=None, repr=False)


def certificate_folder(pki_dir: Path, name: str) -> Path:
    return Path(pki_dir) / ACME_DIR / "certs" / name


def account_key_path(pki_dir: Path, directory_url: str) -> Path:
    """One account per ACME directory: its key is the account (kept with the controller's
    state; a lost key only means a new account)."""
    digest = hashlib.sha256(directory_url.encode()).hexdigest()[:12]
    host = urllib.parse.urlsplit(directory_url).hostname or "acme"
    return Path(pki_dir) / ACME_DIR / "accounts" / f"{host}-{digest}" / "key.pem"


def order_record(order: AcmeOrder, now: datetime) -> bytes:
    """order.json: which CA, for which names, when (what the reuse check compares)."""
    return (json.dumps({"directory_url": order.directory_url, "names": list(order.names),
                        "ordered": current_time(now).isoformat()}, indent=2) + "\n").encode()


def stored_certificate(
    files: Staged,
    folder: Path,
    names: tuple[str, ...],
    directory_url: str,
    *,
    ca_data: bytes | None,
    renew_before_days: int,
    renew: bool = False,
    now: datetime | None = None,
) -> tuple[SuppliedCertificate | None, str | None]:
    """(the stored certificate if it may still be served, why a new one must be ordered or
    None to reuse it)."""
    now = current_time(now)
    chain, key, record = (files.read(folder / n) for n in (CHAIN_FILE, KEY_FILE, ORDER_FILE))
    if chain is None or key is None or record is None:
        return None, "new"
    current, problems = load_supplied_certificate(chain, key, names[0], ca_data=ca_data,
                                                  now=now)
    if current is None:
        return None, f"the stored one is unusable ({problems[0][1]})"
    try:
        ordered = json.loads(record)
        ordered_from, ordered_names = ordered["directory_url"], tuple(ordered["names"])
    except (ValueError, KeyError, TypeError):
        return current, f"{folder / ORDER_FILE} is unreadable"
    dns, ips = cert_sans(current.chain[0])
    served = sorted([*dns, *map(str, ips)])
    if ordered_from != directory_url:
        return current, f"ordered from another ACME CA ({ordered_from})"
    if sorted(names) != served or ordered_names != names:
        return current, f"names changed ({', '.join(served)} -> {', '.join(names)})"
    not_after = current.chain[0].not_valid_after_utc
    if (not_after - now).days < renew_before_days:
        return current, (f"{expiry_phrase(not_after, now)} ({day_text(not_after)}), inside "
                         f"the renewal window of {renew_before_days} days")
    if renew:
        return current, "renewal asked (acme_renew)"
    return current, None


def renewal_date(not_after: datetime, renew_before_days: int) -> str:
    """The day a normal run orders the next certificate (for the report)."""
    return day_text(not_after - timedelta(days=renew_before_days))

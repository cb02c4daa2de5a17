"""Server (leaf) certificates issued by the private CA, kept under ``pki_dir/hosts/<fqdn>/``
(cert.pem, key.pem, chain.pem) and reused byte-for-byte while they fit, so a redeploy does not
change files on the hosts. Keys are EC P-256."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tabpy_provision.controller.files import Staged, writing
from tabpy_provision.pki.authority import CertificateAuthority
from tabpy_provision.pki.certs import (
    BACKDATE,
    HOSTS_DIR,
    LABEL,
    LEAF_CERT,
    LEAF_CHAIN,
    LEAF_CURVE,
    LEAF_KEY,
    MAX_LEAF_DAYS,
    MIN_GAIN,
    PkiError,
    PrivateKey,
    aki_from,
    allows_server_auth,
    cert_sans,
    check_positive,
    current_time,
    day_text,
    ensure_newline,
    expiry_phrase,
    hash_for,
    parse_ip_address,
    private_key_pem,
    random_serial,
    read_optional,
    same_public_key,
    signed_by,
    to_pem,
)

# --------------------------------------------------------------------------------------------
# Server (leaf) certificates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedLeaf:
    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes  # leaf + intermediate, leaf first (what TabPy serves)
    root_pem: bytes  # what Tableau must trust
    not_after: datetime
    reissued: bool
    reason: str  # "new", "SANs changed (...)", "expires in 12 days (renewal window 30)", "reused"


def ensure_leaf(
    ca: CertificateAuthority,
    pki_dir: Path,
    fqdn: str,
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    days: int = 397,
    renew_before_days: int = 30,
    now: datetime | None = None,
    files: Staged | None = None,
) -> IssuedLeaf:
    """Return the server certificate for ``fqdn``, reusing the stored one while it fits.

    Reused (byte-identical) when cert and key parse and match, the certificate was signed by
    the current intermediate, its SANs equal the requested ones and it does not expire within
    ``renew_before_days``.  Otherwise a new key and certificate are issued and ``reason`` says
    why.  ``fqdn`` may also be an IP address (then it becomes an IP SAN).
    """
    pki_dir = Path(pki_dir)
    now = current_time(now)
    check_positive(days=days)
    if days > MAX_LEAF_DAYS:
        raise PkiError(f"days ({days}) must be at most {MAX_LEAF_DAYS}: macOS and iOS refuse a "
                       "TLS server certificate valid longer")
    if not 0 <= renew_before_days < days:
        raise PkiError(
            f"renew_before_days ({renew_before_days}) must be between 0 and days ({days}) - 1"
        )
    host = _normalize_host(fqdn)
    want_dns, want_ips = _requested_sans(host, dns_names, ip_addresses)

    with writing(files) as files:
        files.private_folders(pki_dir, pki_dir / HOSTS_DIR, pki_dir / HOSTS_DIR / host)
        return _ensure_leaf(files, ca, pki_dir / HOSTS_DIR / host, host, want_dns, want_ips,
                            days, renew_before_days, now)


def _ensure_leaf(files: Staged, ca: CertificateAuthority, host_dir: Path, host: str,
                 want_dns: list[str], want_ips: list, days: int, renew_before_days: int,
                 now: datetime) -> IssuedLeaf:
    cert_path, key_path, chain_path = (host_dir / n for n in (LEAF_CERT, LEAF_KEY, LEAF_CHAIN))
    inter_pem = to_pem(ca.intermediate_cert)
    # notBefore is backdated: 825 days end that much earlier (and notAfter's second counts).
    longest = now - BACKDATE + timedelta(days=MAX_LEAF_DAYS, seconds=-1)
    new_not_after = min(now + timedelta(days=days), ca.intermediate_cert.not_valid_after_utc,
                        longest)

    reason, existing = _reuse_check(
        files, ca, cert_path, key_path, want_dns, want_ips, renew_before_days, new_not_after, now
    )
    if existing is not None:
        cert, cert_pem, key_pem = existing
        chain_pem = ensure_newline(cert_pem) + inter_pem
        if files.read(chain_path) != chain_pem:
            files.write_private(chain_path, chain_pem, f"rewrite {chain_path}")
            reason = f"{reason} ({LEAF_CHAIN} out of date)"
        for path in (cert_path, key_path, chain_path):
            files.tighten(path)
        return IssuedLeaf(
            cert_pem=cert_pem,
            key_pem=key_pem,
            chain_pem=chain_pem,
            root_pem=ca.root_pem,
            not_after=cert.not_valid_after_utc,
            reissued=False,
            reason=reason,
        )

    key = ec.generate_private_key(LEAF_CURVE)
    cert = _build_leaf(ca, key, host, want_dns, want_ips, new_not_after, now)
    cert_pem, key_pem = to_pem(cert), private_key_pem(key)
    chain_pem = cert_pem + inter_pem
    # Key first: an interruption leaves a mismatch that the next run repairs.
    what = f"issue a certificate for {host} ({reason})"
    files.write_private(key_path, key_pem, what)
    files.write_private(cert_path, cert_pem, what)
    files.write_private(chain_path, chain_pem, what)
    return IssuedLeaf(
        cert_pem=cert_pem,
        key_pem=key_pem,
        chain_pem=chain_pem,
        root_pem=ca.root_pem,
        not_after=cert.not_valid_after_utc,
        reissued=True,
        reason=reason,
    )


def _reuse_check(
    files: Staged,
    ca: CertificateAuthority,
    cert_path: Path,
    key_path: Path,
    want_dns: list[str],
    want_ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    renew_before_days: int,
    new_not_after: datetime,
    now: datetime,
) -> tuple[str, tuple[x509.Certificate, bytes, bytes] | None]:
    """(reason, (cert, cert_pem, key_pem) if the stored certificate can be reused)."""
    cert_pem = read_optional(files, cert_path)
    key_pem = read_optional(files, key_path)
    if cert_pem is None and key_pem is None:
        return "new", None
    if cert_pem is None:
        return f"{LEAF_CERT} missing", None
    if key_pem is None:
        return f"{LEAF_KEY} missing", None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return f"{LEAF_CERT} does not parse", None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return f"{LEAF_KEY} does not parse", None
    if not same_public_key(key, cert):
        return "key does not match certificate", None
    if not signed_by(cert, ca.intermediate_cert):
        return "issued by a different intermediate CA", None
    have_dns, have_ips = cert_sans(cert)
    if set(have_dns) != set(want_dns) or set(have_ips) != set(want_ips):
        return _san_change(have_dns + [str(i) for i in have_ips],
                           want_dns + [str(i) for i in want_ips]), None
    if not allows_server_auth(cert):
        return "extended key usage does not allow serverAuth", None
    if cert.not_valid_before_utc > now:
        return f"not valid until {day_text(cert.not_valid_before_utc)}", None
    not_after = cert.not_valid_after_utc
    if not_after - now <= timedelta(days=renew_before_days):
        phrase = expiry_phrase(not_after, now)
        if not_after > now:
            phrase += f" (renewal window {renew_before_days})"
        if new_not_after - not_after >= MIN_GAIN:
            return phrase, None
        # A new certificate would not last longer: the intermediate's expiry is the limit.
        return (
            f"reused; {phrase} but the intermediate CA expires on {day_text(new_not_after)}",
            (cert, cert_pem, key_pem),
        )
    return "reused", (cert, cert_pem, key_pem)


def _build_leaf(
    ca: CertificateAuthority,
    key: PrivateKey,
    host: str,
    dns: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    not_after: datetime,
    now: datetime,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(i) for i in ips]
    # CN is limited to 64 characters; clients match on the SAN anyway.
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, host)] if len(host) <= 64 else []
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.intermediate_cert.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(aki_from(ca.intermediate_cert), critical=False)
        .sign(ca.intermediate_key, hash_for(ca.intermediate_key))
    )


def _normalize_host(fqdn: str) -> str:
    host = fqdn.strip().lower().rstrip(".")
    if parse_ip_address(host) is not None:
        return str(parse_ip_address(host))
    if not _valid_dns(host, wildcard=False):
        raise PkiError(f"invalid host name {fqdn!r} for a certificate")
    return host


def _requested_sans(
    host: str, dns_names: Iterable[str], ip_addresses: Iterable[str]
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    if isinstance(dns_names, str) or isinstance(ip_addresses, str):
        raise PkiError("dns_names and ip_addresses must be lists, not a single string")
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    host_ip = parse_ip_address(host)
    if host_ip is not None:
        ips.add(host_ip)
    for raw in ip_addresses:
        ip = parse_ip_address(str(raw).strip())
        if ip is None:
            raise PkiError(f"invalid IP address {raw!r} in ip_addresses")
        ips.add(ip)
    extra: set[str] = set()
    for raw in dns_names:
        name = str(raw).strip().lower().rstrip(".")
        if parse_ip_address(name) is not None:
            raise PkiError(f"{raw!r} in dns_names is an IP address; list it in ip_addresses")
        if not _valid_dns(name, wildcard=True):
            raise PkiError(f"invalid DNS name {raw!r} in dns_names")
        extra.add(name)
    dns = [] if host_ip is not None else [host]
    dns += sorted(extra - set(dns))
    return dns, sorted(ips, key=lambda i: (i.version, int(i)))


def _valid_dns(name: str, *, wildcard: bool) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if wildcard and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    return all(LABEL.fullmatch(label) for label in labels)


def _san_change(have: list[str], want: list[str]) -> str:
    added = [n for n in want if n not in have]
    removed = [n for n in have if n not in want]
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return f"SANs changed ({'; '.join(parts)})"

"""Certificates a company supplies (PEM, DER, PKCS#7; chain put in order; key decrypted and
checked) and the chain checks a served certificate must pass (as Tableau's Java does)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.verification import (
    Criticality,
    DNSName,
    ExtensionPolicy,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from tabpy_provision.pki.certs import (
    allows_server_auth,
    anchored_at,
    as_bytes,
    cert_sans,
    chain_position,
    current_time,
    day_text,
    expiry_phrase,
    extension_of,
    is_ca,
    is_self_signed_ca,
    parse_ip_address,
    private_key_pem,
    same_public_key,
    signed_by,
    subject_cn,
    to_pem,
)

# --------------------------------------------------------------------------------------------
# Validation of user-supplied (or issued) certificates
# --------------------------------------------------------------------------------------------


def chain_problems(
    chain: Sequence[x509.Certificate],
    fqdn: str,
    *,
    now: datetime | None = None,
    trusted_roots: Sequence[x509.Certificate] | None = None,
) -> list[str]:
    """Problems of a chain (server certificate first) a client would meet connecting to
    ``fqdn``: order, validity, names, usages, links and, given ``trusted_roots``, the path to
    one of them. For files to serve and for chains read from a server alike."""
    now = current_time(now)
    problems: list[str] = []
    leaf = chain[0]
    if is_ca(leaf):
        problems.append(
            "first certificate is a CA certificate; the server certificate must come first"
        )
    for index, cert in enumerate(chain, start=1):
        what = chain_position(index, cert)
        if cert.not_valid_after_utc < now:
            problems.append(f"{what} expired on {day_text(cert.not_valid_after_utc)}")
        if cert.not_valid_before_utc > now:
            problems.append(f"{what} not valid until {day_text(cert.not_valid_before_utc)}")

    host = fqdn.strip().lower().rstrip(".")
    have_dns, have_ips = cert_sans(leaf)
    host_ip = parse_ip_address(host)
    if not have_dns and not have_ips:
        problems.append(
            "certificate has no subjectAltName (clients ignore the common name); "
            f"it must list {host}"
        )
    elif not (
        host_ip in have_ips if host_ip is not None else any(_dns_match(p, host) for p in have_dns)
    ):
        listed = ", ".join(have_dns + [str(i) for i in have_ips])
        problems.append(f"SANs ({listed}) do not cover {host}")
    if not allows_server_auth(leaf):
        problems.append("extended key usage does not allow serverAuth")
    ku = extension_of(leaf, x509.KeyUsage)
    if ku is not None and not ku.digital_signature and not ku.key_encipherment:
        problems.append("key usage allows neither digitalSignature nor keyEncipherment")

    for index in range(1, len(chain)):
        if not signed_by(chain[index - 1], chain[index]):
            problems.append(
                f"chain does not link: certificate {index + 1} did not sign certificate {index}"
            )

    if trusted_roots:
        top = chain[-1]
        if not any(anchored_at(chain, root) for root in trusted_roots):
            roots = ", ".join(str(subject_cn(root)) for root in trusted_roots)
            problems.append(f"does not chain to the trusted root(s) ({roots}): the chain ends at "
                            f"{subject_cn(top)}, issued by {subject_cn(top, issuer=True)}")
        else:
            error = _path_validation_error(list(chain), list(trusted_roots), host, now)
            if error:
                problems.append(f"does not verify against the trusted root(s): {error}")
    return problems


def _path_validation_error(
    chain: list[x509.Certificate], roots: list[x509.Certificate], host: str, now: datetime
) -> str | None:
    host_ip = parse_ip_address(host)
    subject = IPAddress(host_ip) if host_ip is not None else DNSName(host)
    # The Web PKI profile, except that the authority key identifier may be absent: Java (what
    # Tableau runs on) and OpenSSL build chains without it, and company CAs do omit it.
    aki_optional = (Criticality.AGNOSTIC, None)
    try:
        verifier = (
            PolicyBuilder().store(Store(roots)).time(now)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(
                    x509.AuthorityKeyIdentifier, *aki_optional),
                ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(
                    x509.AuthorityKeyIdentifier, *aki_optional))
            .build_server_verifier(subject)
        )
        verifier.verify(chain[0], chain[1:])
    except (VerificationError, ValueError) as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return False



# --------------------------------------------------------------------------------------------
# Supplied (enterprise) certificates
# --------------------------------------------------------------------------------------------

#: Which input a problem of load_supplied_certificate is about.
CERTIFICATE_INPUT, KEY_INPUT, PASSPHRASE_INPUT, CA_INPUT = "certificate", "key", "passphrase", "ca"
ACCEPTED_CURVES = ("secp256r1", "secp384r1")
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class SuppliedCertificate:
    chain_pem: bytes  # leaf first, each certificate signed by the next: what TabPy serves
    key_pem: bytes  # unencrypted PKCS#8 PEM (TabPy has no passphrase option)
    chain: tuple[x509.Certificate, ...]
    #: What clients must trust: the CA file's certificates, else the chain's own self-signed
    #: root; empty when neither is known (then it is the OS trust store's business).
    anchors: tuple[x509.Certificate, ...]
    notes: tuple[str, ...]  # e.g. "chain put in order (leaf first)", "key decrypted"


def load_supplied_certificate(
    cert_data: bytes,
    key_data: bytes,
    fqdn: str,
    *,
    passphrase: str | None = None,
    ca_data: bytes | None = None,
    renew_before_days: int = 0,
    now: datetime | None = None,
) -> tuple[SuppliedCertificate | None, list[tuple[str, str]]]:
    """A certificate, chain and key issued by a company CA, made ready for TabPy.

    Accepts PEM, DER or PKCS#7 certificates in any order (put in order, leaf first) and a PEM
    or DER key, encrypted or not (decrypted with ``passphrase``). Refuses two server
    certificates in one file, a chain that does not sign the server certificate, a key that
    does not match or is weak (RSA below 2048 bits, EC other than P-256/P-384), a certificate
    that is expired or expires within ``renew_before_days``, and everything
    :func:`chain_problems` finds. Returns (result, []) or (None, [(input, problem), ...]) where
    input is one of CERTIFICATE_INPUT, KEY_INPUT, PASSPHRASE_INPUT, CA_INPUT.
    """
    now = current_time(now)
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    certs, cert_format, problem = read_certificates(cert_data)
    if problem:
        problems.append((CERTIFICATE_INPUT, problem))
    elif cert_format != "PEM":
        notes.append(f"certificate converted from {cert_format}")
    key, key_problem = _read_supplied_key(key_data, passphrase, notes)
    if key_problem:
        problems.append(key_problem)
    anchors: list[x509.Certificate] = []
    if ca_data is not None:
        anchors, _, problem = read_certificates(ca_data)
        if problem:
            problems.append((CA_INPUT, problem))
        problems += [(CA_INPUT, f"certificate {i} ({subject_cn(c)}) is not a CA certificate")
                     for i, c in enumerate(anchors, start=1) if not is_ca(c)]
    if not certs:
        return None, problems
    chain, problem = order_chain(certs)
    if problem:
        return None, [*problems, (CERTIFICATE_INPUT, problem)]
    if chain != certs:
        notes.append("chain put in order (leaf first)")
    leaf = chain[0]
    if key is not None:
        if not same_public_key(key, leaf):
            problems.append((KEY_INPUT, "does not match the certificate"))
        strength = key_strength_problem(key.public_key())
        if strength:
            problems.append((KEY_INPUT, strength))
    anchors = supplied_anchors(chain, anchors if ca_data is not None else None)
    problems += [(CERTIFICATE_INPUT, p)
                 for p in chain_problems(chain, fqdn, now=now, trusted_roots=anchors or None)]
    for index, cert in enumerate(chain, start=1):
        not_after = cert.not_valid_after_utc
        if now < not_after <= now + timedelta(days=renew_before_days):
            what = chain_position(index, cert)
            problems.append((CERTIFICATE_INPUT,
                             f"{what} {expiry_phrase(not_after, now)} ({day_text(not_after)}), "
                             f"inside the renewal window of {renew_before_days} days "
                             "(pki_renew_before_days): get a new one from your CA"))
    if problems:
        return None, problems
    return SuppliedCertificate(
        chain_pem=b"".join(to_pem(c) for c in chain),
        key_pem=private_key_pem(key),
        chain=tuple(chain),
        anchors=tuple(anchors),
        notes=tuple(notes),
    ), []


def supplied_anchors(chain: Sequence[x509.Certificate],
                     ca_file: Sequence[x509.Certificate] | None) -> list[x509.Certificate]:
    """What a supplied chain is trusted through: the CA file's certificates, else the chain's
    own self-signed root; [] when neither (then it is the OS trust store's business)."""
    if ca_file is not None:
        return list(ca_file)
    return [chain[-1]] if is_self_signed_ca(chain[-1]) else []


def read_certificates(data: bytes) -> tuple[list[x509.Certificate], str, str | None]:
    """(certificates, format, problem) of a PEM (one or more), DER or PKCS#7 file."""
    data = as_bytes(data)
    if not data.strip():
        return [], "", "no certificate found (empty file)"
    try:
        if b"-----BEGIN PKCS7-----" in data:
            return pkcs7.load_pem_pkcs7_certificates(data), "PKCS#7", None
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data), "PEM", None
    except ValueError:
        return [], "", "PEM is damaged and does not parse"
    if b"-----BEGIN" in data:
        return [], "", "no certificate found (the PEM holds no CERTIFICATE block)"
    with suppress(ValueError):
        return [x509.load_der_x509_certificate(data)], "DER", None
    with suppress(ValueError):
        return pkcs7.load_der_pkcs7_certificates(data), "PKCS#7", None
    return [], "", "not a certificate (neither PEM, DER nor PKCS#7)"


def order_chain(certs: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], str | None]:
    """The server certificate first, then each certificate's issuer; (chain, problem)."""
    unique = list({c.fingerprint(hashes.SHA256()): c for c in certs}.values())
    leaves = [c for c in unique if not is_ca(c)]
    if len(leaves) > 1:
        names = ", ".join(str(subject_cn(c)) for c in leaves)
        return [], (f"holds {len(leaves)} server certificates ({names}); a file holds one "
                    "server certificate and its chain")
    if not leaves:
        names = ", ".join(str(subject_cn(c)) for c in unique)
        return [], f"holds no server certificate, only CA certificates ({names})"
    chain = leaves
    rest = [c for c in unique if c is not leaves[0]]
    while rest and not signed_by(chain[-1], chain[-1]):
        issuer = next((c for c in rest if signed_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
    if rest and len(chain) == 1:
        names = ", ".join(str(subject_cn(c)) for c in rest)
        issuer = subject_cn(chain[0], issuer=True)
        return [], (f"the chain does not sign the server certificate: it was issued by "
                    f"{issuer}, and no certificate in the file ({names}) signed it")
    if rest:
        names = ", ".join(str(subject_cn(c)) for c in rest)
        return [], f"holds certificates outside the server certificate's chain ({names})"
    return chain, None


def key_strength_problem(public_key: Any) -> str | None:
    """Why Tableau's clients should not be offered this key, or None (RSA >= 2048 bits, EC
    P-256 or P-384)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            return f"RSA key of {public_key.key_size} bits is too weak ({MIN_RSA_BITS} or more)"
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            return f"EC curve {public_key.curve.name} is not accepted (P-256 or P-384)"
        return None
    return (f"{type(public_key).__name__.removeprefix('_')} keys are not accepted "
            f"(RSA {MIN_RSA_BITS}+ or EC P-256/P-384)")


def _read_supplied_key(data: bytes, passphrase: str | None,
                       notes: list[str]) -> tuple[PrivateKeyTypes | None, tuple[str, str] | None]:
    data = as_bytes(data)
    if not data.strip():
        return None, (KEY_INPUT, "no private key found (empty file)")
    pem = b"-----BEGIN" in data
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = load(data, password=None)
    except TypeError:  # encrypted
        if passphrase is None:
            return None, (KEY_INPUT, "is passphrase-protected; set tabpy_key_passphrase (a "
                                     "secret reference) and the deploy installs it decrypted")
        try:
            key = load(data, password=passphrase.encode())
        except ValueError:
            return None, (PASSPHRASE_INPUT, "does not decrypt the key (wrong passphrase)")
        notes.append("key decrypted with tabpy_key_passphrase")
    except (ValueError, UnsupportedAlgorithm):
        return None, (KEY_INPUT, "not a private key (neither PEM nor DER)")
    if not pem:
        notes.append("key converted from DER")
    return key, None

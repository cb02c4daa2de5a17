"""Certificate helpers of the private CA and the supplied-certificate checks: names, keys,
signatures, SANs, dates, and reading certificates and keys through the controller's files."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tabpy_provision.controller.files import ControllerFileError, Staged
from tabpy_provision.settings.errors import ProvisionError

PrivateKey = CertificateIssuerPrivateKeyTypes  # what can sign a certificate

ORGANIZATION = "tabpy-provision"
CA_DIR = "ca"
HOSTS_DIR = "hosts"
ROOT_CERT = "root.crt"
ROOT_KEY = "root.key"
INTERMEDIATE_CERT = "intermediate.crt"
INTERMEDIATE_KEY = "intermediate.key"
LEAF_CERT = "cert.pem"
LEAF_KEY = "key.pem"
LEAF_CHAIN = "chain.pem"
NEXT_DIR = "next"
PREVIOUS_DIR = "previous"
RETIRED_DIR = "retired"
ROOT = "root"
INTERMEDIATE = "intermediate"
#: An intermediate is re-issued by the root this many days before it expires (by ensure_ca).
INTERMEDIATE_RENEW_BEFORE_DAYS = 60
#: A root this close to its end must be rotated (rotate-root): reports flag it.
ROOT_ROTATE_BEFORE_DAYS = 90


#: Certificates are back-dated this much to tolerate clock skew between controller and clients.
BACKDATE = timedelta(minutes=5)
#: macOS 10.15+ and iOS 13+ refuse a TLS server certificate valid longer than 825 days,
#: notBefore to notAfter both included (docs/certificates.md#leaf-lifetime).
MAX_LEAF_DAYS = 825
#: A renewal must gain at least this much validity, otherwise the old certificate is kept
#: (prevents a new key on every run when the issuer's own expiry is the limit).
MIN_GAIN = timedelta(days=1)

CA_CURVE = ec.SECP384R1()
LEAF_CURVE = ec.SECP256R1()
LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

class PkiError(ProvisionError):
    """A PKI problem the user can act on; the message is one line."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def current_time(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise PkiError(f"{name} must be 1 or more, got {value}")


def day_text(moment: datetime) -> str:
    return moment.date().isoformat()


def expiry_phrase(not_after: datetime, now: datetime) -> str:
    if not_after <= now:
        return f"expired on {day_text(not_after)}"
    days = (not_after - now).days
    return f"expires in {days} day{'' if days == 1 else 's'}"


def x509_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def aki_from(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = extension_of(issuer, x509.SubjectKeyIdentifier)
    if ski is not None:
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())


def random_serial() -> int:
    # 159 random bits, top bit set: always positive, always 20 octets or fewer.
    return secrets.randbits(158) | (1 << 158)


def hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def to_pem(cert: x509.Certificate) -> bytes:
    """PEM of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    try:
        return spki(key.public_key()) == spki(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return False


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def extension_of(cert: x509.Certificate, ext_type: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def is_ca(cert: x509.Certificate) -> bool:
    bc = extension_of(cert, x509.BasicConstraints)
    return bool(bc is not None and bc.ca)


def from_private_ca(cert: x509.Certificate) -> bool:
    """Issued by a private CA of this tool (its subjects carry ORGANIZATION)."""
    return ORGANIZATION in (str(attr.value) for attr in
                            cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def anchored_at(chain: Sequence[x509.Certificate], root: x509.Certificate) -> bool:
    """The chain ends at `root` or at a certificate `root` signed."""
    return chain[-1] == root or signed_by(chain[-1], root)


def is_self_signed_ca(cert: x509.Certificate) -> bool:
    """A root: a CA certificate that signed itself."""
    return is_ca(cert) and signed_by(cert, cert)


def allows_server_auth(cert: x509.Certificate) -> bool:
    eku = extension_of(cert, x509.ExtendedKeyUsage)
    if eku is None:  # no EKU extension: any usage
        return True
    usages = list(eku)
    return (ExtendedKeyUsageOID.SERVER_AUTH in usages
            or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages)


def san_list(cert: x509.Certificate) -> list[str]:
    """The subjectAltName entries, DNS names first (lower-case), then IP addresses."""
    dns, ips = cert_sans(cert)
    return dns + [str(i) for i in ips]


def cert_sans(
    cert: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    san = extension_of(cert, x509.SubjectAlternativeName)
    if san is None:
        return [], []
    dns = [d.lower() for d in san.get_values_for_type(x509.DNSName)]
    ips = list(san.get_values_for_type(x509.IPAddress))
    return dns, ips


def chain_position(index: int, cert: x509.Certificate) -> str:
    """How messages name the index-th (from 1) certificate of a chain."""
    return "certificate" if index == 1 else f"chain certificate {index} ({subject_cn(cert)})"


def subject_cn(cert: x509.Certificate, *, issuer: bool = False) -> str | None:
    name = cert.issuer if issuer else cert.subject
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def parse_ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def ensure_newline(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


# ---- files ---------------------------------------------------------------------------------


def read_optional(files: Staged, path: Path) -> bytes | None:
    try:
        return files.read(path)
    except ControllerFileError as exc:
        raise PkiError(str(exc)) from exc


def load_cert_file(files: Staged, path: Path) -> tuple[x509.Certificate, bytes]:
    data = read_optional(files, path)
    if data is None:
        raise PkiError(f"{path} is missing; restore it from backup")
    try:
        return x509.load_pem_x509_certificate(data), data
    except ValueError as exc:
        raise PkiError(f"{path} is not a PEM certificate; restore it from backup") from exc


def load_key_file(files: Staged, path: Path) -> PrivateKey:
    data = read_optional(files, path)
    if data is None:
        raise PkiError(f"{path} is missing; restore it from backup")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise PkiError(
            f"{path} is encrypted; store it unencrypted (the folder is 0700) or re-create the CA"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"{path} is not a PEM private key; restore it from backup") from exc
    if not isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise PkiError(f"{path} holds a {type(key).__name__}, which cannot sign certificates")
    return key

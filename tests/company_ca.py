"""A company CA for tests: root, issuing CA, server certificates (what an enterprise PKI hands
over), built with `cryptography` so each input can be crafted, good or bad."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "tabpy1.example.com"
NOW = datetime.now(UTC).replace(microsecond=0)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign(subject: str, key, issuer_cert, issuer_key, *, ca: bool, days: int = 365,
          sans: tuple[str, ...] = ()) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject))
               .issuer_name(issuer_cert.subject if issuer_cert is not None else _name(subject))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1))
               .not_valid_after(NOW + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class CompanyCa:
    """A two-level company CA issuing server certificates (the inputs are crafted here)."""

    def __init__(self, name: str, *, intermediate_days: int = 1000):
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _sign(f"{name} Root", self.root_key, None, self.root_key, ca=True,
                          days=3000)
        self.inter_key = ec.generate_private_key(ec.SECP384R1())
        self.inter = _sign(f"{name} Issuing CA", self.inter_key, self.root, self.root_key,
                           ca=True, days=intermediate_days)

    def leaf(self, cn: str = HOST, *, key=None, days: int = 365, by_root: bool = False,
             also: tuple[str, ...] = ()):
        """(server certificate for `cn` and the names in `also`, its key)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        issuer, issuer_key = (self.root, self.root_key) if by_root else (self.inter,
                                                                         self.inter_key)
        return _sign(cn, key, issuer, issuer_key, ca=False, days=days,
                     sans=(cn, *also)), key

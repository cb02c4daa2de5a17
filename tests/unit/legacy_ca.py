"""A private CA as this project made them before name constraints (root pathlen 1,
intermediate pathlen 0, key usage; no name constraints, no extended key usage), written where
ensure_ca finds an existing CA: what the migration starts from."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USAGE = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                      crl_sign=True, encipher_only=False, decipher_only=False)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tabpy-provision"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_legacy_ca(pki_dir: Path, now: datetime, common_name: str = "Lab") -> None:
    root_key, inter_key = ec.generate_private_key(ec.SECP384R1()), \
        ec.generate_private_key(ec.SECP384R1())
    root_name, inter_name = _name(f"{common_name} Root CA"), \
        _name(f"{common_name} Intermediate CA")

    def ca(subject, key, issuer, issuer_key, path_length, days):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
                   .add_extension(USAGE, True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  False))
        if key is not issuer_key:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                False)
        return builder.sign(issuer_key, hashes.SHA384())

    root = ca(root_name, root_key, root_name, root_key, 1, 3650)
    inter = ca(inter_name, inter_key, root_name, root_key, 0, 1825)
    folder = Path(pki_dir) / "ca"
    folder.mkdir(parents=True, mode=0o700)
    for name, data in (
            ("root.key", root_key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())),
            ("root.crt", root.public_bytes(serialization.Encoding.PEM)),
            ("intermediate.key", inter_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())),
            ("intermediate.crt", inter.public_bytes(serialization.Encoding.PEM))):
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o600)

"""Unit tests for tabpy_provision.pki (controller-side CA, server certificates, validation)."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from tabpy_provision.pki import (
    CertificateAuthority,
    IssuedLeaf,
    PkiError,
    ensure_ca,
    ensure_leaf,
    permitted_for,
    rotate_intermediate,
)
from tests.unit.handshake import tls_handshake

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "tabpy1.lab.test"
LAB = permitted_for([FQDN, "192.0.2.10", "192.0.2.7"])
CA_FILES = ["intermediate.crt", "intermediate.key", "root.crt", "root.key"]


# ---- helpers -------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load_chain(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify_path(leaf: IssuedLeaf, root_pem: bytes, subject, when: datetime = NOW):
    """Real RFC 5280 path building with cryptography's verifier, as Tableau would do."""
    chain = load_chain(leaf.chain_pem)
    roots = load_chain(root_pem)
    verifier = PolicyBuilder().store(Store(roots)).time(when).build_server_verifier(subject)
    return verifier.verify(chain[0], chain[1:])


def make_leaf(
    ca: CertificateAuthority,
    *,
    cn: str = FQDN,
    sans: tuple[str, ...] = (FQDN,),
    eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
):
    """A hand-made server certificate signed by ca's intermediate (for crafted bad inputs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.intermediate_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), False)
    )
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.intermediate_key.public_key()),
        critical=False,
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    cert = builder.sign(ca.intermediate_key, hashes.SHA384())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert, cert_pem + ca.intermediate_pem, key_pem


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared-pki")


@pytest.fixture(scope="module")
def ca(ca_dir) -> CertificateAuthority:
    return ensure_ca(ca_dir, permitted=LAB, common_name="Lab", now=NOW)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> CertificateAuthority:
    return ensure_ca(tmp_path_factory.mktemp("other-pki"), permitted=LAB, common_name="Other",
                     now=NOW)


@pytest.fixture(scope="module")
def issued(ca, tmp_path_factory) -> IssuedLeaf:
    return ensure_leaf(
        ca,
        tmp_path_factory.mktemp("leaf-pki"),
        FQDN,
        dns_names=["tabpy.lab.test", "TABPY1.lab.test", "a.lab.test"],
        ip_addresses=["192.0.2.10"],
        now=NOW,
    )


# ---- CA ------------------------------------------------------------------------------------


def test_ca_files_are_private_even_with_open_umask(tmp_path):
    pki = tmp_path / "pki"
    old = os.umask(0)
    try:
        result = ensure_ca(pki, permitted=LAB, now=NOW)
    finally:
        os.umask(old)
    ca_dir = pki / "ca"
    assert sorted(p.name for p in ca_dir.iterdir()) == CA_FILES  # no temp files left
    assert [p.name for p in pki.iterdir()] == ["ca"]  # no temp folder left
    assert mode(pki) == 0o700 and mode(ca_dir) == 0o700
    assert {name: mode(ca_dir / name) for name in CA_FILES} == dict.fromkeys(CA_FILES, 0o600)
    assert result.notes == ()
    assert (ca_dir / "root.crt").read_bytes() == result.root_pem
    assert (ca_dir / "intermediate.crt").read_bytes() == result.intermediate_pem


def test_existing_folders_are_tightened(tmp_path):
    pki = tmp_path / "pki"
    (pki / "ca").mkdir(parents=True)
    os.chmod(pki, 0o755)
    os.chmod(pki / "ca", 0o755)
    ensure_ca(pki, permitted=LAB, now=NOW)
    assert mode(pki) == 0o700 and mode(pki / "ca") == 0o700


def test_second_call_loads_the_same_ca(ca_dir, ca):
    before = {name: (ca_dir / "ca" / name).read_bytes() for name in CA_FILES}
    again = ensure_ca(ca_dir, permitted=LAB, common_name="ignored for an existing CA", now=NOW)
    assert again.root_cert.serial_number == ca.root_cert.serial_number
    assert again.intermediate_cert.serial_number == ca.intermediate_cert.serial_number
    assert again.root_pem == ca.root_pem and again.intermediate_pem == ca.intermediate_pem
    assert spki(again.intermediate_key.public_key()) == spki(ca.intermediate_key.public_key())
    assert again.notes == ()
    assert {name: (ca_dir / "ca" / name).read_bytes() for name in CA_FILES} == before


def test_ca_certificate_profile(ca):
    root, inter = ca.root_cert, ca.intermediate_cert
    root.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)

    def ext(cert, cls):
        return cert.extensions.get_extension_for_class(cls)

    for cert, path_length in ((root, 1), (inter, 0)):
        bc = ext(cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == path_length
        ku = ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
        ext(cert, x509.SubjectKeyIdentifier)
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert org[0].value == "tabpy-provision"
    aki = ext(inter, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(root, x509.SubjectKeyIdentifier).value.digest
    cn = NameOID.COMMON_NAME
    assert root.subject.get_attributes_for_oid(cn)[0].value == "Lab Root CA"
    assert inter.subject.get_attributes_for_oid(cn)[0].value == "Lab Intermediate CA"
    assert root.not_valid_after_utc == NOW + timedelta(days=3650)
    assert inter.not_valid_after_utc == NOW + timedelta(days=1825)
    assert root.not_valid_before_utc == NOW - timedelta(minutes=5)


@pytest.mark.parametrize("missing", [name for name in CA_FILES if name != "root.key"])
def test_half_present_ca_names_the_missing_file(tmp_path, missing):
    ensure_ca(tmp_path, permitted=LAB, now=NOW)
    (tmp_path / "ca" / missing).unlink()
    with pytest.raises(PkiError, match="is missing") as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    message = str(err.value)
    assert str(tmp_path / "ca" / missing) in message
    assert "\n" not in message


def test_only_intermediate_present_names_root(tmp_path):
    ensure_ca(tmp_path, permitted=LAB, now=NOW)
    (tmp_path / "ca" / "root.crt").unlink()
    (tmp_path / "ca" / "root.key").unlink()
    with pytest.raises(PkiError) as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert str(tmp_path / "ca" / "root.crt") in str(err.value)


def test_intermediate_not_signed_by_root(tmp_path, other_ca):
    ensure_ca(tmp_path, permitted=LAB, now=NOW)
    other_dir = tmp_path / "other"
    ensure_ca(other_dir, permitted=LAB, now=NOW)
    for name in ("intermediate.crt", "intermediate.key"):
        shutil.copy(other_dir / "ca" / name, tmp_path / "ca" / name)
    with pytest.raises(PkiError, match="is not signed by") as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert str(tmp_path / "ca" / "intermediate.crt") in str(err.value)


def test_intermediate_key_mismatch(tmp_path):
    ensure_ca(tmp_path, permitted=LAB, now=NOW)
    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "ca" / "intermediate.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PkiError, match="does not match") as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert str(tmp_path / "ca" / "intermediate.key") in str(err.value)


def test_damaged_certificate_is_named(tmp_path):
    ensure_ca(tmp_path, permitted=LAB, now=NOW)
    (tmp_path / "ca" / "root.crt").write_bytes(b"not a certificate\n")
    with pytest.raises(PkiError, match="not a PEM certificate") as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert str(tmp_path / "ca" / "root.crt") in str(err.value)


def test_root_key_is_read_only_to_sign_an_intermediate(tmp_path):
    first = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    (tmp_path / "ca" / "root.key").write_bytes(b"garbage\n")
    # Loading a complete CA does not need (or parse) the root key.
    assert ensure_ca(tmp_path, permitted=LAB, now=NOW).intermediate_pem == first.intermediate_pem
    # Signing a new intermediate does.
    (tmp_path / "ca" / "intermediate.crt").unlink()
    (tmp_path / "ca" / "intermediate.key").unlink()
    with pytest.raises(PkiError) as err:
        ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert str(tmp_path / "ca" / "root.key") in str(err.value)


def test_deleting_the_intermediate_rotates_it_under_the_same_root(tmp_path):
    first = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    leaf = ensure_leaf(first, tmp_path, FQDN, now=NOW)
    (tmp_path / "ca" / "intermediate.crt").unlink()
    (tmp_path / "ca" / "intermediate.key").unlink()
    second = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert second.notes == ()
    assert second.root_pem == first.root_pem
    assert second.intermediate_cert.serial_number != first.intermediate_cert.serial_number
    second.intermediate_cert.verify_directly_issued_by(second.root_cert)
    assert mode(tmp_path / "ca" / "intermediate.key") == 0o600
    again = ensure_leaf(second, tmp_path, FQDN, now=NOW)
    assert again.reissued and "intermediate" in again.reason
    assert again.key_pem != leaf.key_pem
    verify_path(again, first.root_pem, DNSName(FQDN))  # old root still trusts it


def test_intermediate_is_renewed_before_it_expires(tmp_path):
    first = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    inter_end = first.intermediate_cert.not_valid_after_utc
    outside = ensure_ca(tmp_path, permitted=LAB, now=inter_end - timedelta(days=61))
    assert outside.intermediate_pem == first.intermediate_pem and outside.notes == ()
    later = inter_end - timedelta(days=59)
    renewed = ensure_ca(tmp_path, permitted=LAB, now=later)
    assert renewed.root_pem == first.root_pem
    assert renewed.intermediate_pem != first.intermediate_pem
    assert renewed.notes[0] == "the intermediate CA expires in 59 days"
    assert renewed.intermediate_cert.not_valid_after_utc == later + timedelta(days=1825)
    again = ensure_ca(tmp_path, permitted=LAB, now=later)
    assert again.intermediate_pem == renewed.intermediate_pem


def test_the_root_key_may_be_kept_off_the_controller(tmp_path):
    """It only signs intermediates: the CA loads and issues leaves without it, says when the
    intermediate needs it, and renews once it is back."""
    first = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    root_key = tmp_path / "ca" / "root.key"
    kept = root_key.read_bytes()
    root_key.unlink()
    again = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert again.intermediate_pem == first.intermediate_pem and again.notes == ()
    verify_path(ensure_leaf(again, tmp_path, FQDN, now=NOW), again.root_pem, DNSName(FQDN))
    with pytest.raises(PkiError, match="root.key is missing"):
        rotate_intermediate(tmp_path, permitted=LAB, now=NOW)

    inter_end = first.intermediate_cert.not_valid_after_utc
    late = ensure_ca(tmp_path, permitted=LAB, now=inter_end - timedelta(days=30))
    assert late.intermediate_pem == first.intermediate_pem
    assert late.notes == (f"the intermediate CA expires in 30 days: put the root key back in "
                          f"{root_key} (kept off the controller) to renew it",)
    with pytest.raises(PkiError, match=f"intermediate.crt expired on {inter_end.date()}: put "
                                       "the root key back in"):
        ensure_ca(tmp_path, permitted=LAB, now=inter_end + timedelta(days=1))

    root_key.write_bytes(kept)
    renewed = ensure_ca(tmp_path, permitted=LAB, now=inter_end - timedelta(days=30))
    assert renewed.notes == ("the intermediate CA expires in 30 days",)


def test_expired_root_is_an_error(tmp_path):
    ensure_ca(tmp_path, permitted=LAB, root_days=10, intermediate_days=5, now=NOW)
    end = (NOW + timedelta(days=10)).date().isoformat()
    with pytest.raises(PkiError, match=f"expired on {end}"):
        ensure_ca(tmp_path, permitted=LAB, now=NOW + timedelta(days=11))


# ---- leaf ----------------------------------------------------------------------------------


def test_leaf_chain_verifies_against_the_root(ca, issued):
    for subject in (DNSName(FQDN), DNSName("a.lab.test"), IPAddress(ip_address("192.0.2.10"))):
        built = verify_path(issued, ca.root_pem, subject)
        assert [c.subject for c in built] == [
            load_chain(issued.cert_pem)[0].subject,
            ca.intermediate_cert.subject,
            ca.root_cert.subject,
        ]
    with pytest.raises(VerificationError):
        verify_path(issued, ca.root_pem, DNSName("evil.lab.test"))


def test_leaf_does_not_verify_against_another_root(other_ca, issued):
    with pytest.raises(VerificationError):
        verify_path(issued, other_ca.root_pem, DNSName(FQDN))


def test_leaf_profile(ca, issued):
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [FQDN, "a.lab.test", "tabpy.lab.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ip_address("192.0.2.10")]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == FQDN
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    inter_ski = ca.intermediate_cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == inter_ski.digest
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert 0 < cert.serial_number < 2**159
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=397) == issued.not_after
    assert issued.reissued and issued.reason == "new"
    assert issued.root_pem == ca.root_pem


def test_chain_has_leaf_first_then_intermediate_and_key_matches(ca, issued):
    chain = load_chain(issued.chain_pem)
    assert len(chain) == 2
    assert chain[0] == x509.load_pem_x509_certificate(issued.cert_pem)
    assert chain[1] == ca.intermediate_cert
    assert issued.chain_pem.startswith(issued.cert_pem)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert spki(key.public_key()) == spki(chain[0].public_key())


def test_leaf_files_and_modes(ca, tmp_path):
    old = os.umask(0)
    try:
        leaf = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    finally:
        os.umask(old)
    host_dir = tmp_path / "hosts" / FQDN
    assert sorted(p.name for p in host_dir.iterdir()) == ["cert.pem", "chain.pem", "key.pem"]
    assert mode(tmp_path / "hosts") == 0o700 and mode(host_dir) == 0o700
    for name, content in (("cert.pem", leaf.cert_pem), ("key.pem", leaf.key_pem),
                          ("chain.pem", leaf.chain_pem)):
        assert mode(host_dir / name) == 0o600
        assert (host_dir / name).read_bytes() == content


def test_same_inputs_reuse_byte_identical_files(ca, tmp_path):
    kwargs = dict(dns_names=["tabpy.lab.test"], ip_addresses=["192.0.2.10"], now=NOW)
    first = ensure_leaf(ca, tmp_path, FQDN, **kwargs)
    host_dir = tmp_path / "hosts" / FQDN
    stamps = {p.name: p.stat().st_mtime_ns for p in host_dir.iterdir()}
    # Different order/case/duplicates of the same names: same SAN set.
    second = ensure_leaf(
        ca, tmp_path, FQDN.upper() + ".", dns_names=["TABPY.lab.test", FQDN, "tabpy.lab.test"],
        ip_addresses=["192.0.2.10"], now=NOW + timedelta(days=100),
    )
    assert (second.reissued, second.reason) == (False, "reused")
    assert (second.cert_pem, second.key_pem, second.chain_pem) == (
        first.cert_pem, first.key_pem, first.chain_pem
    )
    assert second.not_after == first.not_after
    assert {p.name: p.stat().st_mtime_ns for p in host_dir.iterdir()} == stamps


def test_added_alias_reissues_with_a_new_key(ca, tmp_path):
    first = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    second = ensure_leaf(ca, tmp_path, FQDN, dns_names=["tabpy.lab.test"], now=NOW)
    assert second.reissued
    assert "SANs changed" in second.reason and "tabpy.lab.test" in second.reason
    assert second.key_pem != first.key_pem and second.cert_pem != first.cert_pem
    assert (tmp_path / "hosts" / FQDN / "key.pem").read_bytes() == second.key_pem
    third = ensure_leaf(ca, tmp_path, FQDN, dns_names=["tabpy.lab.test"],
                        ip_addresses=["2001:db8::1"], now=NOW)
    assert third.reissued and "2001:db8::1" in third.reason


def test_renewal_window(ca, tmp_path):
    first = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    end = first.not_after
    outside = ensure_leaf(ca, tmp_path, FQDN, now=end - timedelta(days=31))
    assert not outside.reissued and outside.cert_pem == first.cert_pem
    inside = ensure_leaf(ca, tmp_path, FQDN, now=end - timedelta(days=12))
    assert inside.reissued
    assert inside.reason == "expires in 12 days (renewal window 30)"
    assert inside.key_pem != first.key_pem
    assert inside.not_after == end - timedelta(days=12) + timedelta(days=397)


def test_expired_leaf_is_reissued(ca, tmp_path):
    first = ensure_leaf(ca, tmp_path, FQDN, days=10, renew_before_days=2, now=NOW)
    later = ensure_leaf(ca, tmp_path, FQDN, days=10, renew_before_days=2,
                        now=NOW + timedelta(days=20))
    assert later.reissued
    assert later.reason == f"expired on {first.not_after.date().isoformat()}"


def test_new_ca_reissues(tmp_path):
    ca1 = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    first = ensure_leaf(ca1, tmp_path, FQDN, now=NOW)
    shutil.rmtree(tmp_path / "ca")
    ca2 = ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert ca2.root_pem != ca1.root_pem
    second = ensure_leaf(ca2, tmp_path, FQDN, now=NOW)
    assert second.reissued and "intermediate" in second.reason
    assert second.key_pem != first.key_pem
    verify_path(second, ca2.root_pem, DNSName(FQDN))


def test_damaged_key_reissues_and_missing_chain_is_rewritten(ca, tmp_path):
    first = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    host_dir = tmp_path / "hosts" / FQDN
    (host_dir / "chain.pem").unlink()
    repaired = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    assert not repaired.reissued and "chain.pem out of date" in repaired.reason
    assert (host_dir / "chain.pem").read_bytes() == first.chain_pem
    assert mode(host_dir / "chain.pem") == 0o600
    (host_dir / "key.pem").write_bytes(b"garbage")
    broken = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    assert broken.reissued and broken.reason == "key.pem does not parse"
    (host_dir / "key.pem").write_bytes(first.key_pem)
    mismatch = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    assert mismatch.reissued and mismatch.reason == "key does not match certificate"


def test_leaf_is_capped_by_intermediate_and_does_not_churn(tmp_path):
    ca = ensure_ca(tmp_path, permitted=LAB, intermediate_days=40, now=NOW)
    first = ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    assert first.not_after == ca.intermediate_cert.not_valid_after_utc
    later = ensure_leaf(ca, tmp_path, FQDN, now=NOW + timedelta(days=20))
    assert not later.reissued and later.cert_pem == first.cert_pem
    assert "intermediate CA expires on" in later.reason


def test_ip_address_as_host(ca, tmp_path):
    leaf = ensure_leaf(ca, tmp_path, "192.0.2.7", now=NOW)
    verify_path(leaf, ca.root_pem, IPAddress(ip_address("192.0.2.7")))
    assert (tmp_path / "hosts" / "192.0.2.7" / "cert.pem").exists()


@pytest.mark.parametrize(
    ("fqdn", "kwargs", "match"),
    [
        ("../etc", {}, "invalid host name"),
        ("a/b.test", {}, "invalid host name"),
        (FQDN, {"dns_names": ["bad name"]}, "invalid DNS name"),
        (FQDN, {"dns_names": ["10.0.0.1"]}, "ip_addresses"),
        (FQDN, {"ip_addresses": ["300.1.1.1"]}, "invalid IP address"),
        (FQDN, {"dns_names": "tabpy.lab.test"}, "lists"),
        (FQDN, {"days": 30, "renew_before_days": 30}, "renew_before_days"),
    ],
)
def test_bad_leaf_inputs(ca, tmp_path, fqdn, kwargs, match):
    with pytest.raises(PkiError, match=match):
        ensure_leaf(ca, tmp_path, fqdn, now=NOW, **kwargs)
    assert not (tmp_path / "etc").exists()


# ---- real TLS handshake --------------------------------------------------------------------


def handshake(tmp_path, leaf: IssuedLeaf, trusted_pem: bytes, hostname: str):
    return tls_handshake(tmp_path, leaf.chain_pem, leaf.key_pem, trusted_pem, hostname)


def test_tls_handshake_trusting_only_the_root(ca, issued, tmp_path):
    assert handshake(tmp_path, issued, ca.root_pem, FQDN) in ("TLSv1.2", "TLSv1.3")
    assert handshake(tmp_path, issued, ca.root_pem, "192.0.2.10") in ("TLSv1.2", "TLSv1.3")


def test_tls_handshake_fails_with_another_root(other_ca, issued, tmp_path):
    result = handshake(tmp_path, issued, other_ca.root_pem, FQDN)
    assert isinstance(result, ssl.SSLCertVerificationError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result)


def test_tls_handshake_fails_for_a_name_not_in_the_sans(ca, issued, tmp_path):
    result = handshake(tmp_path, issued, ca.root_pem, "other.lab.test")
    assert isinstance(result, ssl.SSLCertVerificationError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result)

"""Certificates from a company CA (tabpy_certificate_file, tabpy_key_file, tabpy_ca_file,
tabpy_key_passphrase): put in order, converted, decrypted, and every refusal with its message."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from tabpy_provision.settings.table import SettingsError
from tests.company_ca import HOST, NOW, CompanyCa
from tests.unit.planning import planned

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def company():
    return CompanyCa("Company")


@pytest.fixture(scope="module")
def other():
    return CompanyCa("Other")


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    return {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"},
            "pki_dir": str(tmp_path / "pki"), "secrets_dir": str(tmp_path / "secrets")}


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(PEM) for c in certs)


def key_bytes(key, encoding=PEM, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, encryption)


def files(tmp_path, chain: bytes, key: bytes, ca: bytes | None = None) -> dict:
    (tmp_path / "tabpy.crt").write_bytes(chain)
    (tmp_path / "tabpy.key").write_bytes(key)
    data = {"tabpy_certificate_file": str(tmp_path / "tabpy.crt"),
            "tabpy_key_file": str(tmp_path / "tabpy.key")}
    if ca is not None:
        (tmp_path / "ca.crt").write_bytes(ca)
        data["tabpy_ca_file"] = str(tmp_path / "ca.crt")
    return data


def problems_of(data) -> list[str]:
    with pytest.raises(SettingsError) as error:
        planned(HOST, data, now=NOW)
    return error.value.problems


# --- accepted, and made ready for TabPy ---------------------------------------------------------


def test_out_of_order_chain_is_put_in_order(base, tmp_path, company):
    leaf, key = company.leaf()
    plan = planned(HOST, {**base, **files(
        tmp_path, pem(company.root, leaf, company.inter), key_bytes(key))})
    assert plan.tls.chain_pem == pem(leaf, company.inter, company.root)
    assert plan.tls.ca_pem == pem(company.root)  # the chain's own root anchors the checks
    assert "chain put in order (leaf first)" in plan.tls.summary
    assert [(c.role, c.cert) for c in plan.tls.cas] == [("root", company.root),
                                                        ("intermediate", company.inter)]


def test_chain_without_root_uses_the_ca_file_as_anchor(base, tmp_path, company):
    leaf, key = company.leaf()
    plan = planned(HOST, {**base, **files(
        tmp_path, pem(leaf, company.inter), key_bytes(key), ca=company.root.public_bytes(DER))})
    assert plan.tls.chain_pem == pem(leaf, company.inter)
    assert plan.tls.ca_pem == pem(company.root)


def test_chain_without_root_or_ca_file_leaves_trust_to_the_os_store(base, tmp_path, company):
    leaf, key = company.leaf()
    plan = planned(HOST, {**base, **files(tmp_path, pem(leaf, company.inter),
                                                    key_bytes(key))})
    assert plan.tls.ca_pem is None
    assert [c.role for c in plan.tls.cas] == ["intermediate"]


def test_der_certificate_and_der_key_are_converted(base, tmp_path, company):
    leaf, key = company.leaf(by_root=True)
    plan = planned(HOST, {**base, **files(
        tmp_path, leaf.public_bytes(DER), key_bytes(key, DER), ca=pem(company.root))})
    assert plan.tls.chain_pem == pem(leaf)
    assert plan.tls.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert "certificate converted from DER" in plan.tls.summary
    assert "key converted from DER" in plan.tls.summary


def test_pkcs7_bundle_is_read(base, tmp_path, company):
    leaf, key = company.leaf()
    bundle = pkcs7.serialize_certificates([company.inter, leaf, company.root], DER)
    plan = planned(HOST, {**base, **files(tmp_path, bundle, key_bytes(key))})
    assert plan.tls.chain_pem == pem(leaf, company.inter, company.root)


def test_encrypted_key_is_decrypted_with_its_passphrase(base, tmp_path, company, monkeypatch):
    monkeypatch.setenv("TABPY_KEY_PASS", "correct horse")
    leaf, key = company.leaf()
    plan = planned(HOST, {**base, **files(
        tmp_path, pem(leaf, company.inter, company.root),
        key_bytes(key, password=b"correct horse")), "tabpy_key_passphrase": "env:TABPY_KEY_PASS"})
    loaded = serialization.load_pem_private_key(plan.tls.key_pem, password=None)
    assert loaded.private_numbers() == key.private_numbers()
    assert "key decrypted with tabpy_key_passphrase" in plan.tls.summary
    assert "correct horse" not in repr(plan)


@pytest.mark.parametrize("make_key", [
    lambda: rsa.generate_private_key(65537, 2048),
    lambda: ec.generate_private_key(ec.SECP384R1()),
], ids=["rsa2048", "p384"])
def test_strong_keys_are_accepted(base, tmp_path, company, make_key):
    leaf, key = company.leaf(key=make_key())
    assert planned(HOST, {**base, **files(tmp_path, pem(leaf, company.inter),
                                                    key_bytes(key))}).tls


# --- refused, each with host, setting, file and reason -----------------------------------------


def test_two_server_certificates_in_one_file(base, tmp_path, company):
    leaf, key = company.leaf()
    stranger, _ = company.leaf("tabpy2.example.com")
    data = {**base, **files(tmp_path, pem(leaf, stranger, company.inter), key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: holds 2 server certificates "
        f"({HOST}, tabpy2.example.com); a file holds one server certificate and its chain"]


def test_chain_that_does_not_sign_the_leaf(base, tmp_path, company, other):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, other.inter, other.root), key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: the chain does not sign the "
        "server certificate: it was issued by Company Issuing CA, and no certificate in the "
        "file (Other Issuing CA, Other Root) signed it"]


def test_certificate_outside_the_chain(base, tmp_path, company, other):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter, other.root), key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: holds certificates outside "
        "the server certificate's chain (Other Root)"]


def test_only_ca_certificates(base, tmp_path, company):
    _, key = company.leaf()
    data = {**base, **files(tmp_path, pem(company.inter, company.root), key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: holds no server certificate, "
        "only CA certificates (Company Issuing CA, Company Root)"]


def test_passphrase_protected_key_without_passphrase(base, tmp_path, company):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key, password=b"pw"))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_key_file: {tmp_path}/tabpy.key: is passphrase-protected; set "
        "tabpy_key_passphrase (a secret reference) and the deploy installs it decrypted"]


def test_wrong_passphrase(base, tmp_path, company, monkeypatch):
    monkeypatch.setenv("TABPY_KEY_PASS", "wrong")
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key, password=b"pw")),
            "tabpy_key_passphrase": "env:TABPY_KEY_PASS"}
    assert problems_of(data) == [
        f"{HOST}: tabpy_key_passphrase (env:TABPY_KEY_PASS): does not decrypt the key (wrong "
        f"passphrase) {tmp_path}/tabpy.key"]


def test_passphrase_reference_that_does_not_resolve(base, tmp_path, company):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key, password=b"pw")),
            "tabpy_key_passphrase": "env:TABPY_NOT_SET_ANYWHERE"}
    assert problems_of(data) == [
        f"{HOST}: tabpy_key_passphrase (env:TABPY_NOT_SET_ANYWHERE): environment variable "
        "TABPY_NOT_SET_ANYWHERE is not set"]


def test_passphrase_cannot_be_generated(base):
    assert problems_of({**base, "tabpy_key_passphrase": "generate"}) == [
        f"{HOST}: tabpy_key_passphrase: a passphrase cannot be generated; use env:, file:, cmd: "
        "or vault:"]


@pytest.mark.parametrize(("make_key", "reason"), [
    (lambda: rsa.generate_private_key(65537, 1024), "RSA key of 1024 bits is too weak (2048 or "
                                                    "more)"),
    (lambda: ec.generate_private_key(ec.SECP521R1()), "EC curve secp521r1 is not accepted (P-256 "
                                                      "or P-384)"),
    (lambda: ed25519.Ed25519PrivateKey.generate(), "Ed25519PublicKey keys are not accepted (RSA "
                                                   "2048+ or EC P-256/P-384)"),
], ids=["rsa1024", "p521", "ed25519"])
def test_weak_or_unsupported_keys(base, tmp_path, company, make_key, reason):
    leaf, key = company.leaf(key=make_key())
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key))}
    assert problems_of(data) == [f"{HOST}: tabpy_key_file: {tmp_path}/tabpy.key: {reason}"]


def test_key_of_another_certificate(base, tmp_path, company):
    leaf, _ = company.leaf()
    _, stranger = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(stranger))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_key_file: {tmp_path}/tabpy.key: does not match the certificate"]


def test_leaf_inside_the_renewal_window(base, tmp_path, company):
    leaf, key = company.leaf(days=12)
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: certificate expires in 12 days "
        f"({leaf.not_valid_after_utc.date()}), inside the renewal window of 30 days "
        "(pki_renew_before_days): get a new one from your CA"]
    # Outside a smaller window it is fine.
    assert planned(HOST, {**data, "pki_renew_before_days": 5}).tls


def test_intermediate_inside_the_renewal_window(base, tmp_path):
    short = CompanyCa("Short", intermediate_days=20)
    leaf, key = short.leaf(days=10)
    data = {**base, **files(tmp_path, pem(leaf, short.inter), key_bytes(key)),
            "pki_renew_before_days": 25}
    problems = problems_of(data)
    assert problems[1] == (
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: chain certificate 2 (Short "
        f"Issuing CA) expires in 20 days ({short.inter.not_valid_after_utc.date()}), inside the "
        "renewal window of 25 days (pki_renew_before_days): get a new one from your CA")


def test_ca_file_that_is_not_a_ca(base, tmp_path, company):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key), ca=pem(leaf))}
    assert f"{HOST}: tabpy_ca_file: {tmp_path}/ca.crt: certificate 1 ({HOST}) is not a CA " \
           "certificate" in problems_of(data)


def test_chain_that_does_not_reach_the_ca_file(base, tmp_path, company, other):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key),
                            ca=pem(other.root))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: does not chain to the trusted "
        "root(s) (Other Root): the chain ends at Company Issuing CA, issued by Company Root"]


def test_not_a_certificate_at_all(base, tmp_path, company):
    _, key = company.leaf()
    data = {**base, **files(tmp_path, b"hello", key_bytes(key))}
    assert problems_of(data) == [
        f"{HOST}: tabpy_certificate_file: {tmp_path}/tabpy.crt: not a certificate (neither PEM, "
        "DER nor PKCS#7)"]


def test_ca_file_missing(base, tmp_path, company):
    leaf, key = company.leaf()
    data = {**base, **files(tmp_path, pem(leaf, company.inter), key_bytes(key)),
            "tabpy_ca_file": str(tmp_path / "nope.crt")}
    assert problems_of(data) == [
        f"{HOST}: tabpy_ca_file: {tmp_path}/nope.crt: No such file or directory"]

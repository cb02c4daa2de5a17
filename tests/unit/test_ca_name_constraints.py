"""Name constraints of the private CA: what they permit, how they are derived from the
inventory, and that verifiers refuse a leaf outside them - cryptography's verifier, `openssl
verify` and a real TLS handshake with Python's ssl - while the environment's own names pass.

The positive control is a CA made as before (tests/unit/legacy_ca.py): issue 26 saw it sign
www.google.com, *.microsoft.com and login.example-bank.com, and every verifier accept that."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from tabpy_provision import pki
from tabpy_provision.cli.main import main as cli_main
from tabpy_provision.pki import ca_names, constraints
from tabpy_provision.settings.table import SettingsError, check_values
from tests.unit.handshake import (
    java_handshake,
    openssl_verify,
    tls_handshake,
    verifier_accepts,
)
from tests.unit.legacy_ca import write_legacy_ca
from tests.unit.planning import planned

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "tabpy1.lab.test"
LAB = pki.permitted_for([FQDN, "tabpy.lab.test", "192.0.2.10"])
#: What issue 26 had the CA sign.
FOREIGN = ("www.google.com", "*.microsoft.com", "login.example-bank.com")
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> tuple[Path, pki.CertificateAuthority]:
    folder = tmp_path_factory.mktemp("pki")
    return folder, pki.ensure_ca(folder, permitted=LAB, common_name="Lab", now=NOW)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> tuple[Path, pki.CertificateAuthority]:
    folder = tmp_path_factory.mktemp("legacy-pki")
    write_legacy_ca(folder, NOW)
    return folder, pki.ensure_ca(folder, permitted=LAB, now=NOW)


def leaf_for(ca: pki.CertificateAuthority, name: str, *aliases: str,
             addresses: tuple[str, ...] = ()) -> pki.IssuedLeaf:
    """What anyone holding the intermediate's key can sign (nothing stops ensure_leaf)."""
    with tempfile.TemporaryDirectory() as folder:
        return pki.ensure_leaf(ca, Path(folder), name, dns_names=list(aliases),
                               ip_addresses=list(addresses), now=NOW)


def wildcard_target(name: str) -> str:
    return name.replace("*", "anything", 1)


# ---- the certificates ----------------------------------------------------------------------


def test_root_and_intermediate_carry_critical_constraints_path_lengths_and_usage(lab):
    _, ca = lab
    for cert, path_length in ((ca.root_cert, 1), (ca.intermediate_cert, 0)):
        found = cert.extensions.get_extension_for_class(x509.NameConstraints)
        assert found.critical
        assert found.value.permitted_subtrees == [
            x509.DNSName("lab.test"), x509.IPAddress(ipaddress.ip_network("192.0.2.10/32"))]
        # No IPv6 name: every IPv6 address is excluded (else any would be permitted).
        assert found.value.excluded_subtrees == [x509.IPAddress(ipaddress.ip_network("::/0"))]
        assert cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.path_length == path_length
    assert list(ca.intermediate_cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(x509.ExtensionNotFound):  # a root with an EKU is outside the Web PKI
        ca.root_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    leaf = x509.load_pem_x509_certificate(leaf_for(ca, FQDN).cert_pem)
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert ca.notes == ()


def test_openssl_shows_the_constraints(lab):
    folder, _ = lab
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(folder / "ca" / "root.crt")], capture_output=True, text=True,
                          check=True).stdout
    assert "X509v3 Name Constraints: critical" in text
    assert "Permitted:\n                  DNS:lab.test\n                  IP:192.0.2.10/" in text
    assert "Excluded:\n                  IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0" in text


# ---- derivation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("names", "widen", "expected"), [
    (["tabpy1.lab.test", "tabpy2.lab.test"], [], "lab.test"),
    (["tabpy1.eu.example.com", "tabpy.example.com"], [], "example.com"),  # one inside another
    (["tabpy1.eu.example.com"], ["Example.ORG."], "eu.example.com, example.org"),
    # one or two labels: the name itself (its domain would be a top-level domain)
    (["tabpy", "tabpy.corp"], [], "tabpy, tabpy.corp"),
    (["*.svc.lab.test"], [], "svc.lab.test"),
    (["tabpy1.lab.test", "192.0.2.10", "2001:db8::7"], ["10.20.0.0/16"],
     "lab.test, 10.20.0.0/16, 192.0.2.10/32, 2001:db8::7/128"),
    (["192.0.2.10"], [], "invalid, 192.0.2.10/32"),  # no DNS name: none permitted
])
def test_derivation(names, widen, expected):
    assert str(pki.permitted_for(names, widen)) == expected


def test_what_a_set_covers():
    permitted = pki.permitted_for(["tabpy1.lab.test", "192.0.2.10"], ["10.20.0.0/16"])
    for name in ("lab.test", "tabpy9.lab.test", "a.b.lab.test", "*.lab.test", "TABPY1.LAB.TEST.",
                 "192.0.2.10", "10.20.255.1"):
        assert permitted.covers(name), name
    for name in ("test", "evil-lab.test", "lab.test.evil.com", "xlab.test", "192.0.2.11",
                 "10.21.0.1", "::1", "www.google.com"):
        assert not permitted.covers(name), name


def test_an_intermediate_is_never_wider_than_its_root():
    root = pki.permitted_for(["a.lab.test", "b.lab.test"], ["10.0.0.0/8"])  # lab.test
    wanted = pki.permitted_for(["x.example.com", "tabpy1.eu.lab.test"], ["10.1.0.0/16",
                                                                         "192.0.2.0/24"])
    assert str(wanted.within(root)) == "eu.lab.test, 10.1.0.0/16"
    assert str(root.within(wanted)) == "eu.lab.test, 10.1.0.0/16"
    assert wanted.within(None) == wanted
    assert str(wanted.within(pki.permitted_for(["other.test"]))) == "invalid"


@pytest.mark.parametrize(("value", "problem"), [
    (["lab.test", "10.0.0.0/8", "2001:db8::/32", "192.0.2.1"], None),
    ("lab.test", "must be a list of DNS domains and IP networks, got 'lab.test'"),
    (["10.0.0.1/8"], "must be DNS domains and IP networks (host bits clear), got '10.0.0.1/8'"),
    (["*.lab.test"], "must be DNS domains and IP networks (host bits clear), got '*.lab.test'"),
    ([7], "must be DNS domains and IP networks (host bits clear), got 7"),
])
def test_the_setting_is_checked(value, problem):
    assert check_values("h", {"pki_permitted_names": value}) == (
        [f"h: pki_permitted_names: {problem}"] if problem else [])


def test_the_names_of_every_host_sharing_a_pki_dir(tmp_path):
    shared = {"pki_dir": str(tmp_path / "pki")}
    names = ca_names.private_ca_names(
        [("tabpy1.lab.test", {**shared, "tabpy_cert_dns_aliases": ["tabpy.svc.example.com"]}),
         ("tabpy2.eu.lab.test", {**shared, "tabpy_cert_ip_addresses": ["192.0.2.12"],
                                 "pki_permitted_names": ["10.0.0.0/8"]}),
         ("other.lab.test", {"pki_dir": str(tmp_path / "other")}),
         ("http.lab.test", {**shared, "tabpy_transfer_protocol": "http"}),
         ("company.lab.test", {**shared, "tabpy_certificate_file": "/c.pem",
                               "tabpy_key_file": "/c.key"}),
         ("acme.lab.test", {**shared, "acme_directory_url": "https://acme.example/dir",
                            "acme_dns_hook": ["hook"]}),
         ("broken.lab.test", {**shared, "tabpy_port": -1})],
        [("lb1", {**shared, "lb_service_name": "TabPy.pool.test"}),
         ("lb2", {**shared})])
    assert set(names) == {tmp_path / "pki", tmp_path / "other"}
    assert names[tmp_path / "pki"].uses == (
        ("tabpy1.lab.test", "tabpy_fqdn", "tabpy1.lab.test"),
        ("tabpy1.lab.test", "tabpy_cert_dns_aliases", "tabpy.svc.example.com"),
        ("tabpy2.eu.lab.test", "tabpy_fqdn", "tabpy2.eu.lab.test"),
        ("tabpy2.eu.lab.test", "tabpy_cert_ip_addresses", "192.0.2.12"),
        ("lb1", "lb_service_name", "tabpy.pool.test"))
    assert str(names[tmp_path / "pki"].permitted) == \
        "lab.test, pool.test, svc.example.com, 10.0.0.0/8, 192.0.2.12/32"


def test_the_set_of_a_pyinfra_inventory(tmp_path):
    """What the preflight and site_check pass to every plan: from the inventory's groups."""
    path = tmp_path / "inventory.py"
    path.write_text(
        f"tabpy_servers = ([('tabpy1.lab.test', {{}}), ('tabpy2.eu.example.com', {{}})], "
        f"{{'pki_dir': {str(tmp_path / 'pki')!r}}})\n"
        f"tabpy_lb = ([('lb1', {{'lb_service_name': 'tabpy.pool.test'}})], "
        f"{{'pki_dir': {str(tmp_path / 'pki')!r}}})\n"
        "clients = [('client1.elsewhere.test', {})]\n")
    with ctx_state.use(State()):
        inventory = make_inventory(str(path))
    assert ca_names.permitted_sets(inventory) == {tmp_path / "pki": pki.permitted_for(
        ["tabpy1.lab.test", "tabpy2.eu.example.com", "tabpy.pool.test"])}


# ---- verifiers refuse what the constraints do not permit -----------------------------------


def outcomes(folder: Path, leaf: pki.IssuedLeaf, trusted_pem: bytes, name: str) -> tuple:
    """(cryptography, openssl, Python's ssl) on the chain the server would send."""
    target = wildcard_target(name)
    checked = openssl_verify(folder, leaf.chain_pem, trusted_pem, target)
    shaken = tls_handshake(folder, leaf.chain_pem, leaf.key_pem, trusted_pem, target)
    return (verifier_accepts(leaf.chain_pem, trusted_pem, target, NOW),
            checked.returncode == 0 or checked.stdout + checked.stderr,
            shaken if isinstance(shaken, ssl.SSLError) else True)


def test_the_issue_26_leaf_verifies_everywhere_from_a_ca_made_as_before(legacy, tmp_path):
    """Positive control: what the three checks below would let through without constraints."""
    _, ca = legacy
    forged = leaf_for(ca, *FOREIGN)
    for name in FOREIGN:
        assert outcomes(tmp_path, forged, ca.root_pem, name) == (True, True, True), name


def test_the_issue_26_leaf_is_refused_by_every_verifier(lab, tmp_path):
    _, ca = lab
    forged = leaf_for(ca, *FOREIGN)
    for name in FOREIGN:
        accepted, checked, shaken = outcomes(tmp_path, forged, ca.root_pem, name)
        assert accepted is False, name
        assert "permitted subtree violation" in checked, name
        assert isinstance(shaken, ssl.SSLCertVerificationError), name
        assert "permitted subtree violation" in str(shaken), name


def test_the_environments_own_names_verify_everywhere(lab, tmp_path):
    _, ca = lab
    own = leaf_for(ca, FQDN, "tabpy.lab.test", addresses=("192.0.2.10",))
    for name in (FQDN, "tabpy.lab.test", "192.0.2.10"):
        assert outcomes(tmp_path, own, ca.root_pem, name) == (True, True, True), name


@pytest.mark.parametrize("address", ["192.0.2.11", "10.0.0.1", "2001:db8::1"])
def test_an_address_outside_is_refused_even_beside_a_permitted_name(lab, tmp_path, address):
    _, ca = lab
    leaf = leaf_for(ca, FQDN, addresses=(address,))
    accepted, checked, shaken = outcomes(tmp_path, leaf, ca.root_pem, FQDN)
    assert accepted is False
    assert "subtree violation" in checked  # permitted (IPv4) or excluded (IPv6)
    assert isinstance(shaken, ssl.SSLCertVerificationError)


def cn_only_leaf(folder: Path, tmp_path: Path, name: str) -> tuple[bytes, bytes]:
    """(chain, key) of a leaf naming `name` only in its CN, signed with the intermediate's key
    by `openssl x509 -req` (no extensions at all)."""
    key, request, cert = tmp_path / "leaf.key", tmp_path / "leaf.csr", tmp_path / "leaf.crt"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-subj",
                    f"/CN={name}", "-out", str(request)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA",
                    str(folder / "ca" / "intermediate.crt"), "-CAkey",
                    str(folder / "ca" / "intermediate.key"), "-days", "30", "-out", str(cert)],
                   check=True, capture_output=True)
    return cert.read_bytes() + (folder / "ca" / "intermediate.crt").read_bytes(), \
        key.read_bytes()


def test_a_subject_name_without_alternative_names_is_held_too(lab, tmp_path):
    """A leaf naming www.google.com only in its CN (what a client falling back to the CN
    would match): OpenSSL applies the DNS constraints to such a CN."""
    folder, ca = lab
    chain, _ = cn_only_leaf(folder, tmp_path, "www.google.com")
    done = openssl_verify(tmp_path, chain, ca.root_pem, "www.google.com")
    assert done.returncode == 2
    assert "permitted subtree violation" in done.stdout + done.stderr


def rogue_intermediate(folder: Path, ca: pki.CertificateAuthority) -> pki.CertificateAuthority:
    """What whoever holds the root's key can make: an intermediate without constraints."""
    root_key = serialization.load_pem_private_key((folder / "ca" / "root.key").read_bytes(),
                                                  password=None)
    key = ec.generate_private_key(ec.SECP384R1())
    inter = (x509.CertificateBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "Rogue Intermediate")]))
             .issuer_name(ca.root_cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(NOW - timedelta(minutes=5))
             .not_valid_after(NOW + timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 root_key.public_key()), False)
             .sign(root_key, hashes.SHA384()))
    return pki.CertificateAuthority(ca.root_cert, inter, key, ca.root_pem, pki.to_pem(inter))


def test_the_roots_constraints_hold_an_intermediate_without_any(lab, tmp_path):
    """OpenSSL, Python's ssl and cryptography apply the root's constraints below any
    intermediate (Java does not: below)."""
    rogue = rogue_intermediate(*lab)
    forged = leaf_for(rogue, "www.google.com")
    accepted, checked, shaken = outcomes(tmp_path, forged, lab[1].root_pem, "www.google.com")
    assert accepted is False
    assert "permitted subtree violation" in checked
    assert isinstance(shaken, ssl.SSLCertVerificationError)
    # ...and the same intermediate signs for the environment's names as it likes.
    assert outcomes(tmp_path, leaf_for(rogue, FQDN), lab[1].root_pem, FQDN) == (True, True, True)


needs_java = pytest.mark.skipif(not (shutil.which("java") and shutil.which("javac")),
                                reason="no JDK installed")


@needs_java
def test_java_refuses_a_leaf_outside_and_takes_the_intermediates_usage(lab, tmp_path):
    """Tableau's runtime: the lab's name passes through an intermediate limited to serverAuth;
    the issue 26 leaf fails its name constraints check."""
    _, ca = lab
    own = leaf_for(ca, FQDN)
    assert java_handshake(tmp_path, own.chain_pem, own.key_pem, ca.root_pem, FQDN) \
        .startswith("OK TLS")
    forged = leaf_for(ca, *FOREIGN)
    for name in FOREIGN:
        result = java_handshake(tmp_path, forged.chain_pem, forged.key_pem, ca.root_pem,
                                wildcard_target(name))
        assert result.startswith("REFUSED") and "name constraints check failed" in result, name


@needs_java
def test_java_holds_a_subject_cn_to_the_constraints(lab, tmp_path):
    """Java matches a CN when a leaf has no alternative names, and checks it like one."""
    folder, ca = lab
    for name, wanted in (("www.google.com", "name constraints check failed"), (FQDN, "OK TLS")):
        chain, key = cn_only_leaf(folder, tmp_path, name)
        assert wanted in java_handshake(tmp_path, chain, key, ca.root_pem, name), name


@needs_java
def test_java_ignores_the_roots_constraints(lab, tmp_path):
    """Why the root key is best kept off the controller (certificates.md): Java checks only the
    certificates below the trust anchor, so an intermediate made with the root's key and no
    constraints of its own vouches for any name to Java."""
    rogue = rogue_intermediate(*lab)
    forged = leaf_for(rogue, "www.google.com")
    assert java_handshake(tmp_path, forged.chain_pem, forged.key_pem, lab[1].root_pem,
                          "www.google.com").startswith("OK TLS")


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(LABEL, min_size=1, max_size=3))
def test_generated_names_inside_the_domain_verify(lab, labels):
    _, ca = lab
    name = ".".join([*labels, "lab.test"])
    assert verifier_accepts(leaf_for(ca, name).chain_pem, ca.root_pem, name, NOW)


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(LABEL, min_size=1, max_size=3),
       top=st.sampled_from(["com", "net", "test", "lab-test", "example"]))
@example(labels=["evil-lab"], top="test")  # a suffix of the text, not of the labels
@example(labels=["lab", "test", "evil"], top="com")
@example(labels=["xlab"], top="test")
def test_generated_names_outside_are_refused(lab, labels, top):
    _, ca = lab
    name = ".".join([*labels, top])
    if name == "lab.test" or name.endswith(".lab.test"):
        return
    leaf = leaf_for(ca, name)
    assert not verifier_accepts(leaf.chain_pem, ca.root_pem, name, NOW)
    with tempfile.TemporaryDirectory() as folder:
        checked = openssl_verify(Path(folder), leaf.chain_pem, ca.root_pem, name)
    assert checked.returncode == 2
    assert "permitted subtree violation" in checked.stdout + checked.stderr


# ---- planning ------------------------------------------------------------------------------


def tabpy(tmp_path, monkeypatch, **data) -> dict:
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    return {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets"), **data}


def test_a_new_ca_permits_every_host_that_shares_it(tmp_path, monkeypatch):
    data = tabpy(tmp_path, monkeypatch)
    hosts = [("tabpy1.lab.test", data), ("tabpy9.other.test", data)]
    permitted = {pki_dir: names.permitted for pki_dir, names in
                 ca_names.private_ca_names(hosts, []).items()}
    for host, host_data in hosts:
        assert planned(host, host_data, now=NOW, permitted=permitted).tls is not None
    root = pki.load_ca(tmp_path / "pki").root_cert
    assert str(pki.of_certificate(root)) == "lab.test, other.test"


def test_a_name_outside_the_ca_is_a_problem_naming_host_field_and_fix(tmp_path, monkeypatch):
    """Planned one host at a time (no inventory-wide set): the first host's CA permits its own
    domain only, so the second host's name and alias are refused before anything is issued."""
    planned("tabpy1.lab.test", tabpy(tmp_path, monkeypatch), now=NOW)
    data = tabpy(tmp_path, monkeypatch, tabpy_cert_dns_aliases=["tabpy.lab.test",
                                                                "tabpy.example.com"])
    with pytest.raises(SettingsError) as refused:
        planned("tabpy9.other.test", data, now=NOW)
    assert refused.value.problems == [
        f"tabpy9.other.test: {field}: {name} is outside the name constraints of the private "
        "CA (lab.test): take it out of the inventory, add it or its domain to "
        "pki_permitted_names, rotate the root (tabpy-provision ca rotate-root, deploy, ca "
        "activate-root, deploy), then put it back (docs/certificates.md)"
        for field, name in (("tabpy_fqdn", "tabpy9.other.test"),
                            ("tabpy_cert_dns_aliases", "tabpy.example.com"))]
    assert not (tmp_path / "pki" / "hosts" / "tabpy9.other.test").exists()


def test_a_name_the_root_permits_but_not_the_intermediate_asks_for_its_rotation(
        tmp_path, monkeypatch):
    wide = pki.permitted_for(["tabpy1.lab.test"], ["example.com"])
    pki.ensure_ca(tmp_path / "pki", permitted=wide, now=NOW)
    pki.rotate_intermediate(tmp_path / "pki", permitted=pki.permitted_for(["tabpy1.lab.test"]),
                            now=NOW)
    data = tabpy(tmp_path, monkeypatch, tabpy_cert_dns_aliases=["tabpy.example.com"])
    with pytest.raises(SettingsError) as refused:
        planned(FQDN, data, now=NOW)
    assert refused.value.problems == [
        f"{FQDN}: tabpy_cert_dns_aliases: tabpy.example.com is outside the name constraints "
        "of the private CA's intermediate (lab.test) but inside its root's: "
        "tabpy-provision ca rotate-intermediate, then deploy"]
    # The fix, as the ca command runs it: the inventory's names, within the root's.
    names = pki.permitted_for([FQDN, "tabpy.example.com"])
    pki.rotate_intermediate(tmp_path / "pki", permitted=names, now=NOW)
    leaf = x509.load_pem_x509_certificate(planned(FQDN, data, now=NOW).tls.chain_pem)
    assert "tabpy.example.com" in leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_pki_permitted_names_widens_a_new_ca(tmp_path, monkeypatch):
    data = tabpy(tmp_path, monkeypatch, pki_permitted_names=["analytics.example.com",
                                                             "10.20.0.0/16"])
    planned(FQDN, data, now=NOW)
    ca = pki.load_ca(tmp_path / "pki")
    assert str(constraints.of_certificate(ca.intermediate_cert)) == \
        "analytics.example.com, lab.test, 10.20.0.0/16"


def test_widening_for_a_host_in_another_domain_as_the_problem_line_says(tmp_path, monkeypatch,
                                                                         capsys):
    """The host waits outside the inventory while its domain goes into pki_permitted_names and
    the root rotates; then it is planned like the others."""
    def inventory(hosts: list[str], **extra) -> tuple[str, dict]:
        data = tabpy(tmp_path, monkeypatch, **extra)
        path = tmp_path / f"inventory-{len(hosts)}-{len(extra)}.py"
        path.write_text(f"tabpy_servers = ({[(host, {}) for host in hosts]!r}, {data!r})\n")
        return str(path), data

    def plan_all(path: str, data: dict, hosts: list[str]) -> dict:
        permitted = {folder: names.permitted for folder, names in ca_names.private_ca_names(
            [(host, data) for host in hosts], []).items()}
        # the ca command signs with the clock: plan with it too (NOW is the collection's time,
        # half an hour old when the unit tests run after the lab's)
        now = datetime.now(UTC)
        return {host: planned(host, data, now=now, permitted=permitted) for host in hosts}

    plan_all(*inventory([FQDN]), [FQDN])
    with pytest.raises(SettingsError):
        plan_all(*inventory([FQDN, "tabpy9.other.test"]), [FQDN, "tabpy9.other.test"])

    widened, data = inventory([FQDN], pki_permitted_names=["other.test"])
    assert cli_main(["ca", "rotate-root", "-i", widened]) == 0
    assert "(permits lab.test, other.test)" in capsys.readouterr().out
    plan_all(widened, data, [FQDN])  # the deploy that gives clients both roots
    assert cli_main(["ca", "activate-root", "-i", widened]) == 0
    plans = plan_all(*inventory([FQDN, "tabpy9.other.test"], pki_permitted_names=["other.test"]),
                     [FQDN, "tabpy9.other.test"])
    assert [plan.tls.summary for plan in plans.values()] == [
        "private CA, issued by a different intermediate CA", "private CA, new"]

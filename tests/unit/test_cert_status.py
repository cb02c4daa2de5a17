"""The certificate report's judgement (cert_status): each status with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.pki import cert_status
from tabpy_provision.pki.cert_status import BROKEN, OK, RENEW, TrustHost
from tabpy_provision.trust import plan as trust

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "tabpy1.example.com"
NAMES = pki.permitted_for([FQDN])


def chain_of(leaf: pki.IssuedLeaf) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(leaf.chain_pem)


@pytest.fixture
def lab(tmp_path):
    """A private CA, a deployed leaf, and the server as the report reads it."""
    ca = pki.ensure_ca(tmp_path / "pki", permitted=NAMES, common_name="Lab", now=NOW)
    leaf = pki.ensure_leaf(ca, tmp_path / "pki", FQDN, now=NOW)
    data = {"pki_dir": str(tmp_path / "pki"), "trust_artifacts_dir": str(tmp_path / "art"),
            "ssh_hostname": "192.0.2.1"}
    return ca, leaf, data, cert_status.expected_certs(FQDN, data)


def sha256(cert: x509.Certificate) -> str:
    return trust.TrustCert("root", cert).sha256


def test_expected_certs_read_without_creating(tmp_path, lab):
    ca, leaf, data, server = lab
    assert (server.fqdn, server.address, server.port, server.window) == (FQDN, "192.0.2.1",
                                                                          9004, 30)
    assert server.expected_leaf == chain_of(leaf)[0]
    assert [c.state for c in server.cas] == ["active", "active"]
    missing = cert_status.expected_certs(FQDN, {"pki_dir": str(tmp_path / "none")})
    assert missing.problem.startswith("no private CA in")
    assert not (tmp_path / "none").exists()
    assert cert_status.expected_certs(FQDN, {"tabpy_transfer_protocol": "http"}) is None


def test_an_rserve_servers_leaf_is_its_own_row_on_its_port(lab):
    ca, leaf, data, _ = lab
    server = cert_status.expected_rserve_certs("rserve1", {**data, "rserve_fqdn": FQDN,
                                                           "tabpy_transfer_protocol": "http"})
    assert (server.fqdn, server.address, server.port, server.service) == (FQDN, "192.0.2.1",
                                                                          6311, "Rserve")
    assert server.expected_leaf == chain_of(leaf)[0]
    client = TrustHost("client1", frozenset({sha256(ca.root_cert)}),
                       frozenset({sha256(ca.root_cert)}))
    row = cert_status.leaf_row(server, chain_of(leaf), [client], NOW)
    assert (row.role, row.status) == ("Rserve leaf (served)", OK)


def test_served_leaf_ok_then_renew_then_broken(lab):
    ca, leaf, _, server = lab
    client = TrustHost("client1", frozenset({sha256(ca.root_cert)}),
                       frozenset({sha256(ca.root_cert)}))
    row = cert_status.leaf_row(server, chain_of(leaf), [client], NOW)
    assert (row.status, row.detail, row.trusted_on) == (OK, "", "via Lab Root CA: client1")
    late = leaf.not_after - timedelta(days=10)
    row = cert_status.leaf_row(server, chain_of(leaf), [client], late)
    assert (row.status, row.detail) == (RENEW, "inside the renewal window (30 days)")


def test_served_leaf_not_the_inventorys(lab, tmp_path):
    ca, _, _, server = lab
    other = pki.ensure_leaf(ca, tmp_path / "elsewhere", FQDN, now=NOW)  # e.g. put by hand
    row = cert_status.leaf_row(server, chain_of(other), [], NOW)
    assert (row.status, row.detail) == (BROKEN, "not the inventory's certificate (changed by "
                                                "hand, or not deployed yet)")


def test_served_chain_for_another_name_or_unreadable(lab, tmp_path):
    ca, _, _, server = lab
    stranger = pki.ensure_leaf(ca, tmp_path / "x", "other.example.com", now=NOW)
    row = cert_status.leaf_row(server, chain_of(stranger), [], NOW)
    assert (row.status, row.detail) == (BROKEN, f"SANs (other.example.com) do not cover {FQDN}")
    row = cert_status.leaf_row(server, "192.0.2.1:9004: connect:errno=111", [], NOW)
    assert (row.status, row.detail) == (BROKEN, "cannot read it over TLS: 192.0.2.1:9004: "
                                                "connect:errno=111")


def test_ca_rows_trust_coverage(lab, tmp_path):
    ca, _, _, server = lab
    root = sha256(ca.root_cert)
    holds = TrustHost("client1", frozenset({root}), frozenset({root}))
    lacks = TrustHost("tableau1", frozenset({root}), frozenset())
    rows = cert_status.ca_rows([server], [holds, lacks], NOW)
    assert [(r.role, r.status, r.detail, r.trusted_on) for r in rows] == [
        ("root CA", BROKEN, "not trusted on tableau1: run tabpy-provision deploy trust", "client1"),
        ("intermediate CA", OK, "", "")]
    rows = cert_status.ca_rows([server], [holds], NOW)
    assert [r.status for r in rows] == [OK, OK]


def test_private_ca_windows(lab):
    ca, _, _, server = lab
    near_root_end = ca.root_cert.not_valid_after_utc - timedelta(days=80)
    statuses = {r.role: (r.status, r.detail) for r in cert_status.ca_rows([server], [],
                                                                         near_root_end)}
    assert statuses["root CA"] == (RENEW, "rotate it (tabpy-provision ca rotate-root)")
    near_inter_end = ca.intermediate_cert.not_valid_after_utc - timedelta(days=30)
    statuses = {r.role: (r.status, r.detail) for r in cert_status.ca_rows([server], [],
                                                                         near_inter_end)}
    assert statuses == {"root CA": (OK, ""),
                        "intermediate CA": (RENEW, "the next deploy renews it")}


def test_retired_root_still_trusted_somewhere(lab, tmp_path):
    ca, _, data, _ = lab
    folder = tmp_path / "pki"
    pki.stage_root(folder, permitted=NAMES, common_name="Lab", now=NOW)
    pki.activate_root(folder, now=NOW)
    pki.retire_previous_roots(folder, now=NOW)
    server = cert_status.expected_certs(FQDN, data)
    old = sha256(ca.root_cert)
    stale = TrustHost("client1", frozenset(), frozenset({old}))
    rows = {r.role: r for r in cert_status.ca_rows([server], [stale], NOW)}
    assert (rows["root CA (retired)"].status, rows["root CA (retired)"].detail) == (
        BROKEN, "retired, still trusted on client1: run tabpy-provision deploy trust")
    # Once it left every store, a retired certificate is not reported at all.
    clean = TrustHost("client1", frozenset(), frozenset())
    assert all("retired" not in r.role for r in cert_status.ca_rows([server], [clean], NOW))


def test_expected_by_host_follows_the_selection(lab):
    ca, _, _, server = lab
    expected = cert_status.expected_by_host(
        [server], {"a": {}, "b": {"trust_ca_certificates": ["root", "intermediate"]}}, NOW)
    assert expected == {"a": {sha256(ca.root_cert)},
                        "b": {sha256(ca.root_cert), sha256(ca.intermediate_cert)}}


def test_held_certificates_by_file_name_or_sha1(lab):
    ca, _, _, server = lab
    root = trust.TrustCert("root", ca.root_cert)
    inter = trust.TrustCert("intermediate", ca.intermediate_cert)
    assert cert_status.held_sha256s([f"tabpy-provision-lab-{root.label}.crt", "other.crt"],
                                    None, server.cas) == {root.sha256}
    assert cert_status.held_sha256s(None, [inter.sha1.lower()], server.cas) == {inter.sha256}


def test_table_has_every_column(lab):
    ca, leaf, _, server = lab
    row = cert_status.leaf_row(server, chain_of(leaf), [], NOW)
    text = cert_status.table([row], NOW)
    header, line = text.splitlines()
    assert header.split() == ["host", "role", "subject", "SANs", "issuer", "not", "after",
                              "days", "trusted", "on", "status"]
    assert line.split()[:4] == [FQDN, "TabPy", "leaf", "(served)"]
    assert str((leaf.not_after - NOW).days) in line.split()

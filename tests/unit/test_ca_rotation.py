"""Rotation of the private CA: intermediate at once, root in three steps (stage, activate,
retire), with what clients must trust at each step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

from tabpy_provision import pki
from tabpy_provision.controller import files as controller_files
from tests.unit.planning import planned

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "tabpy1.lab.test"
LAB = pki.permitted_for([FQDN])


def roots(ca: pki.CertificateAuthority) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(ca.trusted_roots_pem)


def verifies(leaf: pki.IssuedLeaf, trusted: list[x509.Certificate]) -> bool:
    """What a client trusting `trusted` concludes about the chain the server sends."""
    chain = x509.load_pem_x509_certificates(leaf.chain_pem)
    verifier = PolicyBuilder().store(Store(trusted)).time(NOW).build_server_verifier(
        DNSName(FQDN))
    try:
        verifier.verify(chain[0], chain[1:])
    except Exception:  # noqa: BLE001 - any verification failure means "not trusted"
        return False
    return True


def states(ca: pki.CertificateAuthority) -> list[tuple[str, str, str]]:
    return [(c.role, c.state, c.cert.subject.rfc4514_string()) for c in ca.registry]


def test_new_ca_registry_is_the_active_pair(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    assert states(ca) == [("root", "active", "CN=Lab Root CA,O=tabpy-provision"),
                          ("intermediate", "active",
                           "CN=Lab Intermediate CA,O=tabpy-provision")]
    assert ca.trusted_roots_pem == ca.root_pem


def test_rotate_intermediate_keeps_the_root_and_old_leaves_valid(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    old_leaf = pki.ensure_leaf(ca, tmp_path, FQDN, now=NOW)
    rotated = pki.rotate_intermediate(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    assert rotated.notes == ("rotated the intermediate CA",)
    assert rotated.root_pem == ca.root_pem
    assert rotated.intermediate_pem != ca.intermediate_pem
    assert states(rotated)[1:] == [
        ("intermediate", "active", "CN=Lab Intermediate CA G2,O=tabpy-provision"),
        ("intermediate", "retired", "CN=Lab Intermediate CA,O=tabpy-provision")]
    new_leaf = pki.ensure_leaf(rotated, tmp_path, FQDN, now=NOW)
    assert new_leaf.reissued and new_leaf.reason == "issued by a different intermediate CA"
    # Overlap: a client trusting the root accepts both the old and the new server chain.
    assert verifies(old_leaf, roots(rotated)) and verifies(new_leaf, roots(rotated))


def test_intermediate_renewed_in_its_window_is_retired(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)
    later = ca.intermediate_cert.not_valid_after_utc - timedelta(days=10)
    renewed = pki.ensure_ca(tmp_path, permitted=LAB, now=later)
    assert [c.state for c in renewed.registry if c.role == "intermediate"] == ["active",
                                                                                "retired"]


def test_root_rotation_in_three_steps(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    old_leaf = pki.ensure_leaf(ca, tmp_path, FQDN, now=NOW)

    # 1. Staged: clients get the new root; nothing is signed with it yet.
    staged = pki.stage_root(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    assert [(c.role, c.state) for c in staged.registry] == [
        ("root", "active"), ("intermediate", "active"), ("root", "next"),
        ("intermediate", "next")]
    assert staged.registry[2].cert.subject.rfc4514_string() == \
        "CN=Lab Root CA G2,O=tabpy-provision"
    assert len(roots(staged)) == 2
    assert not pki.ensure_leaf(staged, tmp_path, FQDN, now=NOW).reissued
    with pytest.raises(pki.PkiError, match="already staged"):
        pki.stage_root(tmp_path, permitted=LAB, now=NOW)

    # 2. Activated: the new root signs; the old root is still trusted, old leaves still verify.
    active = pki.activate_root(tmp_path, now=NOW)
    assert active.root_cert == staged.registry[2].cert
    assert [(c.role, c.state) for c in active.registry] == [
        ("root", "active"), ("intermediate", "active"), ("root", "previous"),
        ("intermediate", "retired")]
    new_leaf = pki.ensure_leaf(active, tmp_path, FQDN, now=NOW)
    assert new_leaf.reissued
    assert verifies(old_leaf, roots(active)) and verifies(new_leaf, roots(active))
    assert not (tmp_path / "ca" / "next").exists()

    # 3. Retired: only the new root is trusted; a server still on the old root is not.
    [retired] = pki.retire_previous_roots(tmp_path, now=NOW)
    assert (retired.role, retired.state, retired.cert) == ("root", "retired", ca.root_cert)
    after = pki.load_ca(tmp_path, now=NOW)
    assert roots(after) == [active.root_cert]
    assert verifies(new_leaf, roots(after)) and not verifies(old_leaf, roots(after))
    with pytest.raises(pki.PkiError, match="no previous root"):
        pki.retire_previous_roots(tmp_path, now=NOW)


def test_activate_without_a_staged_root(tmp_path):
    pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)
    with pytest.raises(pki.PkiError, match="no staged root .* run rotate-root and deploy first"):
        pki.activate_root(tmp_path, now=NOW)


def test_interrupted_activation_completes_on_rerun(tmp_path, monkeypatch):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)
    staged = pki.stage_root(tmp_path, permitted=LAB, now=NOW)
    real_write = controller_files.write_private
    writes = []

    def crash_on_the_fifth_write(path, data):
        writes.append(path.name)
        if len(writes) == 5:
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(controller_files, "write_private", crash_on_the_fifth_write)
    with pytest.raises(KeyboardInterrupt):
        pki.activate_root(tmp_path, now=NOW)
    monkeypatch.setattr(controller_files, "write_private", real_write)
    # Old root kept, then the new root's files copied; the intermediate's were not.
    assert [n.split("-")[0] for n in writes[:2]] == ["root", "intermediate"]
    assert writes[2:] == ["root.key", "root.crt", "intermediate.key"]
    with pytest.raises(pki.PkiError, match="is not signed by"):
        pki.load_ca(tmp_path, now=NOW)
    active = pki.activate_root(tmp_path, now=NOW)
    assert active.root_cert == staged.registry[2].cert
    assert [c.cert for c in active.registry if c.state == "previous"] == [ca.root_cert]


def test_incomplete_staged_root_names_the_file(tmp_path):
    pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)
    pki.stage_root(tmp_path, permitted=LAB, now=NOW)
    (tmp_path / "ca" / "next" / "intermediate.key").unlink()
    with pytest.raises(pki.PkiError, match="incomplete staged root in .*next: intermediate.key "
                                           "is missing"):
        pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)


def test_root_near_its_end_asks_for_a_rotation_until_one_is_staged(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, root_days=200, intermediate_days=150, now=NOW)
    late = ca.root_cert.not_valid_after_utc - timedelta(days=80)
    notes = pki.ensure_ca(tmp_path, permitted=LAB, now=late).notes
    assert notes[-1] == (f"root CA expires on {ca.root_cert.not_valid_after_utc.date()}: rotate "
                         "it before then (python -m tabpy_provision.ca INVENTORY rotate-root, "
                         "see docs/certificates.md)")
    pki.stage_root(tmp_path, permitted=LAB, now=late)
    assert not any("rotate it" in n for n in pki.ensure_ca(tmp_path, permitted=LAB, now=late).notes)


def test_load_ca_creates_nothing(tmp_path):
    with pytest.raises(pki.PkiError, match="no private CA in"):
        pki.load_ca(tmp_path, now=NOW)
    assert not (tmp_path / "ca").exists()


def test_the_plan_says_what_happened_to_the_ca_and_the_leaf(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    data = {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki")}
    first = planned(FQDN, data, now=NOW)
    assert first.tls.notes == ("created root CA", "created intermediate CA",
                               "certificate re-issued: new")
    assert planned(FQDN, data, now=NOW).tls.notes == ()
    pki.rotate_intermediate(tmp_path / "pki", permitted=LAB, now=NOW)
    assert planned(FQDN, data, now=NOW).tls.notes == (
        "certificate re-issued: issued by a different intermediate CA",)

"""Rotation of the private CA: intermediate at once, root in three steps (stage, activate,
retire), with what clients must trust at each step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.controller import files as controller_files
from tabpy_provision.server.plan import plan_tabpy_server
from tests.unit.handshake import verifier_accepts
from tests.unit.legacy_ca import write_legacy_ca
from tests.unit.planning import planned

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "tabpy1.lab.test"
LAB = pki.permitted_for([FQDN])


def roots(ca: pki.CertificateAuthority) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(ca.trusted_roots_pem)


def verifies(leaf: pki.IssuedLeaf, trusted: list[x509.Certificate], name: str = FQDN) -> bool:
    """What a client trusting `trusted` concludes about the chain the server sends."""
    return verifier_accepts(leaf.chain_pem, b"".join(map(pki.to_pem, trusted)), name, NOW)


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
                         "it before then (tabpy-provision ca rotate-root, see "
                         "docs/certificates.md)")
    pki.stage_root(tmp_path, permitted=LAB, now=late)
    assert not any("rotate it" in n for n in pki.ensure_ca(tmp_path, permitted=LAB, now=late).notes)


def test_load_ca_creates_nothing(tmp_path):
    with pytest.raises(pki.PkiError, match="no private CA in"):
        pki.load_ca(tmp_path, now=NOW)
    assert not (tmp_path / "ca").exists()


def test_the_plan_says_what_it_would_do_to_the_ca_and_the_leaf_the_apply_what_it_did(
        tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    data = {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki")}
    files = controller_files.Staged()
    assert plan_tabpy_server(FQDN, data, now=NOW, files=files).tls.notes == ()
    assert files.changes() == [f"create a new private CA in {tmp_path}/pki/ca",
                               f"issue a certificate for {FQDN} (new)"]
    assert files.apply() == [f"created a new private CA in {tmp_path}/pki/ca",
                             f"issued a certificate for {FQDN} (new)"]
    pki.rotate_intermediate(tmp_path / "pki", permitted=LAB, now=NOW)
    files = controller_files.Staged()
    assert plan_tabpy_server(FQDN, data, now=NOW, files=files).tls.notes == ()
    assert files.changes() == [
        f"issue a certificate for {FQDN} (issued by a different intermediate CA)"]


# ---- moving a CA made before name constraints to a constrained one -------------------------

UNCONSTRAINED = ("has no name constraints: whoever copies it can issue certificates its "
                 "clients trust for any site; move to a constrained root: tabpy-provision ca "
                 "rotate-root, deploy, ca activate-root, deploy, ca retire-root, deploy "
                 "(docs/certificates.md)")


def test_an_unconstrained_ca_moves_to_a_constrained_one_with_no_failed_request(tmp_path):
    """The root rotation, as deploys apply it: the servers' leaves and the clients' trust
    stores at every step (a deploy rolls the servers first, then the clients), and what the
    CA's keys can vouch for before and after."""
    write_legacy_ca(tmp_path, NOW)
    ca = pki.ensure_ca(tmp_path, permitted=LAB, now=NOW)
    assert pki.of_certificate(ca.root_cert) is None
    assert [note for note in ca.notes if UNCONSTRAINED in note] == [
        f"the private CA in {tmp_path / 'ca'} {UNCONSTRAINED}"]
    hosts = (FQDN, "tabpy2.lab.test")
    served = {host: pki.ensure_leaf(ca, tmp_path, host, now=NOW) for host in hosts}
    clients = roots(ca)
    forged = pki.ensure_leaf(ca, tmp_path / "x", "www.google.com", now=NOW)
    assert verifies(forged, clients, "www.google.com")  # what issue 26 saw

    def no_failed_request(step: str) -> None:
        for host, leaf in served.items():
            assert verifies(leaf, clients, host), f"{step}: {host}"

    # 1. rotate-root stages a constrained root; deploy: servers unchanged, clients trust both.
    staged = pki.stage_root(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    new_root = next(c.cert for c in staged.registry if c.state == "next" and c.role == "root")
    assert pki.of_certificate(new_root) == LAB
    assert not any(UNCONSTRAINED in note for note in staged.notes)  # the move is under way
    for host in hosts:
        assert not pki.ensure_leaf(staged, tmp_path, host, now=NOW).reissued
    clients = roots(staged)
    no_failed_request("staged")

    # 2. activate-root; deploy: each server gets a leaf from the constrained intermediate, one
    # after another, while clients still trust both roots; then the clients' stores.
    active = pki.activate_root(tmp_path, now=NOW)
    assert pki.of_certificate(active.intermediate_cert) == LAB
    for host in hosts:
        served[host] = pki.ensure_leaf(active, tmp_path, host, now=NOW)
        assert served[host].reissued
        no_failed_request(f"{host} moved")
    clients = roots(active)
    assert len(clients) == 2
    no_failed_request("activated")

    # 3. retire-root; deploy: the clients drop the old root.
    pki.retire_previous_roots(tmp_path, now=NOW)
    after = pki.load_ca(tmp_path, now=NOW)
    clients = roots(after)
    assert clients == [new_root]
    no_failed_request("retired")
    assert after.notes == ()
    # What a copy of pki_dir vouches for now: the old intermediate's leaves are not trusted,
    # and the new keys sign nothing a client accepts outside lab.test.
    assert not verifies(forged, clients, "www.google.com")
    assert not verifies(pki.ensure_leaf(after, tmp_path / "y", "www.google.com", now=NOW),
                        clients, "www.google.com")


def test_rotate_intermediate_under_an_unconstrained_root_constrains_the_intermediate(tmp_path):
    """A first step when the root cannot be rotated yet: the intermediate is constrained at
    once (verifiers that ignore a root's constraints, Java, hold to it); the root is not, and
    the note stays."""
    write_legacy_ca(tmp_path, NOW)
    rotated = pki.rotate_intermediate(tmp_path, permitted=LAB, now=NOW)
    assert pki.of_certificate(rotated.intermediate_cert) == LAB
    assert any(UNCONSTRAINED in note for note in rotated.notes)
    leaf = pki.ensure_leaf(rotated, tmp_path, "www.google.com", now=NOW)
    assert not verifies(leaf, roots(rotated), "www.google.com")


def test_the_plan_says_how_to_move_on_every_run_until_it_is_done(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    write_legacy_ca(tmp_path / "pki", NOW)
    data = {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki")}
    for _ in range(2):
        notes = planned(FQDN, data, now=NOW).tls.notes
        assert [n for n in notes if UNCONSTRAINED in n] == [
            f"the private CA in {tmp_path / 'pki' / 'ca'} {UNCONSTRAINED}"]


def test_a_ca_made_under_the_old_default_name_stays_as_it_is(tmp_path, monkeypatch):
    """The default name carries the environment since; it names new CAs only, so a CA made
    before is loaded as it is: nothing to write but the new leaf, nothing to say."""
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    old = pki.ensure_ca(tmp_path / "pki", permitted=LAB, common_name="tabpy-provision", now=NOW)
    data = {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki"),
            "environment": "production"}
    files = controller_files.Staged()
    plan = plan_tabpy_server(FQDN, data, now=NOW, files=files)
    assert files.changes() == [f"issue a certificate for {FQDN} (new)"]
    assert plan.tls.notes == () and plan.tls.ca_pem == old.trusted_roots_pem
    _, intermediate = x509.load_pem_x509_certificates(plan.tls.chain_pem)
    assert pki.subject_cn(intermediate) == "tabpy-provision Intermediate CA"

    fresh = plan_tabpy_server(FQDN, {**data, "pki_dir": str(tmp_path / "new")}, now=NOW)
    assert [pki.subject_cn(ca.cert) for ca in fresh.tls.cas] == [
        "tabpy-provision production Root CA", "tabpy-provision production Intermediate CA"]

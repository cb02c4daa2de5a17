from datetime import UTC, datetime

from tabpy_provision import pki
from tabpy_provision.controller import identity

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = pki.permitted_for(["tabpy1.example.com"])


def served_by(tmp_path, name):
    ca = pki.ensure_ca(tmp_path / name, permitted=NAMES, now=NOW)
    leaf = pki.ensure_leaf(ca, tmp_path / name, "tabpy1.example.com", now=NOW)
    return ca, leaf.chain_pem.decode()


def test_a_certificate_from_the_controllers_ca_is_ours(tmp_path):
    ca, served = served_by(tmp_path, "ours")
    assert identity.foreign_certificate("h", served, ca.registry, "pki", False) is None
    assert identity.foreign_certificate("h", None, ca.registry, "pki", False) is None


def test_a_certificate_from_an_intermediate_since_rotated_is_still_ours(tmp_path):
    _, served = served_by(tmp_path, "ours")
    rotated = pki.rotate_intermediate(tmp_path / "ours", permitted=NAMES, now=NOW)
    assert identity.foreign_certificate("h", served, rotated.registry, "pki", False) is None


def test_a_certificate_from_another_ca_is_refused_naming_host_and_remedy(tmp_path):
    _, served = served_by(tmp_path, "theirs")
    ours, _ = served_by(tmp_path, "ours")
    problem = identity.foreign_certificate("tabpy1", served, ours.registry, "pki/lab", True)
    assert problem.startswith("tabpy1: pki_dir: the host serves a certificate issued by "
                              "'tabpy-provision Intermediate CA', but pki/lab holds no CA: ")
    assert "tabpy-provision state restore" in problem and "--new-identity" in problem
    other = identity.foreign_certificate("tabpy1", served, ours.registry, "pki/lab", False)
    assert "the CA in pki/lab did not issue it" in other


def test_a_company_certificate_is_not_an_identity_of_ours(tmp_path):
    from tests.company_ca import CompanyCa

    company = CompanyCa("Company")
    leaf, _ = company.leaf("tabpy1.example.com")
    served = (pki.to_pem(leaf) + pki.to_pem(company.inter)).decode()
    ours, _ = served_by(tmp_path, "ours")
    assert identity.foreign_certificate("h", served, ours.registry, "pki", True) is None


def test_generated_users_the_host_has_but_the_controller_lacks():
    assert identity.missing_passwords("h", {"alice", "bob"}, ["alice", "carol"], "secrets") == [
        "h: tabpy_users.alice (generate): the host already has this user, but secrets holds no "
        f"password for it: {identity.RESTORE_HINT}"]
    assert identity.missing_passwords("h", {"alice"}, [], "secrets") == []


def test_new_identity_is_asked_for_explicitly():
    assert identity.wants_new_identity({"new_identity": "true"})
    assert identity.wants_new_identity({"new_identity": True})
    assert not identity.wants_new_identity({})
    assert not identity.wants_new_identity({"new_identity": "no"})

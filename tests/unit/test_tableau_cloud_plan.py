"""Tableau Cloud's side, the pure parts (tableau/cloud.py): a Cloud entry's checks, its REST
target (one token per site, no server level), and the refusal of a TabPy chain Tableau Cloud
would not trust. The REST calls run against the stand-in in the lab (test_tableau_cloud.py)."""

from __future__ import annotations

import pytest

from tabpy_provision import pki
from tabpy_provision.pki import acme
from tabpy_provision.server.certificate import Tls
from tabpy_provision.server.plan import TabpyServerPlan
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.table import SettingsError
from tabpy_provision.settings.value_checks import cloud_sites
from tabpy_provision.settings.values import CloudSettings
from tabpy_provision.tableau import cloud
from tabpy_provision.tableau.connection import Connection
from tests.company_ca import CompanyCa

CLOUD_HOST = "@local"
TABPY = "tabpy.example.com"
SITES = {"finance": {"token_name": "deploy-finance", "token_secret": "env:CLOUD_TOKEN"},
         "marketing": {"token_name": "deploy-marketing", "token_secret": "env:CLOUD_TOKEN"}}


def tabpy(**data) -> TabpyServerPlan:
    values = settings.with_defaults({"tabpy_users": {"tableau": "env:TABLEAU"}, **data})
    return TabpyServerPlan(host=TABPY, fqdn=TABPY, connect_address="192.0.2.10", values=values,
                           tls=None, password_file=None, health_user=None,
                           passwords={"tableau": "pw-1"})


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("CLOUD_TOKEN", "token-Secret-1")


def plan(servers=None, **data):
    return cloud.plan_tableau_cloud(CLOUD_HOST, {
        "tableau_cloud_url": "https://10ay.online.tableau.com", "tableau_cloud_sites": SITES,
        "tableau_tabpy_host": TABPY, "tableau_tabpy_user": "tableau", **data},
        servers or [tabpy()])


def problems(servers=None, **data) -> list[str]:
    with pytest.raises(SettingsError) as error:
        plan(servers, **data)
    return error.value.problems


def test_each_site_signs_in_with_its_own_token_and_there_is_no_server_level():
    planned = plan()
    target = planned.rest
    assert planned.mechanism == cloud.CLOUD and planned.tsm is None
    assert target.cloud and target.sites == ("finance", "marketing")
    assert target.signing_in_to("marketing").token_name == "deploy-marketing"
    assert target.signing_in_to("marketing").token_site == "marketing"
    assert (target.fqdn, target.port) == ("10ay.online.tableau.com", 443)
    assert planned.connection.url == f"https://{TABPY}:9004"
    assert planned.summary == "Tableau Cloud https://10ay.online.tableau.com"
    assert "token-Secret-1" not in repr(planned)


@pytest.mark.parametrize(("change", "expected"), [
    ({"tableau_cloud_url": None}, "@local: tableau_cloud_url: required for Tableau Cloud"),
    ({"tableau_cloud_sites": {}}, "@local: tableau_cloud_sites: required"),
    ({"tableau_tabpy_ssl": False}, "@local: tableau_tabpy_ssl: Tableau Cloud connects to TabPy "
     "only over SSL"),
    ({"tableau_cloud_sites": {"finance": {"token_name": "t", "token_secret": "env:NOT_SET"}}},
     "@local: tableau_cloud_sites.finance.token_secret (env:NOT_SET): environment variable"),
    ({"tableau_cloud_sites": {"": SITES["finance"]}}, "@local: tableau_cloud_sites: '': a "
     "Tableau Cloud site has a contentUrl"),
])
def test_a_cloud_entry_that_cannot_work_is_one_line_each(change, expected):
    found = problems(**change)
    assert any(line.startswith(expected) for line in found), found


def test_cloud_requires_authentication():
    found = problems([tabpy(tabpy_auth_enabled=False, tabpy_allow_no_auth=True)],
                     tableau_tabpy_user=None)
    assert any(line.startswith("@local: tableau_tabpy_user: Tableau Cloud requires "
                               "authentication") for line in found), found


def test_server_only_settings_are_said_to_be_ignored():
    assert plan(tableau_rest_sites=["x"]).ignored == ("tableau_rest_sites (Tableau Server only)",)


@pytest.mark.parametrize("value", [
    [], {"s": {"token_name": "t"}}, {"s": {"token_name": "t", "token_secret": "generate"}},
    {"s": {"token_name": "", "token_secret": "env:X"}}, {"bad site": SITES["finance"]},
    {"s": {"token_name": "t", "token_secret": "env:X", "extra": 1}}])
def test_bad_site_lists_are_refused(value):
    assert cloud_sites(value) is not None


@pytest.fixture(scope="module")
def public_ca():
    return CompanyCa("Public test")


def served(ca: CompanyCa) -> Tls:
    leaf, _ = ca.leaf(TABPY)
    return Tls(pki.to_pem(leaf) + pki.to_pem(ca.inter), b"", None, "test")


CONNECTION = Connection(TABPY, 9004, True, "tableau", "pw-1", None, "TabPy", (TABPY,))


def test_a_chain_from_the_public_roots_passes(public_ca):
    assert cloud.chain_refusal(CLOUD_HOST, CONNECTION, [served(public_ca)], [public_ca.root],
                               "test roots") is None


def test_a_private_chain_is_refused_naming_why_cloud_would_refuse_it(public_ca):
    private = CompanyCa("tabpy-provision")
    refusal = cloud.chain_refusal(CLOUD_HOST, CONNECTION, [served(public_ca), served(private)],
                                  [public_ca.root], "the controller's OS trust store")
    assert refusal.startswith("@local: tableau_tabpy_host: Tableau Cloud would refuse "
                              f"{TABPY}: its chain (issued by 'tabpy-provision Issuing CA') "
                              "does not chain to the trusted root(s)"), refusal
    assert "the controller's OS trust store" in refusal and "acme_directory_url" in refusal


def test_a_certificate_not_ordered_yet_is_checked_once_ordered(public_ca):
    pending = Tls(acme.PENDING_PEM, acme.PENDING_PEM, None, "pending", acme_order=object())
    assert cloud.chain_refusal(CLOUD_HOST, CONNECTION, [pending], [public_ca.root],
                               "roots") is None


def test_the_controllers_public_roots_are_its_os_trust_store():
    roots, where = cloud.public_roots(CloudSettings())
    assert len(roots) > 50 and where.startswith("/")

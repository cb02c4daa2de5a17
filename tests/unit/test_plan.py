"""Validation before any host is touched: each bad input gives one line naming host and field."""

from datetime import UTC, datetime, timedelta

import pytest

from tabpy_provision import pki
from tabpy_provision.settings.table import SettingsError
from tests.unit.planning import planned

HOST = "tabpy1.example.com"
NAMES = pki.permitted_for([HOST])


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    return {
        "tabpy_users": {"tableau": "env:TABPY_TEST_PW"},
        "pki_dir": str(tmp_path / "pki"),
        "secrets_dir": str(tmp_path / "secrets"),
    }


def problems_of(data):
    with pytest.raises(SettingsError) as error:
        planned(HOST, data)
    return error.value.problems


def test_good_inputs_make_a_plan(base):
    plan = planned(HOST, {**base, "ssh_hostname": "192.0.2.1"})
    assert plan.fqdn == HOST
    assert plan.connect_address == "192.0.2.1"
    assert plan.health_user == "tableau"
    assert plan.tls.chain_pem.count(b"BEGIN CERTIFICATE") == 2
    assert b"tableau " in plan.password_file
    assert b"good-password" not in plan.password_file
    assert "good-password" not in repr(plan)


@pytest.mark.parametrize(("override", "expected"), [
    ({"tabpy_port": 0}, f"{HOST}: tabpy_port: must be an integer from 1 to 65535, got 0"),
    ({"tabpy_port": 65536}, f"{HOST}: tabpy_port: must be an integer from 1 to 65535"),
    ({"tabpy_transfer_protocol": "tls"}, f"{HOST}: tabpy_transfer_protocol: must be one of"),
    ({"tabpy_users": {"ta bleau": "env:TABPY_TEST_PW"}},
     f"{HOST}: tabpy_users: user name 'ta bleau': use 1 to 64 letters"),
    ({"tabpy_users": {"ta:bleau": "env:TABPY_TEST_PW"}},
     f"{HOST}: tabpy_users: user name 'ta:bleau': use 1 to 64 letters"),
    ({"tabpy_users": {"Tableau": "env:TABPY_TEST_PW", "tableau": "env:TABPY_TEST_PW"}},
     f"{HOST}: tabpy_users: 'Tableau' and 'tableau' are the same user"),
    ({"tabpy_users": {"tableau": "env:TABPY_COLON_PW"}},
     f"{HOST}: tabpy_users.tableau (env:TABPY_COLON_PW): password contains ':'"),
    ({"tabpy_users": {"tableau": "env:TABPY_EMPTY_PW"}},
     f"{HOST}: tabpy_users.tableau (env:TABPY_EMPTY_PW): password is empty"),
    ({"tabpy_users": {}}, f"{HOST}: tabpy_users: authentication is on but no user is declared"),
    ({"tabpy_users": {"tableau": "hunter2"}},
     f"{HOST}: tabpy_users.tableau ((literal)): plaintext secret refused"),
    ({"tabpy_auth_enabled": False}, f"{HOST}: tabpy_auth_enabled: false needs "
                                    "tabpy_allow_no_auth"),
    ({"tabpy_health_check_user": "nobody"},
     f"{HOST}: tabpy_health_check_user: 'nobody' is not in tabpy_users"),
    ({"tabpy_oauth_enabled": True}, f"{HOST}: tabpy_oauth_issuer: required"),
    ({"tabpy_fqdn": "bad_name!"}, f"{HOST}: tabpy_fqdn: must be a DNS name"),
])
def test_bad_input_is_one_line_naming_host_and_field(base, monkeypatch, override, expected):
    monkeypatch.setenv("TABPY_COLON_PW", "pa:ss")
    monkeypatch.setenv("TABPY_EMPTY_PW", "")
    problems = problems_of({**base, **override})
    assert any(p.startswith(expected) for p in problems), problems
    assert all("\n" not in p and p.startswith(f"{HOST}: ") for p in problems)
    assert not any("pa:ss" in p for p in problems)


def test_arrow_flights_port_is_a_port_of_the_fence_only_when_it_is_on(base):
    assert planned(HOST, base).arrow_port is None
    assert planned(HOST, {**base, "tabpy_arrowflight_port": 13700}).arrow_port is None
    assert planned(HOST, {**base, "tabpy_arrow_enable": True,
                          "tabpy_arrowflight_port": 13700}).arrow_port == 13700


def test_all_problems_reported_at_once(base):
    problems = problems_of({**base, "tabpy_port": -1, "tabpy_log_level": "LOUD"})
    assert len(problems) == 2


# --- supplied certificates -------------------------------------------------------------------

@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    directory = tmp_path_factory.mktemp("company-pki")
    return directory, pki.ensure_ca(directory, permitted=NAMES, common_name="Company")


def supplied(tmp_path, leaf, key_pem=None):
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(leaf.chain_pem)
    key.write_bytes(key_pem or leaf.key_pem)
    return {"tabpy_certificate_file": str(chain), "tabpy_key_file": str(key)}


def test_supplied_certificate_accepted(base, tmp_path, other_ca):
    directory, ca = other_ca
    leaf = pki.ensure_leaf(ca, directory, HOST)
    plan = planned(HOST, {**base, **supplied(tmp_path, leaf)})
    assert plan.tls.chain_pem == leaf.chain_pem
    assert plan.tls.ca_pem is None


def test_certificate_missing(base, tmp_path):
    problems = problems_of({**base, "tabpy_certificate_file": str(tmp_path / "nope.pem"),
                            "tabpy_key_file": str(tmp_path / "nope.key")})
    assert problems[0].startswith(f"{HOST}: tabpy_certificate_file: {tmp_path}/nope.pem: "
                                  "No such file")
    assert problems[1].startswith(f"{HOST}: tabpy_key_file: {tmp_path}/nope.key: No such file")


def test_key_without_certificate(base, tmp_path):
    problems = problems_of({**base, "tabpy_key_file": str(tmp_path / "k.pem")})
    assert problems == [f"{HOST}: tabpy_key_file: tabpy_certificate_file and tabpy_key_file "
                        "go together"]


def test_key_not_matching(base, tmp_path, other_ca):
    directory, ca = other_ca
    leaf = pki.ensure_leaf(ca, directory, HOST)
    stranger = pki.ensure_leaf(ca, directory, "other.example.com")
    problems = problems_of({**base, **supplied(tmp_path, leaf, stranger.key_pem)})
    assert problems == [f"{HOST}: tabpy_key_file: {tmp_path}/key.pem: does not match the "
                        "certificate"]


def test_san_not_covering_fqdn(base, tmp_path, other_ca):
    directory, ca = other_ca
    leaf = pki.ensure_leaf(ca, directory, "elsewhere.example.com")
    problems = problems_of({**base, **supplied(tmp_path, leaf)})
    assert any(p.startswith(f"{HOST}: tabpy_certificate_file:") and "do not cover" in p
               and HOST in p.split(":", 2)[2] for p in problems), problems


def test_certificate_expired(base, tmp_path, other_ca):
    directory, ca = other_ca
    past = datetime.now(UTC) - timedelta(days=400)
    leaf = pki.ensure_leaf(ca, tmp_path / "old", HOST, days=30, renew_before_days=5, now=past)
    problems = problems_of({**base, **supplied(tmp_path, leaf)})
    assert any("expired on" in p for p in problems), problems


def test_rotation_uses_pending_passwords_of_generated_users_only(base, tmp_path):
    data = {**base, "tabpy_users": {"tableau": "env:TABPY_TEST_PW", "Gen": "generate"}}
    current = planned(HOST, data)
    rotating = planned(HOST, data, rotate=frozenset())
    assert rotating.rotating == {"gen"}
    assert rotating.password_file != current.password_file
    assert any("rotating to the new password" in n for n in rotating.notes)
    assert planned(HOST, data).password_file == current.password_file  # still pending
    problems = problems_of_rotation(data, {"tableau", "ghost"})
    assert problems == [
        f"{HOST}: rotate_users: 'ghost' is not in tabpy_users",
        f"{HOST}: rotate_users: 'tableau' comes from env:TABPY_TEST_PW: change it there and "
        "redeploy (only generated passwords rotate here)",
    ]


def problems_of_rotation(data, users):
    with pytest.raises(SettingsError) as error:
        planned(HOST, data, rotate=frozenset(users))
    return error.value.problems


def test_an_inventory_name_that_would_leave_its_folder_is_refused(base):
    with pytest.raises(SettingsError) as error:
        planned("../../etc", {**base, "tabpy_fqdn": "tabpy1.example.com"})
    problems = error.value.problems
    assert problems == ["../../etc: inventory name: must be a DNS name or an IPv4 address (it "
                        "names folders on the controller)"]


def test_a_user_key_that_is_not_a_string_is_one_line(base):
    assert problems_of({**base, "tabpy_users": {1: "generate"}}) == [
        f"{HOST}: tabpy_users: user name must be a non-empty string"]

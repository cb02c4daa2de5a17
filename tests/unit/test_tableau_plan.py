"""Tableau Server's side, the pure parts: version -> mechanism, the plan and its checks, tsm
commands and output, the record of given passwords, the REST API's bodies and differences."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tabpy_provision import tableau
from tabpy_provision.server.plan import TabpyServerPlan
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.table import SettingsError
from tabpy_provision.tableau import rest as tableau_rest
from tabpy_provision.tableau.rest import Change, RemoteConnection, RestState, SiteState

NODE = "tableau1.example.com"
TSM_2019 = "/opt/tableau/tableau_server/packages/customer-bin.20194.19.1105.1444/tsm"
TSM_2018 = "/opt/tableau/tableau_server/packages/customer-bin.20183.18.1128.2033/tsm"
TSM_2021 = "/opt/tableau/tableau_server/packages/customer-bin.20214.21.1217.2252/tsm"


def tabpy(host: str, passwords: dict[str, str] | None = None, **data) -> TabpyServerPlan:
    passwords = {"tableau": "pw-1"} if passwords is None else passwords
    values = settings.with_defaults({"tabpy_users": {u: f"env:{u.upper()}" for u in passwords},
                                     **data})
    return TabpyServerPlan(host=host, fqdn=host, connect_address=host, values=values, tls=None,
                           password_file=None, health_user=None, passwords=passwords)


SERVERS = [tabpy("tabpy1.example.com"), tabpy("tabpy2.example.com")]
TSM_LOGIN = {"tableau_tsm_login_user": "tabadmin",
             "tableau_tsm_login_password": "env:TABLEAU_TSM_PW"}


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("TABLEAU_TSM_PW", "tsm-Secret-1")
    monkeypatch.setenv("TABLEAU_TOKEN", "token-Secret-1")


def plan(programs=(TSM_2019,), servers=SERVERS, **data) -> tableau.TableauPlan:
    return tableau.plan_tableau_server(NODE, {"tableau_tabpy_host": "tabpy1.example.com",
                                              "tableau_tabpy_user": "tableau", **TSM_LOGIN,
                                              **data}, servers, list(programs))


def problems(programs=(TSM_2019,), servers=SERVERS, **data) -> list[str]:
    with pytest.raises(SettingsError) as error:
        plan(programs, servers, **data)
    return error.value.problems


# --- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "expected"), [
    ("2018.2", tableau.TSM_CONFIGURATION), ("2018.3.7", tableau.TSM_CONFIGURATION),
    ("2019.1", tableau.TSM_EXTSVC_SSL), ("2020.1", tableau.TSM_EXTSVC_SSL),
    ("2020.2", tableau.REST), ("2024.2.1", tableau.REST)])
def test_version_picks_the_mechanism(version, expected):
    assert tableau.mechanism(tableau.parse_version(version)) == expected


def test_tabadmin_versions_are_not_supported():
    with pytest.raises(ValueError, match="2018.1 is configured with tabadmin"):
        tableau.mechanism((2018, 1))


def test_tsm_version_from_its_folder_and_the_newest_wins():
    assert tableau.tsm_version(TSM_2019) == (2019, 4)
    assert tableau.tsm_version("/usr/local/bin/tsm") is None
    assert tableau.pick_tsm([TSM_2018, TSM_2019, "/usr/local/bin/tsm"]) == (TSM_2019, (2019, 4))
    assert tableau.pick_tsm(["/usr/local/bin/tsm"]) == ("/usr/local/bin/tsm", None)
    assert tableau.pick_tsm([]) is None


# --- the plan --------------------------------------------------------------------------------


def test_a_tsm_plan_takes_the_tabpy_users_password():
    made = plan()
    assert (made.version, made.mechanism) == ((2019, 4), tableau.TSM_EXTSVC_SSL)
    assert made.connection == tableau.Connection("tabpy1.example.com", 9004, True, "tableau",
                                                 "pw-1", None, "TabPy", ("tabpy1.example.com",))
    assert made.tsm == tableau.Tsm(TSM_2019, (2019, 4), None, "tabadmin", "tsm-Secret-1")
    assert "pw-1" not in repr(made) and "tsm-Secret-1" not in repr(made)


def test_no_endpoint_means_trust_only():
    made = tableau.plan_tableau_server(NODE, {}, SERVERS, [])
    assert (made.connection, made.mechanism, made.tsm) == (None, None, None)


def test_endpoint_by_alias_or_balancer_name():
    aliased = [tabpy("tabpy1.example.com", tabpy_cert_dns_aliases=["tabpy.example.com"]),
               tabpy("tabpy2.example.com", {"tableau": "pw-2"})]
    by_alias = plan(servers=aliased, tableau_tabpy_host="tabpy.example.com").connection
    assert (by_alias.password, by_alias.servers) == ("pw-1", ("tabpy1.example.com",))
    aliased[1] = tabpy("tabpy2.example.com")
    balanced = plan(servers=aliased, tableau_tabpy_host="balancer.example.com").connection
    assert balanced.servers == ("tabpy1.example.com", "tabpy2.example.com")
    aliased[1] = tabpy("tabpy2.example.com", {"tableau": "pw-2"})
    assert problems(servers=aliased, tableau_tabpy_host="balancer.example.com") == [
        f"{NODE}: tableau_tabpy_user: 'tableau' has different passwords on tabpy1.example.com, "
        "tabpy2.example.com (env:TABLEAU); Tableau holds one: give them the same secret "
        "reference"]


def test_a_pool_service_name_gives_the_pool_port_and_its_backends():
    servers = [*SERVERS, tabpy("tabpy3.example.com", tabpy_port=9010)]
    connection = tableau.plan_tableau_server(
        NODE, {"tableau_tabpy_host": "TabPy.example.com", "tableau_tabpy_user": "tableau",
               **TSM_LOGIN}, servers, [TSM_2019],
        pools={"tabpy.example.com": (8443, frozenset({"tabpy1.example.com",
                                                      "tabpy2.example.com"}))}).connection
    assert (connection.host, connection.port) == ("tabpy.example.com", 8443)
    assert connection.servers == ("tabpy1.example.com", "tabpy2.example.com")


@pytest.mark.parametrize(("data", "servers", "expected"), [
    ({"tableau_tabpy_user": None}, SERVERS,
     "tableau_tabpy_user: required: TabPy on tabpy1.example.com uses authentication"),
    ({"tableau_tabpy_user": "nobody"}, SERVERS,
     "tableau_tabpy_user: 'nobody' is not in tabpy_users of tabpy1.example.com"),
    ({"tableau_tabpy_ssl": False}, SERVERS,
     "tableau_tabpy_ssl: false is not supported with tsm security vizql-extsvc-ssl"),
    ({}, [tabpy("tabpy1.example.com", tabpy_transfer_protocol="http")],
     "tableau_tabpy_ssl: true, but TabPy on tabpy1.example.com serves http"),
    ({"tableau_tabpy_host": "balancer.example.com"},
     [tabpy("tabpy1.example.com"), tabpy("tabpy2.example.com", tabpy_port=9005)],
     "tableau_tabpy_port: TabPy on tabpy1.example.com, tabpy2.example.com listens on ports "
     "9004, 9005: set it"),
    ({"tableau_tabpy_user": "tableau"}, [tabpy("tabpy1.example.com", {},
                                               tabpy_auth_enabled=False)],
     "tableau_tabpy_user: TabPy on tabpy1.example.com has no authentication; leave it unset"),
    ({}, [], "tableau_tabpy_host: the inventory has no TabPy server"),
])
def test_connection_must_match_the_tabpy_servers(data, servers, expected):
    assert any(p.startswith(f"{NODE}: {expected}") for p in problems(servers=servers, **data)), \
        problems(servers=servers, **data)


def test_version_checks():
    assert problems(programs=(), tableau_version="2018.1") == [
        f"{NODE}: tableau_version: Tableau Server 2018.1 is configured with tabadmin, without "
        "TLS: not supported (2018.2 or later is)"]
    assert problems(tableau_version="2020.1") == [
        f"{NODE}: tableau_version: 2020.1 declared, but the tsm on the host is 2019.4 "
        f"({TSM_2019})"]
    assert problems(programs=()) == [
        f"{NODE}: tableau_version: not set, and no tsm found on the host "
        f"({tableau.TSM_GLOB} or PATH): set it"]
    assert problems(programs=(), tableau_version="2019.4") == [
        f"{NODE}: tsm: not found on the host ({tableau.TSM_GLOB} or PATH); tsm security "
        "vizql-extsvc-ssl needs it"]
    assert problems(tableau_version="2019.4.1", tableau_tabpy_port=70000)[0].startswith(
        f"{NODE}: tableau_tabpy_port: must be an integer from 1 to 65535")
    assert problems(tableau_version=2019.4) == [
        f"{NODE}: tableau_version: must be a Tableau Server version like 2019.4 or 2021.1 (a "
        "string), got 2019.4"]


def test_2018_connects_only_without_tls_and_credentials():
    assert problems(programs=(TSM_2018,))[0].startswith(
        f"{NODE}: tableau_tabpy_ssl: Tableau Server 2018.3 (tsm configuration: keys host and "
        "port only) connects without TLS or credentials")
    insecure = [tabpy("tabpy1.example.com", {}, tabpy_transfer_protocol="http",
                      tabpy_auth_enabled=False, tabpy_allow_no_auth=True)]
    made = plan(programs=(TSM_2018,), servers=insecure, tableau_tabpy_ssl=False,
                tableau_tabpy_user=None)
    assert made.mechanism == tableau.TSM_CONFIGURATION
    assert made.connection.url == "http://tabpy1.example.com:9004"


@pytest.mark.parametrize(("data", "expected"), [
    ({"tableau_tsm_login_user": None, "tableau_tsm_login_password": None},
     "tableau_tsm_run_as: tsm needs credentials: a member of the TSM-authorized group"),
    ({"tableau_tsm_run_as": "tabadmin"},
     "tableau_tsm_login_user: set tableau_tsm_run_as or tsm login credentials, not both"),
    ({"tableau_tsm_login_password": None},
     "tableau_tsm_login_password: required with tableau_tsm_login_user"),
    ({"tableau_tsm_login_password": "env:UNSET_TSM_PW"},
     "tableau_tsm_login_password (env:UNSET_TSM_PW): environment variable UNSET_TSM_PW is not "
     "set"),
    ({"tableau_tsm_login_password": "generate"},
     "tableau_tsm_login_password: a password cannot be generated; use env:, file:, cmd: or "
     "vault:"),
])
def test_tsm_credentials(data, expected):
    [found] = problems(**data)
    assert found.startswith(f"{NODE}: {expected}")


def test_restart_on_trust_change_needs_tsm_even_without_a_connection():
    made = tableau.plan_tableau_server(NODE, {"tableau_restart_on_trust_change": True,
                                              "tableau_tsm_run_as": "tabadmin"}, SERVERS,
                                       [TSM_2021])
    assert (made.connection, made.tsm.path, made.tsm.run_as) == (None, TSM_2021, "tabadmin")
    with pytest.raises(SettingsError, match="tableau_restart_on_trust_change needs it"):
        tableau.plan_tableau_server(NODE, {"tableau_restart_on_trust_change": True}, SERVERS,
                                    [])


REST = {"tableau_rest_token_name": "deploy", "tableau_rest_token_secret": "env:TABLEAU_TOKEN",
        "tableau_tsm_login_user": None, "tableau_tsm_login_password": None}


def test_a_rest_plan(tmp_path):
    made = plan(programs=(TSM_2021,), ssh_hostname="192.0.2.21", **REST,
                tableau_rest_sites=["", "finance"])
    assert (made.mechanism, made.tsm) == (tableau.REST, None)
    assert made.rest == tableau_rest.RestTarget(
        "https://tableau1.example.com", "tableau1.example.com", "192.0.2.21", 443, None,
        "deploy", "token-Secret-1", "", ("", "finance"), ())
    assert made.rest.ordered_sites == ["", "finance"]
    other = plan(programs=(), tableau_version="2021.1", ssh_hostname="192.0.2.21", **REST,
                 tableau_rest_url="https://tableau.example.com:8443/",
                 tableau_rest_token_site="finance", tableau_rest_sites=["", "finance"])
    assert (other.rest.fqdn, other.rest.address, other.rest.port) == (
        "tableau.example.com", "tableau.example.com", 8443)
    assert other.rest.ordered_sites == ["finance", ""]


def test_rest_inputs(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello\n")
    found = problems(programs=(TSM_2021,), **{**REST, "tableau_rest_token_name": None},
                     tableau_connect_timeout_ms=5000, tableau_rest_ca_file=str(not_pem),
                     tableau_rest_absent_connections=["TabPy"])
    assert found == [
        f"{NODE}: tableau_connect_timeout_ms: Tableau Server 2020.2+ connections (REST API) have "
        "no timeout field; leave it unset",
        f"{NODE}: tableau_rest_ca_file: {not_pem}: not PEM certificates",
        f"{NODE}: tableau_rest_token_name: required for the REST API (Tableau Server 2020.2+): a "
        "server administrator's personal access token",
        f"{NODE}: tableau_rest_absent_connections: holds 'TabPy', the connection to keep"]
    assert problems(programs=(TSM_2021,), **REST, tableau_rest_sites=[],
                    tableau_rest_url="http://x") == [
        f"{NODE}: tableau_rest_url: must be an https URL without a path, like "
        "https://tableau.example.com, got 'http://x'",
        f"{NODE}: tableau_rest_sites: must be a non-empty list of site contentUrls, got []"]


# --- tsm -----------------------------------------------------------------------------------


def test_commands_never_hold_a_secret():
    made = plan()
    read = tableau.read_command(made)
    assert "tsm-Secret-1" not in read and "pw-1" not in read
    assert read.startswith(f'IFS= read -r secret && {TSM_2019} login -u tabadmin -p "$secret" '
                           ">/dev/null && unset secret && echo '### pending' && ")
    assert f"{TSM_2019} security vizql-extsvc-ssl list" in read
    login = tableau.login_command(made.tsm)
    assert login == f'IFS= read -r secret && exec {TSM_2019} login -u tabadmin -p "$secret"'
    [(enable, secret)] = tableau.set_commands(made, tableau.TsmState({}, {}), ["password"])
    assert secret == "pw-1" and "pw-1" not in enable
    assert enable == (f"IFS= read -r secret && exec {TSM_2019} security vizql-extsvc-ssl "
                      "enable --connection-type tabpy --extsvc-host tabpy1.example.com "
                      '--extsvc-port 9004 --extsvc-username tableau --extsvc-password "$secret"')


def test_run_as_a_tsm_authorized_user():
    made = plan(tableau_tsm_run_as="tabadmin", tableau_tsm_login_user=None,
                tableau_tsm_login_password=None)
    assert tableau.tsm_command(made.tsm, "restart") == f"runuser -u tabadmin -- {TSM_2019} " \
                                                       "restart"
    assert "login" not in tableau.read_command(made)


def test_apply_only_when_tsm_lists_pending_changes(tmp_path):
    """The apply command run by sh against a fake tsm that logs its calls."""
    fake = tmp_path / "tsm"
    fake.write_text('#!/bin/sh\necho "$@" >> "$0.calls"\n'
                    '[ "$1 $2" = "pending-changes list" ] && printf "%b\\n" "$LISTED"\n'
                    'exit 0\n')
    fake.chmod(0o755)
    command = tableau.apply_command(tableau.Tsm(str(fake), None, None, None, None))
    for listed, applied in (("There are no pending changes.", False),
                            ("Pending configuration changes:\\n  a.b: 1", True)):
        subprocess.run(["sh", "-c", command], env={"LISTED": listed, "PATH": "/usr/bin:/bin"},
                       check=True)
        calls = (tmp_path / "tsm.calls").read_text().splitlines()
        assert calls == ["pending-changes list"] + (
            ["pending-changes apply --ignore-prompt"] if applied else []), listed
        (tmp_path / "tsm.calls").unlink()


def test_tsm_output_is_parsed():
    state = tableau.parse_read_output([
        "### pending", "Pending configuration changes:",
        "  vizqlserver.extsvc.host: tabpy2.example.com", "  gateway.timeout: 900",
        "### list", "Connection type: tabpy", "Host: tabpy1.example.com", "Port: 9004",
        "Username: tableau", "SSL enabled: true",
        f"### {tableau.TIMEOUT_KEY}", "5000"])
    assert state.pending == {"vizqlserver.extsvc.host": "tabpy2.example.com",
                             "gateway.timeout": "900"}
    assert state.current == {"connection_type": "tabpy", "host": "tabpy1.example.com",
                             "port": "9004", "username": "tableau", "ssl": "true",
                             tableau.TIMEOUT_KEY: "5000"}
    assert tableau.foreign_pending(state.pending) == ["gateway.timeout"]
    assert tableau.parse_pending(["There are no pending changes."]) == {}


def test_tsm_differences_and_what_closes_them():
    made = plan(tableau_connect_timeout_ms=5000)
    current = {"connection_type": "tabpy", "host": "tabpy1.example.com", "port": "9004",
               "username": "tableau", "ssl": "true", tableau.TIMEOUT_KEY: "5000"}
    given = {tableau.TSM_RECORD_KEY: tableau.verifier("tableau", "pw-1")}
    assert tableau.tsm_differences(made, tableau.TsmState({}, current), given) == []
    assert tableau.tsm_differences(made, tableau.TsmState({}, current), {}) == [
        "password: not set by this deploy yet"]
    changed = {**current, "port": "9005", tableau.TIMEOUT_KEY: "100"}
    differences = tableau.tsm_differences(made, tableau.TsmState({}, changed), {
        tableau.TSM_RECORD_KEY: tableau.verifier("tableau", "old")})
    assert differences == ["port: 9005 -> 9004", f"{tableau.TIMEOUT_KEY}: 100 -> 5000",
                           "password: changed"]
    commands = tableau.set_commands(made, tableau.TsmState({}, changed), differences)
    assert [secret for _, secret in commands] == ["pw-1", None]
    assert commands[1][0].endswith(f"configuration set -k {tableau.TIMEOUT_KEY} -v 5000")
    only_timeout = tableau.set_commands(made, tableau.TsmState({}, changed),
                                        [f"{tableau.TIMEOUT_KEY}: 100 -> 5000"])
    assert len(only_timeout) == 1 and "vizql-extsvc-ssl" not in only_timeout[0][0]


def test_2018_sets_keys():
    insecure = [tabpy("tabpy1.example.com", {}, tabpy_transfer_protocol="http",
                      tabpy_auth_enabled=False, tabpy_allow_no_auth=True)]
    made = plan(programs=(TSM_2018,), servers=insecure, tableau_tabpy_ssl=False,
                tableau_tabpy_user=None)
    assert f"configuration get -k {tableau.HOST_KEY}" in tableau.read_command(made)
    state = tableau.TsmState({}, {tableau.HOST_KEY: "tabpy1.example.com", tableau.PORT_KEY: ""})
    differences = tableau.tsm_differences(made, state, {})
    assert differences == [f"{tableau.PORT_KEY}: (unset) -> 9004"]
    [(command, secret)] = tableau.set_commands(made, state, differences)
    assert secret is None
    assert command.endswith(f"{TSM_2018} configuration set -k {tableau.PORT_KEY} -v 9004")


# --- the record --------------------------------------------------------------------------------


def test_verifier_tells_without_keeping_the_password():
    value = tableau.verifier("tableau", "pw-1")
    assert "pw-1" not in value and value != tableau.verifier("tableau", "pw-1")  # salted
    assert tableau.verifier_matches(value, "tableau", "pw-1")
    assert not tableau.verifier_matches(value, "tableau", "pw-2")
    assert not tableau.verifier_matches(value, "other", "pw-1")
    assert not tableau.verifier_matches(None, "tableau", "pw-1")
    assert not tableau.verifier_matches("garbage", "tableau", "pw-1")


def test_record_round_trip_and_rest_update():
    made = plan(programs=(TSM_2021,), **REST, tableau_rest_sites=["", "finance"])
    old = {"tsm": "x", tableau.rest_record_key("gone", "TabPy"): "y",
           tableau.rest_record_key("finance", "TabPy"): "z"}
    assert tableau.parse_record(tableau.render_record(old).decode().splitlines()) == old
    assert tableau.parse_record(None) == {} and tableau.parse_record(["{oops"]) == {}
    updated = tableau.rest_record(old, made, {""})
    assert set(updated) == {"tsm", tableau.rest_record_key("", "TabPy"),
                            tableau.rest_record_key("finance", "TabPy")}
    assert updated[tableau.rest_record_key("finance", "TabPy")] == "z"
    assert tableau.verifier_matches(updated[tableau.rest_record_key("", "TabPy")], "tableau",
                                    "pw-1")


# --- REST API ----------------------------------------------------------------------------------

CONNECTION = tableau.Connection("tabpy1.example.com", 9004, True, "tableau", "pw-1", None,
                                "TabPy")
TARGET = tableau_rest.RestTarget("https://tableau1.example.com", "tableau1.example.com",
                                 "192.0.2.21", 443, None, "deploy", "token", "",
                                 ("", "finance"), ("Old TabPy",))


def remote(name="TabPy", **fields) -> RemoteConnection:
    values = dict(luid=f"luid-{name}", name=name, type="TABPY", host="tabpy1.example.com",
                  port=9004, ssl=True, auth=True, username="tableau")
    return RemoteConnection(**{**values, **fields})


def test_connection_body_has_the_documented_fields():
    assert tableau_rest.connection_body(CONNECTION) == {
        "host": "tabpy1.example.com", "port": 9004, "is_ssl_enabled": True,
        "is_auth_enabled": True, "username": "tableau", "password": "pw-1",
        "connection_brief": {"connection_name": "TabPy", "connection_type": "TABPY"}}
    anonymous = tableau.Connection("tabpy1.example.com", 9004, False, None, None, None, "TabPy")
    assert tableau_rest.connection_body(anonymous) == {
        "host": "tabpy1.example.com", "port": 9004, "is_ssl_enabled": False,
        "is_auth_enabled": False,
        "connection_brief": {"connection_name": "TabPy", "connection_type": "TABPY"}}


def test_connection_differences():
    assert tableau_rest.connection_differences(remote(), CONNECTION, True) == []
    assert tableau_rest.connection_differences(remote(), CONNECTION, False) == ["password"]
    assert tableau_rest.connection_differences(
        remote(host="old.example.com", port=9005, ssl=False, type="RSERVE"), CONNECTION,
        True) == ["host 'old.example.com' -> 'tabpy1.example.com'", "port 9005 -> 9004",
                  "is_ssl_enabled False -> True", "connection_type 'RSERVE' -> 'TABPY'"]


def test_changes_put_only_what_differs():
    done = RestState(True, {"": SiteState(True, (remote(),)),
                            "finance": SiteState(True, (remote(),))})
    assert tableau_rest.changes(done, TARGET, CONNECTION, lambda site: True) == []
    fresh = RestState(False, {"": SiteState(False, ()),
                              "finance": SiteState(True, (remote(port=1),
                                                          remote("Old TabPy")))})
    planned = tableau_rest.changes(fresh, TARGET, CONNECTION, lambda site: site == "finance")
    assert [c.describe() for c in planned] == [
        "server: enable: analytics extensions",
        "the Default site: enable: analytics extensions",
        "the Default site: create: connection 'TabPy' to https://tabpy1.example.com:9004",
        "site 'finance': update: connection 'TabPy': port 1 -> 9004",
        "site 'finance': delete: connection 'Old TabPy'"]
    assert planned[3] == Change("finance", "update", planned[3].detail, "luid-TabPy")
    assert tableau_rest.saved_sites(planned) == {"", "finance"}
    rotated = tableau_rest.changes(done, TARGET, CONNECTION, lambda site: site == "")
    assert [c.describe() for c in rotated] == ["site 'finance': update: connection 'TabPy': "
                                               "password"]


# --- Tableau's Test Connection, as run on a node ------------------------------------------------


def test_remote_check_runs_verify_from_stdin():
    """The bootstrap with this Python: stdin carries verify.py and the arguments; a refused
    connection is reported, not raised. Nothing secret on the command line."""
    connection = tableau.Connection("127.0.0.1", 1, True, "tableau", "pw-1", 2000, "TabPy")
    command = tableau.remote_check_command()
    assert "pw-1" not in command
    payload = tableau.remote_check_input(connection)
    assert json.loads(payload)["args"]["credentials"] == ["tableau", "pw-1"]
    done = subprocess.run(["sh", "-c", command.replace("python3", sys.executable, 1)],
                          input=payload + "\n", capture_output=True, text=True, timeout=30,
                          check=False)
    result = tableau.remote_check_result("node1", done.returncode == 0,
                                         done.stdout.splitlines(), done.stderr.splitlines())
    assert not result.ok
    assert result.detail.startswith("from node1 (its OS trust store): https://127.0.0.1:1 "
                                    "(127.0.0.1): ConnectionRefusedError")
    broken = tableau.remote_check_result("node1", False, [], ["Traceback", "NameError: x"])
    assert broken.detail == "from node1: the check did not run: Traceback / NameError: x"


def test_settings_the_mechanism_does_not_read_are_named():
    rest = plan(programs=(TSM_2021,), **REST)
    assert rest.ignored == tuple(f"{name} (tsm only; this node: REST API)"
                                 for name in sorted(TSM_LOGIN))
    tsm = plan(tableau_rest_sites=["finance"])
    assert tsm.ignored == ("tableau_rest_sites (REST API only; this node: "
                           f"{tableau.TSM_EXTSVC_SSL})",)

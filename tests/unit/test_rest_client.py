"""The REST client (tableau/rest.py) against the REST API stand-in run on loopback
(tests/standins/tableau_rest_standin.py, HTTPS with a test CA's certificate): reads and
changes, a refused token (at sign-in, and revoked between the read and the change), an
unreachable server, an unknown site, the one-connection-per-site servers before 2021.2, and a
Tableau Cloud pod's per-site sign-in."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tabpy_provision import pki
from tabpy_provision.pki.certs import private_key_pem
from tabpy_provision.tableau.connection import Connection, RestTarget
from tabpy_provision.tableau.rest import RestError, apply, changes, read_state
from tests.company_ca import CompanyCa

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "tableau_rest_standin.py"
NAME = "rest.example.com"
SECRET = "token-Secret-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CONNECTION = Connection("tabpy.example.com", 9004, True, "tableau", "pw-1", None, "TabPy")
OLD = {"host": "old.example.com", "port": 9004, "is_ssl_enabled": True, "is_auth_enabled": False,
       "connection_brief": {"connection_name": "Old TabPy", "connection_type": "TABPY"}}
SITES = [{"contentUrl": "", "name": "Default"}, {"contentUrl": "marketing", "name": "Marketing"}]


def start(folder: Path, ca: CompanyCa, port: int | None = None, **config
          ) -> tuple[subprocess.Popen, int]:
    leaf, key = ca.leaf(NAME)
    (folder / "rest.crt").write_bytes(pki.to_pem(leaf) + pki.to_pem(ca.inter))
    (folder / "rest.key").write_bytes(private_key_pem(key))
    port = port or free_port()
    (folder / "rest.json").write_text(json.dumps({
        "listen": ["127.0.0.1", port], "certificate": str(folder / "rest.crt"),
        "key": str(folder / "rest.key"), "state": str(folder / "state.json"), **config}))
    process = subprocess.Popen([sys.executable, str(STANDIN), str(folder / "rest.json")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(process.stderr.read().decode())


@pytest.fixture(scope="module")
def ca():
    return CompanyCa("REST test")


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


@pytest.fixture
def server(tmp_path, ca):
    process, port = start(tmp_path, ca, tokens={"deploy": {"secret": SECRET, "site": ""}},
                          sites=SITES)
    yield RestTarget(f"https://{NAME}:{port}", NAME, "127.0.0.1", port, pki.to_pem(ca.root),
                     "deploy", SECRET, "", ("", "marketing"))
    stop(process)


def plan(target: RestTarget) -> list:
    return changes(read_state(target, CONNECTION.name), target, CONNECTION, lambda site: False)


@pytest.fixture
def pod(tmp_path, ca):
    sites = ["finance", "marketing"]
    process, port = start(tmp_path, ca, cloud=True,
                          tokens={f"deploy-{s}": {"secret": SECRET, "site": s} for s in sites},
                          sites=[{"contentUrl": s, "name": s} for s in sites])
    tokens = {s: (f"deploy-{s}", SECRET) for s in sites}
    yield RestTarget(f"https://{NAME}:{port}", NAME, "127.0.0.1", port, pki.to_pem(ca.root),
                     "deploy-finance", SECRET, "finance", tuple(sites), cloud=True,
                     site_tokens=tokens), tmp_path / "state.json"
    stop(process)


def test_a_signed_in_read_of_every_site(server):
    state = read_state(server, "TabPy")
    assert not state.server_enabled and set(state.sites) == {"", "marketing"}


def test_a_refused_token_names_the_token_setting(server):
    with pytest.raises(RestError) as error:
        read_state(replace(server, token_secret="wrong"), "TabPy")
    assert error.value.status == 401 and error.value.setting == "tableau_rest_token_secret"
    assert str(error.value).startswith("sign-in refused: POST /api/3.6/auth/signin answered "
                                       "HTTP 401: Signin Error (401001)")


def test_an_unknown_site_names_the_sites_setting(server):
    with pytest.raises(RestError) as error:
        read_state(replace(server, sites=("", "sales")), "TabPy")
    assert error.value.status == 404 and error.value.setting == "tableau_rest_sites"


def test_an_unreachable_server_names_its_address(server):
    port = free_port()
    with pytest.raises(RestError) as error:
        read_state(replace(server, port=port), "TabPy")
    assert f"(127.0.0.1:{port}): ConnectionRefusedError" in str(error.value)
    assert error.value.setting == "tableau_rest_url"


def test_a_server_certificate_not_from_the_given_ca_is_a_tls_refusal(server):
    with pytest.raises(RestError) as error:
        read_state(replace(server, ca_pem=pki.to_pem(CompanyCa("other").root)), "TabPy")
    assert "TLS verification failed" in str(error.value)
    assert error.value.setting == "tableau_rest_ca_file"


def test_a_cloud_pod_is_read_site_by_site_with_each_sites_token(pod):
    target, state_file = pod
    state = read_state(target, "TabPy")
    assert state.server_enabled and set(state.sites) == {"finance", "marketing"}
    counters = json.loads(state_file.read_text())["counters"]
    assert counters["signin"] == counters["signout"] == 2 and "switch_site" not in counters


def test_a_cloud_token_of_another_site_is_refused(pod):
    target, _ = pod
    tokens = {**target.site_tokens, "marketing": ("deploy-finance", SECRET)}
    with pytest.raises(RestError) as error:
        read_state(replace(target, site_tokens=tokens), "TabPy")
    assert error.value.status == 401


def test_a_change_is_made_once_and_then_there_is_nothing_to_change(server):
    planned = plan(server)
    assert [c.action for c in planned] == ["enable", "enable", "create", "enable", "create"]
    apply(server, CONNECTION, planned)
    assert [c.action for c in plan(server)] == ["update", "update"]  # the password: unknown
    state = read_state(server, CONNECTION.name)
    assert state.server_enabled and all(site.enabled for site in state.sites.values())
    assert changes(state, server, CONNECTION, lambda site: True) == []


@pytest.mark.parametrize(("version", "one_per_site"), [("2020.4", True), ("2021.4", False)])
def test_a_replaced_connection_goes_first_where_a_site_holds_one(tmp_path, ca, version,
                                                                 one_per_site):
    process, port = start(tmp_path, ca, tokens={"deploy": {"secret": SECRET, "site": ""}},
                          sites=SITES[:1], seed={"": [OLD]}, version=version)
    try:
        target = RestTarget(f"https://{NAME}:{port}", NAME, "127.0.0.1", port,
                            pki.to_pem(ca.root), "deploy", SECRET, "", ("",), ("Old TabPy",),
                            one_connection_per_site=one_per_site)
        planned = plan(target)
        actions = [c.action for c in planned if c.site == ""]
        assert actions == (["enable", "delete", "create"] if one_per_site else
                           ["enable", "create", "delete"])
        if one_per_site:  # created first, it is refused: the site holds the old one
            with pytest.raises(RestError) as refused:
                apply(target, CONNECTION, plan(replace(target, one_connection_per_site=False)))
            assert refused.value.status == 409
        apply(target, CONNECTION, plan(target))
        [site] = read_state(target, CONNECTION.name).sites.values()
        assert [c.name for c in site.connections] == [CONNECTION.name]
    finally:
        stop(process)


def test_a_token_revoked_after_the_read_stops_the_change(tmp_path, ca):
    process, port = start(tmp_path, ca, tokens={"deploy": {"secret": SECRET, "site": ""}},
                          sites=SITES[:1])
    target = RestTarget(f"https://{NAME}:{port}", NAME, "127.0.0.1", port, pki.to_pem(ca.root),
                        "deploy", SECRET, "", ("",))
    planned = plan(target)
    stop(process)
    process, _ = start(tmp_path, ca, port, tokens={"deploy": {"secret": "new", "site": ""}},
                       sites=SITES[:1])
    try:
        with pytest.raises(RestError) as error:
            apply(target, CONNECTION, planned)
        assert error.value.status == 401 and error.value.setting == "tableau_rest_token_secret"
    finally:
        stop(process)
    with pytest.raises(RestError) as gone:  # and with nobody listening any more
        apply(target, CONNECTION, planned)
    assert f"(127.0.0.1:{port}): ConnectionRefusedError" in str(gone.value)


def test_a_cloud_pod_is_changed_site_by_site_without_the_server_level(pod):
    target, state_file = pod
    planned = plan(target)
    assert {(c.site, c.action) for c in planned} == {
        ("finance", "enable"), ("finance", "create"), ("marketing", "enable"),
        ("marketing", "create")}
    apply(target, CONNECTION, planned)
    counters = json.loads(state_file.read_text())["counters"]
    assert counters["post_connection"] == 2 and "put_server" not in counters

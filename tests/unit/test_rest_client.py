"""The REST client's refusals (tableau/rest.py), against the REST API stand-in run on loopback
(tests/standins/tableau_rest_standin.py, HTTPS with a test CA's certificate): a refused token,
an unreachable server, an unknown site, and a Tableau Cloud pod's per-site sign-in."""

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
from tabpy_provision.tableau.connection import RestTarget
from tabpy_provision.tableau.rest import RestError, read_state
from tests.company_ca import CompanyCa

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "tableau_rest_standin.py"
NAME = "rest.example.com"
SECRET = "token-Secret-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(folder: Path, ca: CompanyCa, **config) -> tuple[subprocess.Popen, int]:
    leaf, key = ca.leaf(NAME)
    (folder / "rest.crt").write_bytes(pki.to_pem(leaf) + pki.to_pem(ca.inter))
    (folder / "rest.key").write_bytes(private_key_pem(key))
    port = free_port()
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


@pytest.fixture
def server(tmp_path, ca):
    process, port = start(tmp_path, ca, tokens={"deploy": {"secret": SECRET, "site": ""}},
                          sites=[{"contentUrl": "", "name": "Default"},
                                 {"contentUrl": "marketing", "name": "Marketing"}])
    yield RestTarget(f"https://{NAME}:{port}", NAME, "127.0.0.1", port, pki.to_pem(ca.root),
                     "deploy", SECRET, "", ("", "marketing"))
    process.kill()
    process.wait()


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
    process.kill()
    process.wait()


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

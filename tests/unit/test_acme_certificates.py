"""ACME certificates on the controller, without a CA: reuse or order (pki/acme.py), the plan's
placeholder until the run orders, the settings that must go together, and when a run may
order at all. Ordering itself runs against Pebble in the lab (tests/integration/test_acme.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged
from tabpy_provision.pki import acme
from tabpy_provision.pki.certs import private_key_pem
from tabpy_provision.settings.table import SettingsError
from tabpy_provision.settings.value_checks import acme_directory, command
from tests.company_ca import HOST, NOW, CompanyCa
from tests.unit.planning import planned

URL = "https://acme.example.com/directory"


@pytest.fixture(scope="module")
def ca():
    return CompanyCa("ACME test")


def store(folder, ca, *, names=(HOST,), url=URL, days=90):
    """What an order leaves in the certificate's folder."""
    leaf, key = ca.leaf(names[0], days=days, also=tuple(names[1:]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / acme.CHAIN_FILE).write_bytes(pki.to_pem(leaf) + pki.to_pem(ca.inter))
    (folder / acme.KEY_FILE).write_bytes(private_key_pem(key))
    (folder / acme.ORDER_FILE).write_text(json.dumps({"directory_url": url,
                                                      "names": list(names)}))
    return leaf


def decide(folder, ca, *, names=(HOST,), url=URL, renew=False, window=30):
    return acme.stored_certificate(Staged(), folder, names, url, ca_data=pki.to_pem(ca.root),
                                   renew_before_days=window, renew=renew, now=NOW)


def test_a_stored_certificate_that_fits_is_reused(tmp_path, ca):
    leaf = store(tmp_path, ca)
    current, reason = decide(tmp_path, ca)
    assert reason is None and current.chain[0] == leaf


@pytest.mark.parametrize(("change", "expected"), [
    ({"names": (HOST, "tabpy.example.com")}, "names changed"),
    ({"url": "https://other.example.com/dir"}, "ordered from another ACME CA"),
    ({"renew": True}, "renewal asked (acme_renew)"),
    ({"window": 100}, "inside the renewal window of 100 days"),
])
def test_an_order_is_needed_and_the_current_one_keeps_serving_meanwhile(tmp_path, ca, change,
                                                                       expected):
    leaf = store(tmp_path, ca)
    current, reason = decide(tmp_path, ca, **change)
    assert expected in reason and current.chain[0] == leaf


def test_nothing_stored_or_a_foreign_chain_is_a_new_order_with_nothing_to_fall_back_on(tmp_path,
                                                                                    ca):
    assert decide(tmp_path, ca) == (None, "new")
    store(tmp_path, CompanyCa("another"))  # the CA's root changed (Pebble after a restart)
    current, reason = decide(tmp_path, ca)
    assert current is None and "does not chain to the trusted root" in reason


def test_the_renewal_date_is_the_start_of_the_window():
    assert acme.renewal_date(NOW + timedelta(days=90), 30) == \
        (NOW + timedelta(days=60)).date().isoformat()


@pytest.fixture
def base(tmp_path, monkeypatch, ca):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    root = tmp_path / "root.pem"
    root.write_bytes(pki.to_pem(ca.root))
    return {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets"), "acme_directory_url": URL,
            "acme_dns_hook": ["/usr/local/bin/dns-hook"], "tabpy_ca_file": str(root)}


def test_a_plan_waits_for_its_order_with_a_placeholder_and_reuses_a_stored_one(tmp_path, base,
                                                                              ca):
    plan = planned(HOST, base)
    order = plan.tls.acme_order
    assert order.names == (HOST,) and order.reason == "new" and order.current is None
    assert plan.tls.chain_pem == acme.PENDING_PEM and plan.tls.ca_pem == pki.to_pem(ca.root)
    assert order.account_key == acme.account_key_path(tmp_path / "pki", URL)
    assert not (tmp_path / "pki").exists()  # planning wrote nothing
    leaf = store(acme.certificate_folder(tmp_path / "pki", HOST), ca)
    reused = planned(HOST, base)
    assert reused.tls.acme_order is None and reused.tls.chain_pem.startswith(pki.to_pem(leaf))
    assert planned(HOST, {**base, "acme_renew": "tabpy9.example.com,"}).tls.acme_order is None
    assert planned(HOST, {**base, "acme_renew": f" {HOST.upper()}"}).tls.acme_order is not None
    assert planned(HOST, {**base, "acme_renew": "all"}).tls.acme_order.reason == \
        "renewal asked (acme_renew)"


@pytest.mark.parametrize(("change", "expected"), [
    ({"acme_dns_hook": None}, f"{HOST}: acme_dns_hook: required with acme_challenge dns-01"),
    ({"acme_challenge": "tls-alpn-01"}, f"{HOST}: acme_challenge: must be one of"),
    ({"tabpy_certificate_file": "a.pem", "tabpy_key_file": "a.key"},
     f"{HOST}: acme_directory_url: the certificate comes either from ACME or from "
     "tabpy_certificate_file"),
    ({"tabpy_cert_ip_addresses": ["192.0.2.1"]}, f"{HOST}: tabpy_cert_ip_addresses: the deploy "
     "orders DNS names only"),
    ({"tabpy_ca_file": "/nonexistent/root.pem"},
     f"{HOST}: tabpy_ca_file: /nonexistent/root.pem: No such file or directory"),
    ({"acme_directory_url": "http://acme.example.com/dir"}, f"{HOST}: acme_directory_url: must "
     "be the https URL of an ACME directory"),
    ({"acme_dns_hook": "hook.sh"}, f"{HOST}: acme_dns_hook: must be a command as a list"),
])
def test_settings_that_cannot_work_are_one_line_each(base, change, expected):
    with pytest.raises(SettingsError) as error:
        planned(HOST, {**base, **change})
    assert any(line.startswith(expected) for line in error.value.problems), \
        error.value.problems


_HOST_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@hypothesis_settings(max_examples=500, deadline=None, database=None)
@given(labels=st.lists(_HOST_LABEL, min_size=1, max_size=4),
       port=st.one_of(st.none(), st.integers(1, 65535)),
       path=st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True))
def test_accepted_directory_urls_are_read_back_by_the_http_client(labels, port, path):
    import requests  # the ACME client's (imported late: pyinfra's CLI patches it in tests)

    url = f"https://{'.'.join(labels)}{'' if port is None else f':{port}'}{path}"
    assert acme_directory(url) is None
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("https", ".".join(labels), port)
    assert requests.Request("GET", url).prepare().url.startswith(f"https://{'.'.join(labels)}")


@pytest.mark.parametrize("url", ["http://a.example/dir", "https://a.example/dir x",
                                 "https://a.example/dir#frag", "https://user@a.example/",
                                 "https:///dir", 42, "https://a.example/\n"])
def test_other_directory_urls_are_refused(url):
    assert acme_directory(url) is not None


def test_a_hook_is_a_list_of_arguments():
    assert command(["/usr/bin/hook", "--zone", "example.com"]) is None
    assert all(command(value) for value in ([], "hook.sh", ["ok", ""], ["a\nb"]))


RUNS = [
    ([".venv/bin/pyinfra", "-y", "inventory/lab.py", "deploy/site.py"], True),
    (["/usr/local/bin/pyinfra", "inventory/lab.py", "deploy/site.py"], True),  # asks first
    ([".venv/bin/pyinfra", "--dry", "inventory/lab.py", "deploy/site.py"], False),
    ([".venv/bin/pyinfra", "-y", "inventory/lab.py", "deploy/site.py", "--dry"], False),
    (["/v/lib/python3.11/site-packages/pyinfra/__main__.py", "--json", "-y", "inventory/lab.py",
      "site.py"], True),  # `tabpy-provision deploy` runs `python -m pyinfra`
    (["/v/lib/python3.11/site-packages/pyinfra/__main__.py", "--json", "-y", "--dry",
      "inventory/lab.py", "site.py"], False),
    (["/v/lib/python3.11/site-packages/tabpy_provision/__main__.py", "check"], False),
    ([], False),
]


def test_only_a_pyinfra_run_without_dry_orders():
    """Read as pyinfra's own CLI reads its arguments, in a process of its own: importing
    pyinfra's CLI monkey-patches the standard library with gevent."""
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys; from tabpy_provision.pki.acme_orders import "
         "ordering_allowed; print(json.dumps([ordering_allowed(a) for a in json.load("
         "sys.stdin)]))"], input=json.dumps([argv for argv, _ in RUNS]), capture_output=True,
        text=True, timeout=60, check=True, cwd=Path(__file__).resolve().parents[2])
    assert json.loads(done.stdout) == [allowed for _, allowed in RUNS]


def test_a_ca_that_cannot_be_reached_is_one_line_naming_it(tmp_path):
    import socket

    from tabpy_provision.pki.acme_client import AcmeError, order_certificate

    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"https://127.0.0.1:{port}/dir"
    order = acme.AcmeOrder(names=(HOST,), directory_url=url, challenge="dns-01",
                           folder=tmp_path / "cert",
                           account_key=tmp_path / "account.pem", dns_hook=("true",),
                           server_ca=None, email=None, timeout=10, reason="new")
    files = Staged()
    with pytest.raises(AcmeError) as error:
        order_certificate(order, files)
    assert str(error.value) == f"cannot reach the ACME CA at {url}: [Errno 111] Connection " \
                               "refused"
    assert all("certificate" not in change for change in files.changes())  # nothing issued

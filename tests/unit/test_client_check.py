"""What a client reports of each TabPy name (server/client_check.py), parsed without a client."""

import json

from tabpy_provision.server import client_check

ENDPOINTS = [("tabpy1.example.com", 9004), ("tabpy.example.com", 9004)]


def line(name, ok, detail="/info answered HTTP 401"):
    return json.dumps([name, 9004, ok, detail])


def test_every_name_verified_is_one_passing_result():
    result = client_check.result("client1", True, ENDPOINTS,
                                 [line("tabpy1.example.com", True),
                                  line("tabpy.example.com", True)], [])
    assert result.ok
    assert result.detail == ("from client1, through its OS trust store: TLS verified and TabPy "
                             "answering at tabpy1.example.com:9004, tabpy.example.com:9004")


def test_a_name_not_verified_fails_naming_it_and_why():
    result = client_check.result("client1", True, ENDPOINTS, [
        line("tabpy1.example.com", True),
        line("tabpy.example.com", False, "TLS verification failed: unable to get local issuer "
                                         "certificate")], [])
    assert not result.ok
    assert result.detail == ("from client1: https://tabpy.example.com:9004: TLS verification "
                             "failed: unable to get local issuer certificate")


def test_a_check_that_did_not_run_says_what_the_client_said():
    result = client_check.result("client1", False, ENDPOINTS, [],
                                 ["bash: python3: command not found"])
    assert not result.ok and "python3: command not found" in result.detail


def test_the_client_gets_verify_and_the_names_on_stdin_never_a_credential():
    sent = json.loads(client_check.stdin(ENDPOINTS))
    assert sent["endpoints"] == [list(e) for e in ENDPOINTS]
    assert "def request(" in sent["source"] and set(sent) == {"source", "endpoints"}

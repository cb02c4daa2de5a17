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
    assert "def request(" in sent["source"] and set(sent) == {"source", "endpoints", "rserve"}


def test_rserve_names_are_checked_beside_tabpys_and_said_as_qap():
    rserve = [("rserve1.example.com", 6311)]
    sent = json.loads(client_check.stdin(ENDPOINTS, rserve))
    assert sent["rserve"] == [["rserve1.example.com", 6311]]
    passing = [line("tabpy1.example.com", True), line("tabpy.example.com", True)]
    qap = json.dumps(["rserve1.example.com", 6311, True, "Rserve's QAP1 ID string"])
    result = client_check.result("client1", True, ENDPOINTS, [*passing, qap], [], rserve)
    assert result.ok and result.detail.endswith(
        "TabPy answering at tabpy1.example.com:9004, tabpy.example.com:9004; Rserve answering "
        "at rserve1.example.com:6311")
    refused = json.dumps(["rserve1.example.com", 6311, False, "TLS verification failed: x"])
    result = client_check.result("client1", True, ENDPOINTS, [*passing, refused], [], rserve)
    assert not result.ok
    assert result.detail == "from client1: qap+tls://rserve1.example.com:6311: TLS " \
                            "verification failed: x"
    missing = client_check.result("client1", True, ENDPOINTS, passing, [], rserve)
    assert not missing.ok and "did not run" in missing.detail

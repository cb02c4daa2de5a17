"""Issue 27: an https URL the checks accept is reached at the host they saw. Generated with a
fixed seed: accepted URLs (LDH names of every shape, IPv4 and IPv6 literals, ports) read back
by urllib.parse and by the consumers that build Tableau REST targets from them (tableau/plan.py,
tableau/cloud.py: the host verify.request dials and verifies); refused URLs: a user or
password part (https://tableau.example.com@evil.example.net sent the personal access token to
evil.example.net), hosts that are not plain ASCII (look-alikes, IDNA dots, the Kelvin sign),
backslashes, whitespace and control characters at every position, and malformed hosts and
ports."""

from __future__ import annotations

import random
import unicodedata
from urllib.parse import urlsplit

import pytest

from tabpy_provision.settings import table as settings
from tabpy_provision.settings import value_checks
from tabpy_provision.settings.typed import host_settings
from tabpy_provision.tableau import cloud
from tests.unit import test_tableau_cloud_plan, test_tableau_plan

CHECKS = {"https_url": value_checks.https_url, "https_address": value_checks.https_address,
          "acme_directory": value_checks.acme_directory}
LDH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def label(draw: random.Random) -> str:
    size = draw.choice((1, 2, 3, 8, 20, 63))
    if size <= 2:
        return "".join(draw.choice(LDH) for _ in range(size))
    inner = "".join(draw.choice(LDH + "-") for _ in range(size - 2))
    return draw.choice(LDH) + inner + draw.choice(LDH)


def host_names(count: int, seed: int = 27) -> list[str]:
    draw = random.Random(seed)
    names = ["tableau.example.com", "10ay.online.tableau.com", "xn--bcher-kva.example",
             "localhost", "a", "192.0.2.21", "[2001:db8::1]", "[::1]", "[::ffff:192.0.2.1]"]
    while len(names) < count:
        name = ".".join(label(draw) for _ in range(draw.randint(1, 5)))
        if len(name) <= 253:
            names.append(name)
    return names


def accepted_urls(count: int = 300) -> list[tuple[str, str, int]]:
    """(url, host as a client connects to it, port)."""
    draw = random.Random(28)
    urls = []
    for host in host_names(count):
        port = draw.choice((None, 1, 443, 8443, 65535))
        url = f"https://{host}{'' if port is None else f':{port}'}{draw.choice(('', '/'))}"
        urls.append((url, host.strip("[]").lower(), port or 443))
    return urls


def test_an_accepted_url_is_parsed_by_urllib_to_the_host_the_check_saw():
    for url, host, port in accepted_urls():
        for name, check in CHECKS.items():
            assert check(url) is None, (name, url)
        parts = urlsplit(url)
        assert (parts.hostname, parts.port or 443, parts.username, parts.password) == (
            host, port, None, None), url


def test_the_rest_and_cloud_targets_dial_and_verify_the_host_the_check_saw(monkeypatch):
    monkeypatch.setenv("TABLEAU_TOKEN", "token-Secret-1")
    monkeypatch.setenv("CLOUD_TOKEN", "token-Secret-1")
    monkeypatch.setenv("TABLEAU_TSM_PW", "tsm-Secret-1")
    for url, host, port in accepted_urls(60):
        made = test_tableau_plan.plan(programs=(test_tableau_plan.TSM_2021,),
                                      **test_tableau_plan.REST, tableau_rest_url=url)
        assert (made.rest.fqdn, made.rest.address, made.rest.port) == (host, host, port), url
        target = cloud._rest_target("cloud", host_settings(settings.with_defaults(
            {"tableau_cloud_url": url, "tableau_cloud_sites": test_tableau_cloud_plan.SITES})),
            [])
        assert (target.fqdn, target.address, target.port) == (host, host, port), url


GOOD = "tableau.example.com"
EVIL = "evil.example.net"
USER_PARTS = [f"https://{GOOD}@{EVIL}", f"https://{GOOD}:443@{EVIL}", f"https://user@{GOOD}",
              f"https://user:secret-pat@{GOOD}", f"https://@{GOOD}", f"https://:@{GOOD}",
              f"https://{GOOD}@{EVIL}/", f"https://{GOOD}@{EVIL}:8443",
              f"https://{GOOD}%40{EVIL}", f"https://{GOOD}\\@{EVIL}"]


@pytest.mark.parametrize("url", USER_PARTS)
def test_a_user_or_password_part_is_refused_without_echoing_it(url):
    for name, check in CHECKS.items():
        problem = check(url)
        assert problem is not None, (name, url)
        assert "secret-pat" not in problem and "\n" not in problem


def test_the_issue_27_example_is_refused_naming_host_and_field():
    problems = settings.check_values("tableau1.example.com", {
        "tableau_rest_url": f"https://{GOOD}@{EVIL}",
        "tableau_cloud_url": f"https://{GOOD}@{EVIL}"})
    assert len(problems) == 2
    for field, problem in zip(("tableau_rest_url", "tableau_cloud_url"), problems, strict=True):
        assert problem.startswith(f"tableau1.example.com: {field}: ")
        assert "user" in problem and "\n" not in problem


#: Look-alikes and characters IDNA or lower() would map to ASCII: the host a reader sees is not
#: the host the client connects to, or not an ASCII host at all.
LOOK_ALIKES = ["\u0430", "\u043e", "\u0435", "\u03bf", "\uff45", "\u3002", "\uff0e", "\uff61",
               "\u212a", "\u017f", "\u0131", "\u00df", "\u00e9", "\u2024", "\ufe52"]


def non_ascii_hosts(count: int = 400) -> list[str]:
    draw = random.Random(29)
    pool = LOOK_ALIKES + [chr(code) for code in draw.sample(range(0x80, 0x30000), 200)]
    hosts = []
    for host in host_names(count // 4, seed=30):
        if host.startswith("["):
            continue
        for _ in range(4):
            position = draw.randrange(len(host) + 1)
            hosts.append(host[:position] + draw.choice(pool) + host[position:])
    return hosts


def test_a_host_that_is_not_plain_ascii_is_refused():
    for host in non_ascii_hosts():
        for name, check in CHECKS.items():
            assert check(f"https://{host}") is not None, (name, ascii(host))
            assert check(f"https://{host}/path") is not None, (name, ascii(host))


def unwelcome_characters() -> list[str]:
    """Whitespace, controls, format characters (zero-width) and line or paragraph separators,
    from the whole of Unicode, and the backslash."""
    return ["\\"] + [chr(code) for code in range(0x110000)
                     if unicodedata.category(chr(code)) in ("Cc", "Cf", "Zs", "Zl", "Zp")]


def test_backslashes_whitespace_and_controls_are_refused_at_every_position():
    url = f"https://{GOOD}:8443/api"
    chars = unwelcome_characters()
    assert len(chars) > 200
    for char in chars:
        for position in range(len("https://"), len(url) + 1):
            bad = url[:position] + char + url[position:]
            for name, check in CHECKS.items():
                assert check(bad) is not None, (name, ascii(bad))


@pytest.mark.parametrize("url", [
    "https://", "https://a..b", "https://.a", "https://a.", "https://-a.b", "https://a-.b",
    f"https://{'a' * 64}.example.com", "https://a:0", "https://a:65536", "https://a:",
    "https://a:+443", "https://[::1%25eth0]", "https://[not:an:address]", "https://[::1",
    "https://[192.0.2.1]", "https://[::1]x",
    "https://a_b.example.com", "https://a b", "http://a", "https:/a", "HTTPS://a",
    f"https://{GOOD}#@{EVIL}", f"https://{GOOD}#frag"])
def test_malformed_hosts_ports_and_fragments_are_refused(url):
    for name, check in CHECKS.items():
        assert check(url) is not None, (name, url)


@pytest.mark.parametrize(("check", "url"), [
    ("https_address", "https://idp.example.com/realms/x"),
    ("https_address", "https://login.example.com/t/discovery/v2.0/keys?p=b2c_1_signin"),
    ("https_address", "https://idp.example.com/a@b"),
    ("acme_directory", "https://acme-v02.api.letsencrypt.org/directory"),
    ("acme_directory", "https://acme1.lab.test:14000/dir"),
    ("https_url", "https://tableau.example.com:8443/")])
def test_paths_where_a_url_may_have_one(check, url):
    assert CHECKS[check](url) is None
    assert urlsplit(url).hostname == url.split("/")[2].split(":")[0]

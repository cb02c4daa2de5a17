"""What a setting's value must look like: each check returns None when the value is fine,
else a short phrase (settings.py puts host and field in front). Pure."""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tabpy_provision.functions.source import FunctionError, prebuilt_models
from tabpy_provision.pki.certs import MAX_LEAF_DAYS
from tabpy_provision.wheelhouse.extras import normalized_requirements
from tabpy_provision.wheelhouse.nltk_data import resources_problem
from tabpy_provision.wheelhouse.pinning import WheelhouseError

Check = Callable[[Any], str | None]


def accepts(annotation: str) -> Callable[[Check], Check]:
    """Mark a check with the type of the values it lets through: the typed settings
    (settings/values.py, generated) declare each field with it, so a setting's type is said
    where its values are checked."""
    def mark(check: Check) -> Check:
        check.accepts = annotation  # type: ignore[attr-defined]
        return check

    return mark


def accepted_type(check: Check) -> str:
    """The annotation a check was marked with (AttributeError: a check without one)."""
    return check.accepts  # type: ignore[attr-defined]


@accepts("bool")
def is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def int_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}, got {value!r}"
        return None

    return accepts("int")(check)


@accepts("int")
def leaf_days(value: Any) -> str | None:
    """Days a server certificate the private CA issues is valid."""
    problem = int_between(2, MAX_LEAF_DAYS)(value)
    return f"{problem} (macOS and iOS refuse a TLS server certificate valid longer than " \
           f"{MAX_LEAF_DAYS} days)" if problem else None


def seconds_up_to(maximum: int) -> Check:
    """A finite duration above 0 (NaN and infinity are numbers to Python, not to a timeout)."""
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value) or not 0 < value <= maximum:
            return f"must be a number of seconds above 0 and at most {maximum}, got {value!r}"
        return None

    return accepts("float")(check)  # an int is a float to a type checker


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, got {value!r}"
        return None

    listed = ", ".join(f'"{choice}"' for choice in choices)
    return accepts(f"Literal[{listed}]")(check)


_PATH_PART = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*")


@accepts("str")
def absolute_path(value: Any) -> str | None:
    """Absolute, normal (no `.`, `..`, `//`, trailing `/`) and of a safe character set: a path
    reaches shell commands, unit files and TabPy's config."""
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") != value:
        return f"must be an absolute path without a trailing slash, got {value!r}"
    if not all(_PATH_PART.fullmatch(part) for part in value[1:].split("/")):
        return ("must be a normal path of letters, digits and . _ @ + - (no '.' or '..' parts), "
                f"got {value!r}")
    return None


@accepts("str")
def https_address(value: Any) -> str | None:
    """An https URL with a host, maybe a path and a query (TabPy refuses to start with an
    http:// OAuth issuer or JWKS URI: refused here, before any host is touched)."""
    parsed = parse_https_url(value, "an https:// URL with a host")
    return parsed if isinstance(parsed, str) else None


@dataclass(frozen=True)
class HttpsUrl:
    host: str  # as a client connects to it: lower-case, an IPv6 address without brackets
    port: int
    rest: str  # the path and query ("" for none)


_LDH_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: Printable ASCII but '#' (a fragment is never sent) and '\\' (parsers disagree on it).
_URL_REST = r"[\x21\x22\x24-\x5b\x5d-\x7e]"
_HTTPS_URL = re.compile(rf"https://(?P<host>{_LDH_LABEL}(?:\.{_LDH_LABEL})*"
                        rf"|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])"
                        rf"(?::(?P<port>\d{{1,5}}))?(?P<rest>[/?]{_URL_REST}*)?")


def parse_https_url(value: Any, expected: str) -> HttpsUrl | str:
    """The parts of an https URL whose host is written as plain ASCII letters, digits and
    hyphens, or as an IP address; else why not (`expected` says what it should look like).
    No user part (https://tableau.example.com@evil.example.net sends the request to
    evil.example.net), no IDNA (a look-alike letter, or '。' that IDNA maps to '.', names
    another host: an international name is written xn--), no whitespace, backslash or control
    character anywhere, no fragment."""
    if not isinstance(value, str):
        return f"must be {expected}, got {value!r}"
    if "@" in re.split(r"[/?#]", value.removeprefix("https://"), maxsplit=1)[0]:
        # Never echoed: the part before '@' may be a password.
        return "must not hold a user or password part ('@' before the host): the request " \
               "and its credentials would go to the host after it"
    if not value.isascii():
        return f"must be plain ASCII (an international host name in its xn-- form), got {value!r}"
    if any(not char.isprintable() or char in " \\" for char in value):
        return f"must have no space, backslash or control character, got {value!r}"
    match = _HTTPS_URL.fullmatch(value)
    refused = f"must be {expected}, got {value!r}"
    if match is None or len(match["host"]) > 253 or not 0 < int(match["port"] or 443) < 65536:
        return refused
    if match["ipv6"]:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:  # an IPv4 address in brackets, a zone, a typo
            return refused
    host, port = (match["ipv6"] or match["host"]).lower(), int(match["port"] or 443)
    parts = urlsplit(value)
    # What clients parse (urllib.parse) must be what was checked, whatever its rules add.
    if (parts.hostname, parts.port or 443, parts.username) != (host, port, None):
        return refused
    return HttpsUrl(host, port, match["rest"] or "")


@accepts("str")
def interface_name(value: Any) -> str | None:
    """A Linux network interface name (at most 15 characters; the kernel also refuses '/', ':'
    and whitespace, and ':' only ever named an address label, not a device)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", value) or \
            value in (".", ".."):
        return f"must be a network interface name like eth0, got {value!r}"
    return None


def optional(check: Check) -> Check:
    return accepts(f"{accepted_type(check)} | None")(
        lambda value: None if value is None else check(value))


def control_character(value: str) -> str | None:
    """The first character a parser could take for a line break or control, as U+XXXX: every
    one Python's splitlines breaks on (\\r, \\v, \\f, \\x1c-\\x1e, \\x85, U+2028...) and
    every other control character."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def text(value: Any) -> str | None:
    """One line, no control characters, no space at either end (configparser strips it)."""
    if not isinstance(value, str):
        return f"must be a single-line string, got {value!r}"
    bad = control_character(value)
    if bad:
        return f"must be a single line without control characters (has {bad})"
    if value != value.strip():
        return f"must not start or end with whitespace, got {value!r}"
    return None


@accepts("str")
def non_empty_text(value: Any) -> str | None:
    return text(value) or (None if value.strip() else "must not be empty")


_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@accepts("str")
def unix_name(value: Any) -> str | None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        return f"must be a lower-case Unix name, got {value!r}"
    return None


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")


@accepts("str")
def dns_name_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _DNS_NAME.fullmatch(value.lower()):
        return f"must be a DNS name, got {value!r}"
    return None


@accepts("tuple[str, ...]")
def dns_names(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of DNS names, got {value!r}"
    return next((p for p in map(dns_name_problem, value) if p), None)


@accepts("str")
def ip_address(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address"
    return None


@accepts("tuple[str, ...]")
def ip_addresses(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of IP addresses, got {value!r}"
    return next((p for p in map(ip_address, value) if p), None)


@accepts("tuple[str, ...]")
def permitted_names(value: Any) -> str | None:
    """What a private CA may issue for besides its hosts' names: DNS domains, IP networks."""
    if not isinstance(value, list | tuple):
        return f"must be a list of DNS domains and IP networks, got {value!r}"
    for entry in value:
        try:
            ipaddress.ip_network(entry if isinstance(entry, str) else None)
        except (TypeError, ValueError):
            if dns_name_problem(entry) is not None:
                return f"must be DNS domains and IP networks (host bits clear), got {entry!r}"
    return None


@accepts("Mapping[str, str]")
def mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else f"must be a mapping, got {value!r}"


@accepts("str")
def version(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
        return f"must be a release like 2.16.0, got {value!r}"
    return None


_OAUTH_SCOPE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


@accepts("str")
def oauth_scope(value: Any) -> str | None:
    if not isinstance(value, str) or not _OAUTH_SCOPE.fullmatch(value):
        return f"must be an OAuth scope token, got {value!r}"
    return None


def given_secret(what: str) -> Check:
    """A secret reference to a value issued elsewhere (a passphrase, a token): not `generate`."""
    def check(value: Any) -> str | None:
        if value == "generate":
            return f"{what} cannot be generated; use env:, file:, cmd: or vault:"
        return non_empty_text(value)

    return accepts("str")(check)


TRUST_OS_FAMILIES = ("debian", "rhel", "suse", "macos")
TRUST_ROLES = ("root", "intermediate")


@accepts("tuple[str, ...]")
def trust_selection(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or any(item not in TRUST_ROLES for item in value):
        return f"must be a list of {' and '.join(TRUST_ROLES)}, got {value!r}"
    if "root" not in value:
        return "must include root (OpenSSL, curl and Java anchor trust at a root)"
    return None


# Tableau Server checks

_TABLEAU_VERSION = re.compile(r"20\d\d\.\d+(\.\d+)?")
_SITE = re.compile(r"[A-Za-z0-9_-]*")


@accepts("str")
def tableau_version(value: Any) -> str | None:
    if not isinstance(value, str) or not _TABLEAU_VERSION.fullmatch(value):
        return f"must be a Tableau Server version like 2019.4 or 2021.1 (a string), got {value!r}"
    return None


@accepts("str")
def site_content_url(value: Any) -> str | None:
    if not isinstance(value, str) or not _SITE.fullmatch(value):
        return f"must be a site contentUrl (letters, digits, - and _; \"\" for Default), " \
               f"got {value!r}"
    return None


@accepts("tuple[str, ...]")
def site_list(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not value:
        return f"must be a non-empty list of site contentUrls, got {value!r}"
    return next((p for p in map(site_content_url, value) if p), None)


@accepts("Mapping[str, Mapping[str, str]]")
def cloud_sites(value: Any) -> str | None:
    """Tableau Cloud sites: contentUrl -> {token_name, token_secret} (a secret reference)."""
    if not isinstance(value, Mapping):
        return f"must be a mapping of site contentUrl to its token, got {value!r}"
    for site, token in value.items():
        problem = "" if site else "a Tableau Cloud site has a contentUrl (Cloud has no Default)"
        problem = problem or site_content_url(site)
        if not problem and (not isinstance(token, Mapping) or
                            set(token) != {"token_name", "token_secret"}):
            problem = f"must be {{token_name: ..., token_secret: ...}}, got {token!r}"
        problem = problem or non_empty_text(token["token_name"]) or \
            given_secret("a personal access token")(token["token_secret"])
        if problem:
            return f"{site!r}: {problem}"
    return None


@accepts("tuple[str, ...]")
def text_list(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return f"must be a list of names, got {value!r}"
    return next((p for p in map(non_empty_text, value) if p), None)


@accepts("str")
def https_url(value: Any) -> str | None:
    expected = "an https URL without a path, like https://tableau.example.com"
    parsed = parse_https_url(value, expected)
    if isinstance(parsed, HttpsUrl) and parsed.rest not in ("", "/"):
        return f"must be {expected}, got {value!r}"
    return parsed if isinstance(parsed, str) else None


@accepts("str")
def acme_directory(value: Any) -> str | None:
    """An ACME directory: https, a host, an optional port and path (no query)."""
    expected = "the https URL of an ACME directory, like " \
               "https://acme-v02.api.letsencrypt.org/directory"
    parsed = parse_https_url(value, expected)
    if isinstance(parsed, HttpsUrl) and not re.fullmatch(r"(/[A-Za-z0-9._~%/+=-]*)?",
                                                         parsed.rest):
        return f"must be {expected}, got {value!r}"
    return parsed if isinstance(parsed, str) else None


@accepts("tuple[str, ...]")
def command(value: Any) -> str | None:
    """A command as its arguments (run without a shell)."""
    if not isinstance(value, list | tuple) or not value:
        return f"must be a command as a list of its arguments, got {value!r}"
    return text_list(value)


@accepts('int | Literal["auto"]')
def instance_count(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                           and 1 <= value <= 64):
        return None
    return f"must be an integer from 1 to 64 or auto, got {value!r}"


@accepts("tuple[str, ...]")
def requirement_list(value: Any) -> str | None:
    """PEP 508 requirements TabPy's virtualenv gets besides TabPy's own."""
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        return f"must be a list of requirements like 'statsmodels==0.14.5', got {value!r}"
    try:
        normalized_requirements(value)
    except WheelhouseError as error:
        return str(error)
    return None


@accepts("tuple[str, ...]")
def nltk_resources(value: Any) -> str | None:
    return text_list(value) or resources_problem(value)


@accepts("tuple[str, ...]")
def prebuilt_model_list(value: Any) -> str | None:
    if problem := text_list(value):
        return problem
    try:
        prebuilt_models(list(value))
    except FunctionError as error:
        return str(error)
    return None

"""The check Tableau does when it connects to TabPy: verified TLS, basic auth, a real /evaluate.

TLS is verified against the given CA (PEM) or the OS trust store, with the host name checked
against the certificate - never disabled. The TCP connection may go to another address than the
name (e.g. a lab address) while TLS still verifies the name. Pure: no pyinfra import.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

EVALUATE_BODY = {"script": "return _arg1[0] + 1", "data": {"_arg1": [41]}}
EVALUATE_EXPECTED = 42


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str  # what answered, or why it failed (never a secret)
    server_version: str | None = None
    seconds: float = 0.0
    final: bool = False  # a failure that waiting cannot fix (bad credentials, untrusted TLS)


class _AddressedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address` while TLS verifies `host` (SNI and certificate name)."""

    def __init__(self, host: str, address: str, port: int, context: ssl.SSLContext,
                 timeout: float):
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _AddressedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def tls_context(ca_pem: bytes | None) -> ssl.SSLContext:
    """The client side of Tableau: the given CA or the OS trust store, names checked."""
    context = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(method: str, path: str, *, fqdn: str, address: str, port: int, https: bool = True,
            ca_pem: bytes | None = None, credentials: tuple[str, str] | None = None,
            body: object | None = None, timeout: float = 10,
            headers: Mapping[str, str] | None = None) -> Response:
    """One HTTP(S) request; `body` is sent as JSON (Content-Type application/json unless
    `headers` say otherwise)."""
    if https:
        conn: http.client.HTTPConnection = _AddressedHTTPSConnection(
            fqdn, address, port, tls_context(ca_pem), timeout)
    else:
        conn = _AddressedHTTPConnection(fqdn, address, port, timeout)
    sent = {"Content-Type": "application/json"} if body is not None else {}
    if credentials:
        sent["Authorization"] = basic_auth(*credentials)
    sent.update(headers or {})
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=sent)
        response = conn.getresponse()
        return Response(response.status, response.read())
    finally:
        conn.close()


def check_tabpy(*, fqdn: str, address: str, port: int, https: bool = True,
                ca_pem: bytes | None = None, credentials: tuple[str, str] | None = None,
                timeout: float = 10, evaluate: bool = True) -> CheckResult:
    """One attempt of Tableau's check: GET /info then POST /evaluate answering 42 (only /info
    when /evaluate is disabled on purpose: such a server runs deployed models only)."""
    started = time.monotonic()
    common = dict(fqdn=fqdn, address=address, port=port, https=https, ca_pem=ca_pem,
                  credentials=credentials, timeout=timeout)
    scheme = "https" if https else "http"
    try:
        info = request("GET", "/info", **common)
        if info.status != 200:
            return CheckResult(False, f"GET /info answered HTTP {info.status}",
                               final=info.status in (401, 403))
        version = info.json().get("server_version")
        auth_required = (info.json().get("versions", {}).get("v1", {}).get("features", {})
                         .get("authentication", {}).get("required", False))
        if bool(auth_required) != bool(credentials):
            return CheckResult(False, f"/info says authentication required={auth_required}, "
                                      f"expected {bool(credentials)}")
        if not evaluate:
            return CheckResult(True, f"TabPy {version}: /info over "
                                     f"{'verified TLS' if https else 'plain HTTP'} "
                                     "(/evaluate disabled)", server_version=version,
                               seconds=time.monotonic() - started)
        answer = request("POST", "/evaluate", body=EVALUATE_BODY, **common)
        if answer.status != 200:
            return CheckResult(False, f"POST /evaluate answered HTTP {answer.status}: "
                                      f"{answer.body[:200].decode(errors='replace')}")
        if answer.json() != EVALUATE_EXPECTED:
            return CheckResult(False, f"POST /evaluate returned {answer.body[:100]!r}, "
                                      f"expected {EVALUATE_EXPECTED}", final=True)
    except ssl.SSLCertVerificationError as error:
        return CheckResult(False, f"TLS verification failed: {error.verify_message}",
                           final=True)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return CheckResult(False, f"{scheme}://{fqdn}:{port} ({address}): "
                                  f"{type(error).__name__}: {error}")
    elapsed = time.monotonic() - started
    return CheckResult(True, f"TabPy {version}: /evaluate = {EVALUATE_EXPECTED} over "
                             f"{'verified TLS' if https else 'plain HTTP'}"
                             f"{' with basic auth' if credentials else ''}",
                       server_version=version, seconds=elapsed)


def check_serving(*, fqdn: str, address: str, port: int, https: bool = True,
                  ca_pem: bytes | None = None, timeout: float = 10, **_ignored) -> CheckResult:
    """TabPy answers /info over verified TLS (200, or 401 when auth is on): it serves, whatever
    the credentials (used after a rollback, when the old passwords are not known)."""
    try:
        response = request("GET", "/info", fqdn=fqdn, address=address, port=port, https=https,
                           ca_pem=ca_pem, timeout=timeout)
    except ssl.SSLCertVerificationError as error:
        return CheckResult(False, f"TLS verification failed: {error.verify_message}")
    except (OSError, http.client.HTTPException) as error:
        return CheckResult(False, f"{type(error).__name__}: {error}")
    if response.status in (200, 401):
        return CheckResult(True, f"TabPy serves (GET /info: HTTP {response.status})")
    return CheckResult(False, f"GET /info answered HTTP {response.status}")


def check_models_loaded(*, fqdn: str, address: str, port: int, https: bool = True,
                        ca_pem: bytes | None = None,
                        credentials: tuple[str, str] | None = None, timeout: float = 10,
                        **_ignored) -> CheckResult:
    """Every model TabPy lists (GET /endpoints) is loaded, or failed to load, at its version
    (GET /status; LoadInProgress is neither): a restarted TabPy serves /info and /evaluate
    while it still loads them, and until then /query of one answers 500 'There is no query
    object'."""
    common = dict(fqdn=fqdn, address=address, port=port, https=https, ca_pem=ca_pem,
                  credentials=credentials, timeout=timeout)
    try:
        listed, loaded = request("GET", "/endpoints", **common), request("GET", "/status",
                                                                         **common)
        if listed.status != 200 or loaded.status != 200:
            return CheckResult(False, f"GET /endpoints, /status answered HTTP {listed.status}, "
                                      f"{loaded.status}")
        models, status = listed.json(), loaded.json()
    except (OSError, http.client.HTTPException, ValueError) as error:
        return CheckResult(False, f"{type(error).__name__}: {error}")
    waiting = sorted(name for name, model in models.items()
                     if status.get(name, {}).get("version", 0) < model.get("version", 0)
                     or status[name].get("status") not in ("LoadSuccessful", "LoadFailed"))
    if waiting:
        return CheckResult(False, f"TabPy still loads {len(waiting)} of its {len(models)} "
                                  f"models ({', '.join(waiting[:3])}...)")
    return CheckResult(True, f"its {len(models)} models loaded")


def wait_for_tabpy(deadline_seconds: float, give_up: Callable[[], str | None] = lambda: None,
                   check: Callable[..., CheckResult] = check_tabpy, **kwargs) -> CheckResult:
    """Retry `check` until it passes, the deadline passes, or `give_up` gives a reason (e.g.
    TabPy exited: no point waiting out the deadline)."""
    started = time.monotonic()
    while True:
        result = check(**kwargs)
        waited = time.monotonic() - started
        if result.ok:
            return CheckResult(True, result.detail, result.server_version, waited)
        reason = "final" if result.final else give_up() if waited >= 1 else None
        if reason or waited >= deadline_seconds:
            return CheckResult(False, result.detail if result.final else
                               f"{result.detail} ({reason or 'gave up'} after {waited:.0f} s)",
                               None, waited, result.final)
        time.sleep(0.5)


def served_chain(*, fqdn: str, address: str, port: int, timeout: float = 10) -> list[bytes]:
    """The certificates (PEM, in the order sent) a TLS server presents for `fqdn`.

    Read with `openssl s_client -showcerts`, which hands over the chain whatever its state, so
    that a broken or foreign chain can be examined; judging it is the caller's job
    (pki.chain_problems against the expected roots)."""
    host = f"[{address}]" if ":" in address else address
    try:
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", fqdn,
             "-showcerts"], input="", capture_output=True, text=True, timeout=timeout,
            check=False)
    except subprocess.TimeoutExpired:
        raise OSError(f"{address}:{port}: no TLS answer within {timeout:.0f} s") from None
    chain = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n",
                       done.stdout, re.S)
    if not chain:
        reason = (done.stderr.strip().splitlines() or ["no certificate"])[-1]
        raise OSError(f"{address}:{port}: {reason}")
    return [pem.encode() for pem in chain]

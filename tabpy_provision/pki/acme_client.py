"""Ordering a certificate from an ACME CA, with the maintained `acme` library (certbot's),
answering DNS-01 challenges through the operator's hook command. No pyinfra import.

Called only by a real run once every check passed (preflight): an order is a change at the CA
(ACME CAs rate-limit them). What it obtains - the account key, the certificate and its key -
is staged in the run's files, written by the run's first operation like every other
controller change.

HTTP-01: the CA fetches http://<name>/.well-known/acme-challenge/<token> from port 80 of each
name. For the length of the order, the hosts that serve the name (the TabPy server itself, or
every balancer of a pool's name) run HTTP01_RESPONDER on port 80 over an SSH session of their
own: it serves the tokens it is given and nothing else, and ends when the session does (no
file, no unit, nothing left behind).

The DNS-01 hook is a command run on the controller, with in its environment
`ACME_ACTION` (`present` to publish the TXT record, `cleanup` to remove it), `ACME_DOMAIN`,
`ACME_TXT_NAME` (`_acme-challenge.<domain>`) and `ACME_TXT_VALUE`. It returns once the record
is served (a non-zero exit fails the order); cleanup runs however the order ended.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import josepy
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tabpy_provision.controller.files import Staged
from tabpy_provision.pki.acme import CHAIN_FILE, KEY_FILE, ORDER_FILE, AcmeOrder, order_record
from tabpy_provision.pki.certs import LEAF_CURVE, current_time, private_key_pem
from tabpy_provision.settings.errors import ProvisionError

USER_AGENT = "tabpy-provision"
DNS01, HTTP01 = "dns-01", "http-01"
#: Run as root on a host during an HTTP-01 order: the first stdin line maps each token path to
#: its key authorization; it answers one line ("ready", or why port 80 cannot be served), serves
#: those paths on port 80 (404 for anything else) and ends when stdin closes.
HTTP01_RESPONDER = """
import http.server, json, sys, threading
tokens = json.loads(sys.stdin.readline())
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = tokens.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
try:
    server = http.server.ThreadingHTTPServer(("", 80), Handler)
except OSError as error:
    print(f"port 80 cannot be served: {error}", flush=True)
    sys.exit(1)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
server.shutdown()
"""


class AcmeError(ProvisionError):
    """An order that failed; the message is the CA's (or the hook's) error, one line."""


def order_certificate(order: AcmeOrder, files: Staged, *, now: datetime | None = None,
                      log: Callable[[str], None] = lambda line: None,
                      serve_http01: Callable[[Mapping[str, str]], AbstractContextManager]
                      = lambda tokens: contextlib.nullcontext()) -> tuple[bytes, bytes]:
    """Order the certificate; (full chain PEM, key PEM), both staged under order.folder.
    `serve_http01(tokens)`: while in it, port 80 of the names serves {path: content}."""
    now = current_time(now)
    account_key = _account_key(order, files)
    verify = str(order.server_ca) if order.server_ca else True
    net = client.ClientNetwork(account_key, alg=josepy.RS256, verify_ssl=verify,
                               user_agent=USER_AGENT, timeout=min(order.timeout, 30))
    try:
        directory = client.ClientV2.get_directory(order.directory_url, net)
        acme = client.ClientV2(directory, net)
        _sign_in(acme, net, order.email)
        key = ec.generate_private_key(LEAF_CURVE)
        key_pem = private_key_pem(key)
        orderr = acme.new_order(crypto_util.make_csr(key_pem, list(order.names)))
        pending = [authorization for authorization in orderr.authorizations
                   if authorization.body.status != messages.STATUS_VALID]
        deadline = datetime.now() + timedelta(seconds=order.timeout)
        if order.challenge == HTTP01:
            answers = [_challenge(authorization, challenges.HTTP01, account_key)
                       for authorization in pending]
            with serve_http01({c.chall.path: value for c, _, value in answers}):
                for challenge, response, _ in answers:
                    acme.answer_challenge(challenge, response)
                orderr = acme.poll_and_finalize(orderr, deadline=deadline)
        else:
            placed: list[tuple[str, str]] = []
            try:
                for authorization in pending:
                    _answer_dns01(acme, account_key, authorization, order, placed, log)
                orderr = acme.poll_and_finalize(orderr, deadline=deadline)
            finally:
                for name, value in placed:
                    _run_hook(order, "cleanup", name, value, check=False)
    except errors.ValidationError as error:
        raise AcmeError(_validation_failure(error)) from error
    except messages.Error as error:
        raise AcmeError(_problem(error)) from error
    except errors.TimeoutError as error:
        raise AcmeError(f"the CA did not issue within {order.timeout} s (acme_timeout)") \
            from error
    except requests.ConnectionError as error:
        raise AcmeError(f"cannot reach the ACME CA at {order.directory_url}: "
                        f"{_reason(error)}") from error
    except errors.ClientError as error:
        answer = error.args[0] if error.args else None
        status = getattr(answer, "status_code", None)
        raise AcmeError(f"{order.directory_url} answered HTTP {status} (is it an ACME "
                        "directory?)" if status else f"{error}") from error
    except (errors.Error, requests.RequestException, OSError) as error:
        raise AcmeError(f"{type(error).__name__}: {error}") from error
    chain_pem = orderr.fullchain_pem.encode()
    files.private_folders(order.folder.parent, order.folder)
    files.write_private(order.folder / KEY_FILE, key_pem,
                        f"store the key of the ACME certificate for {order.names[0]}")
    files.write_private(order.folder / CHAIN_FILE, chain_pem,
                        f"store the ACME certificate for {order.names[0]} ({order.reason})")
    files.write_private(order.folder / ORDER_FILE, order_record(order, now),
                        f"store the ACME order record of {order.names[0]}")
    return chain_pem, key_pem


def _account_key(order: AcmeOrder, files: Staged) -> josepy.JWKRSA:
    data = files.read(order.account_key)
    if data is not None:
        key = load_pem_private_key(data, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return josepy.JWKRSA(key=key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files.private_folders(order.account_key.parent)
    files.write_private(order.account_key, private_key_pem(key),
                        f"store a new ACME account key for {order.directory_url}")
    return josepy.JWKRSA(key=key)


def _sign_in(acme: client.ClientV2, net: client.ClientNetwork, email: str | None) -> None:
    """The account of this key: created, or found (a CA answers an existing key with 200)."""
    registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
    try:
        acme.new_account(registration)
    except errors.ConflictError as existing:
        net.account = messages.RegistrationResource(uri=existing.location,
                                                    body=messages.Registration())


def _challenge(authorization: messages.AuthorizationResource, kind: type,
               account_key: josepy.JWKRSA) -> tuple[messages.ChallengeBody, object, str]:
    """The authorization's challenge of `kind`, its response and validation value."""
    domain = authorization.body.identifier.value
    offered = [c for c in authorization.body.challenges if isinstance(c.chall, kind)]
    if not offered:
        raise AcmeError(f"{domain}: the CA offers no {kind.typ} challenge")
    response, value = offered[0].response_and_validation(account_key)
    return offered[0], response, value


def _answer_dns01(acme: client.ClientV2, account_key: josepy.JWKRSA,
                  authorization: messages.AuthorizationResource, order: AcmeOrder,
                  placed: list[tuple[str, str]], log: Callable[[str], None]) -> None:
    domain = authorization.body.identifier.value
    challenge, response, value = _challenge(authorization, challenges.DNS01, account_key)
    name = challenge.chall.validation_domain_name(domain)
    log(f"{domain}: DNS-01 TXT record {name}")
    placed.append((name, value))
    _run_hook(order, "present", name, value, domain=domain)
    acme.answer_challenge(challenge, response)


def _run_hook(order: AcmeOrder, action: str, name: str, value: str, *, domain: str = "",
              check: bool = True) -> None:
    environment = {**os.environ, "ACME_ACTION": action, "ACME_DOMAIN": domain or
                   name.removeprefix("_acme-challenge."), "ACME_TXT_NAME": name,
                   "ACME_TXT_VALUE": value}
    try:
        done = subprocess.run(order.dns_hook, env=environment, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=order.timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        if check:
            raise AcmeError(f"acme_dns_hook {action} {name}: {error}") from error
        return
    if check and done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise AcmeError(f"acme_dns_hook {action} {name} exited {done.returncode}: {said[0]}")


def _reason(error: Exception) -> str:
    """The operating system's words under requests' and urllib3's wrapping, when there are."""
    found = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", str(error))
    return found[-1] if found else f"{type(error).__name__}: {error}"


def _problem(error: messages.Error) -> str:
    kind = (error.typ or "").rsplit(":", 1)[-1]
    return f"{kind}: {error.detail}" if kind else str(error.detail or error)


def _validation_failure(error: errors.ValidationError) -> str:
    failures = []
    for authorization in error.failed_authzrs:
        domain = authorization.body.identifier.value
        problems = [_problem(c.error) for c in authorization.body.challenges if c.error]
        failures.append(f"{domain}: {'; '.join(problems) or 'challenge refused'}")
    return "; ".join(failures)

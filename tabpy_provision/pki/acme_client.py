"""Ordering a certificate from an ACME CA, with the maintained `acme` library (certbot's),
answering DNS-01 challenges through the operator's hook command. No pyinfra import.

Called only by a real run once every check passed (preflight): an order is a change at the CA
(ACME CAs rate-limit them). What it obtains - the account key, the certificate and its key -
is staged in the run's files, written by the run's first operation like every other
controller change.

The DNS-01 hook is a command run on the controller, with in its environment
`ACME_ACTION` (`present` to publish the TXT record, `cleanup` to remove it), `ACME_DOMAIN`,
`ACME_TXT_NAME` (`_acme-challenge.<domain>`) and `ACME_TXT_VALUE`. It returns once the record
is served (a non-zero exit fails the order); cleanup runs however the order ended.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta

import josepy
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tabpy_provision.controller.files import Staged
from tabpy_provision.pki.acme import CHAIN_FILE, KEY_FILE, ORDER_FILE, AcmeOrder, order_record
from tabpy_provision.pki.certs import LEAF_CURVE, current_time, private_key_pem

USER_AGENT = "tabpy-provision"


class AcmeError(Exception):
    """An order that failed; the message is the CA's (or the hook's) error, one line."""


def order_certificate(order: AcmeOrder, files: Staged, *, now: datetime | None = None,
                      log: Callable[[str], None] = lambda line: None) -> tuple[bytes, bytes]:
    """Order the certificate; (full chain PEM, key PEM), both staged under order.folder."""
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
        placed: list[tuple[str, str]] = []
        try:
            orderr = acme.new_order(crypto_util.make_csr(key_pem, list(order.names)))
            for authorization in orderr.authorizations:
                if authorization.body.status != messages.STATUS_VALID:
                    _answer_dns01(acme, account_key, authorization, order, placed, log)
            deadline = datetime.now() + timedelta(seconds=order.timeout)
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


def _answer_dns01(acme: client.ClientV2, account_key: josepy.JWKRSA,
                  authorization: messages.AuthorizationResource, order: AcmeOrder,
                  placed: list[tuple[str, str]], log: Callable[[str], None]) -> None:
    domain = authorization.body.identifier.value
    offered = [c for c in authorization.body.challenges if isinstance(c.chall, challenges.DNS01)]
    if not offered:
        raise AcmeError(f"{domain}: the CA offers no dns-01 challenge")
    challenge = offered[0]
    response, value = challenge.response_and_validation(account_key)
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

"""Rserve checked the way Tableau uses it: a QAP login over TLS verified against the host's CA
and one evaluation; and the refusals it relies on (a wrong password, the password `*0` that
Debian 12's Rserve takes for any user of its own password file, plain QAP). Pure: no pyinfra
import."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from tabpy_provision.rserve import qap
from tabpy_provision.rserve.plan import RservePlan
from tabpy_provision.server import verify

#: Seconds a restarted Rserve gets to answer a login (R starts in about a second).
START_TIMEOUT = 60


def login_check(plan: RservePlan, timeout: float = 10.0) -> tuple[bool, str, bool]:
    """A QAP login over TLS as the check user, verified against the host's CA, and `1+1`:
    (ok, one line, final: waiting cannot fix it)."""
    ok, detail, final = qap.check(plan.connect_address, plan.port, plan.check_user,
                                  plan.check_password, verify.tls_context(plan.tls.ca_pem),
                                  timeout, server_name=plan.fqdn)
    return ok, f"{plan.fqdn}:{plan.port} {detail}", final


def wait_for_login(plan: RservePlan, exited: Callable[[], str | None]) -> tuple[bool, str]:
    """Retry `login_check` until it passes, fails for good (a TLS or login refusal: Rserve
    1.8-11 starts even with a key it cannot use), START_TIMEOUT passes, or Rserve exited."""
    started = time.monotonic()
    while True:
        ok, detail, final = login_check(plan, timeout=5.0)
        waited = time.monotonic() - started
        if ok or final:
            return ok, detail
        reason = exited() if waited >= 1 else None
        if reason or waited >= START_TIMEOUT:
            return False, f"{detail} ({reason or 'gave up'} after {waited:.0f} s)"
        time.sleep(0.5)


def refusal_problems(plan: RservePlan, timeout: float = 10.0) -> list[str]:
    """What Rserve let in that it must refuse: a wrong password, `*0`, a plain QAP
    connection. [] when it refused each."""
    context = verify.tls_context(plan.tls.ca_pem)
    problems = []
    for wrong in (f"wrong-{secrets.token_hex(8)}", "*0"):
        try:
            with qap.connect(plan.connect_address, plan.port, context, timeout,
                             plan.fqdn) as session:
                session.login(plan.check_user, wrong)
                session.eval("1")
        except (OSError, qap.QapError):
            continue
        shown = "*0" if wrong == "*0" else "a wrong password"
        problems.append(f"{shown} logged in as {plan.check_user}")
    try:
        with qap.connect(plan.connect_address, plan.port, None, 3.0):
            problems.append("plain QAP answered (no TLS)")
    except (OSError, qap.QapError):
        pass
    return problems

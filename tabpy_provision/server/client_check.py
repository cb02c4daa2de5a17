"""What a client of TabPy and Rserve sees (an analyst's machine, the lab's client1): each TabPy
name reached over HTTPS from the client itself, the certificate verified through the client's
OS trust store only, TabPy answering /info; each Rserve name reached over TLS the same way,
Rserve sending its QAP1 ID string. Run on the client over SSH with its own python3 and this
project's verify.py sent on stdin (nothing is installed there); no credential is sent: TabPy
answering 401 proves the TLS part as well as a 200, and Rserve speaks QAP1 before any login.
Pure: no pyinfra import."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from tabpy_provision.server import verify

_SCRIPT = """
import json, socket, ssl, sys, types
payload = json.loads(sys.stdin.readline())
module = types.ModuleType("tabpy_provision_verify")
sys.modules[module.__name__] = module
exec(compile(payload["source"], "verify.py", "exec"), module.__dict__)
for name, port in payload["endpoints"]:
    try:
        status = module.request("GET", "/info", fqdn=name, address=name, port=port).status
        print(json.dumps([name, port, status in (200, 401), f"/info answered HTTP {status}"]))
    except ssl.SSLCertVerificationError as error:
        print(json.dumps([name, port, False, f"TLS verification failed: {error.verify_message}"]))
    except OSError as error:
        print(json.dumps([name, port, False, f"{type(error).__name__}: {error}"]))
for name, port in payload["rserve"]:
    try:
        with socket.create_connection((name, port), timeout=10) as raw, \
                ssl.create_default_context().wrap_socket(raw, server_hostname=name) as tls:
            ident = b""
            while len(ident) < 32 and (chunk := tls.recv(32 - len(ident))):
                ident += chunk
        ok = ident[:4] == b"Rsrv" and ident[8:12] == b"QAP1"
        print(json.dumps([name, port, ok, "Rserve's QAP1 ID string" if ok
                          else f"not Rserve's QAP1 ID string: {ident[:12]!r}"]))
    except ssl.SSLCertVerificationError as error:
        print(json.dumps([name, port, False, f"TLS verification failed: {error.verify_message}"]))
    except OSError as error:
        print(json.dumps([name, port, False, f"{type(error).__name__}: {error}"]))
"""


def command() -> str:
    return f"python3 -c {shlex.quote(_SCRIPT)}"


def stdin(endpoints: Sequence[tuple[str, int]],
          rserve: Sequence[tuple[str, int]] = ()) -> str:
    """`endpoints`: TabPy's names and ports; `rserve`: Rserve's."""
    return json.dumps({"source": Path(verify.__file__).read_text(),
                       "endpoints": [list(endpoint) for endpoint in endpoints],
                       "rserve": [list(endpoint) for endpoint in rserve]}) + "\n"


def result(client: str, ran: bool, endpoints: Sequence[tuple[str, int]],
           stdout: Sequence[str], stderr: Sequence[str],
           rserve: Sequence[tuple[str, int]] = ()) -> verify.CheckResult:
    """One result for the client: every endpoint (TabPy's, and `rserve`'s) verified, or the
    first that was not."""
    answers = {}
    for line in stdout:
        try:
            name, port, ok, detail = json.loads(line)
            answers[(name, port)] = (ok, detail)
        except (ValueError, TypeError):
            continue
    urls = {**{tuple(e): f"https://{e[0]}:{e[1]}" for e in endpoints},
            **{tuple(e): f"qap+tls://{e[0]}:{e[1]}" for e in rserve}}
    missing = [endpoint for endpoint in urls if endpoint not in answers]
    if not ran or missing:
        said = " / ".join(line.strip() for line in [*stdout, *stderr][-3:]) or "no output"
        return verify.CheckResult(False, f"from {client}: the check did not run: {said}")
    failed = [(urls[where], detail) for where, (ok, detail) in answers.items()
              if not ok and where in urls]
    if failed:
        return verify.CheckResult(False, f"from {client}: {failed[0][0]}: {failed[0][1]}")
    said = [f"{what} answering at {', '.join(f'{n}:{p}' for n, p in where)}"
            for what, where in (("TabPy", endpoints), ("Rserve", rserve)) if where]
    return verify.CheckResult(True, f"from {client}, through its OS trust store: TLS verified "
                                    f"and {'; '.join(said)}")

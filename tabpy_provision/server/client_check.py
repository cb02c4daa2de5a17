"""What a client of TabPy sees (an analyst's machine, the lab's client1): each TabPy name
reached over HTTPS from the client itself, the certificate verified through the client's OS
trust store only, TabPy answering /info. Run on the client over SSH with its own python3 and
this project's verify.py sent on stdin (nothing is installed there); no credential is sent:
TabPy answering 401 proves the TLS part as well as a 200. Pure: no pyinfra import."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from tabpy_provision.server import verify

_SCRIPT = """
import json, ssl, sys, types
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
"""


def command() -> str:
    return f"python3 -c {shlex.quote(_SCRIPT)}"


def stdin(endpoints: Sequence[tuple[str, int]]) -> str:
    return json.dumps({"source": Path(verify.__file__).read_text(),
                       "endpoints": [list(endpoint) for endpoint in endpoints]}) + "\n"


def result(client: str, ran: bool, endpoints: Sequence[tuple[str, int]],
           stdout: Sequence[str], stderr: Sequence[str]) -> verify.CheckResult:
    """One result for the client: every endpoint verified, or the first that was not."""
    answers = {}
    for line in stdout:
        try:
            name, port, ok, detail = json.loads(line)
            answers[(name, port)] = (ok, detail)
        except (ValueError, TypeError):
            continue
    missing = [endpoint for endpoint in endpoints if tuple(endpoint) not in answers]
    if not ran or missing:
        said = " / ".join(line.strip() for line in [*stdout, *stderr][-3:]) or "no output"
        return verify.CheckResult(False, f"from {client}: the check did not run: {said}")
    failed = [(f"https://{n}:{p}", detail) for (n, p), (ok, detail) in answers.items() if not ok]
    if failed:
        return verify.CheckResult(False, f"from {client}: {failed[0][0]}: {failed[0][1]}")
    names = ", ".join(f"{n}:{p}" for n, p in endpoints)
    return verify.CheckResult(True, f"from {client}, through its OS trust store: TLS verified "
                                    f"and TabPy answering at {names}")

"""tsm's commands and output, the record of what this deploy gave Tableau, and Tableau's own
"Test Connection" run from a Tableau node. Pure.

tsm's output is not documented (docs/facts-tableau.md): the parsers here are the one place to
adapt. Passwords never go on a command line of ours: a command that needs one reads it from
stdin into a shell variable and `exec`s tsm, so only tsm's own arguments hold it, for as long as
it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tabpy_provision.server import verify
from tabpy_provision.settings.errors import ProvisionError
from tabpy_provision.tableau.connection import Connection
from tabpy_provision.tableau.plan import (
    CONNECTION_TYPE,
    HOST_KEY,
    KEY_PREFIX,
    NO_PENDING,
    PORT_KEY,
    TIMEOUT_KEY,
    TSM_CONFIGURATION,
    TSM_EXTSVC_SSL,
    TSM_RECORD_KEY,
    TableauPlan,
    Tsm,
)

_VERIFIER_ROUNDS = 200_000  # PBKDF2 rounds of the record's verifiers
SECRET = object()  # stands for the secret read from stdin in a command's arguments


def tsm_command(tsm: Tsm, *args: object) -> str:
    """A shell command running tsm (as tableau_tsm_run_as when set); SECRET becomes "$secret"."""
    prefix = ("runuser", "-u", tsm.run_as, "--") if tsm.run_as else ()
    return " ".join('"$secret"' if arg is SECRET else shlex.quote(str(arg))
                    for arg in (*prefix, tsm.path, *args))


def with_secret(command: str) -> str:
    """Read the secret from stdin, then become `command` (so no shell keeps it around)."""
    return f"IFS= read -r secret && exec {command}"


def login_command(tsm: Tsm) -> str:
    """`tsm login`, the password on stdin (login mode only)."""
    return with_secret(tsm_command(tsm, "login", "-u", tsm.login_user, "-p", SECRET))


def read_command(plan: TableauPlan) -> str:
    """One command printing what the deploy compares: pending changes, then the current
    setting, each after a `### name` line (logs in first in login mode: password on stdin)."""
    tsm = plan.tsm
    steps = ["echo '### pending'", tsm_command(tsm, "pending-changes", "list")]
    if plan.mechanism == TSM_EXTSVC_SSL:
        steps += ["echo '### list'", tsm_command(tsm, "security", "vizql-extsvc-ssl", "list")]
    for key in _read_keys(plan):
        steps += [f"echo '### {key}'", tsm_command(tsm, "configuration", "get", "-k", key)]
    reads = " && ".join(steps)
    if tsm.login_user:
        login = tsm_command(tsm, "login", "-u", tsm.login_user, "-p", SECRET)
        return f"IFS= read -r secret && {login} >/dev/null && unset secret && {reads}"
    return reads


def _read_keys(plan: TableauPlan) -> list[str]:
    keys = [HOST_KEY, PORT_KEY] if plan.mechanism == TSM_CONFIGURATION else []
    return keys + ([TIMEOUT_KEY] if plan.connection.timeout_ms is not None else [])


class TsmError(ProvisionError):
    """tsm could not be read (login refused, tsm failing); the message quotes tsm."""


@dataclass(frozen=True)
class TsmState:
    pending: Mapping[str, str]  # key -> value as `pending-changes list` shows it
    current: Mapping[str, str]  # field -> value (host, port, username, ...; keys for config)


def parse_read_output(lines: Sequence[str]) -> TsmState:
    sections: dict[str, list[str]] = {}
    name = None
    for line in lines:
        if line.startswith("### "):
            name = line[4:].strip()
            sections[name] = []
        elif name is not None:
            sections[name].append(line)
    current = parse_extsvc_list(sections.pop("list", []))
    pending = parse_pending(sections.pop("pending", []))
    current.update({key: "\n".join(value).strip() for key, value in sections.items()})
    return TsmState(pending, current)


def parse_pending(lines: Sequence[str]) -> dict[str, str]:
    """`tsm pending-changes list`: {} when it says there are none, else its `key: value`
    lines (UNVERIFIED format: one change per line)."""
    if any(NO_PENDING in line.lower() for line in lines):
        return {}
    found = {}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep and "." in key and " " not in key:
            found[key] = value.strip()
    return found


_LIST_FIELDS = {"connection type": "connection_type", "host": "host", "port": "port",
                "username": "username", "ssl enabled": "ssl"}


def parse_extsvc_list(lines: Sequence[str]) -> dict[str, str]:
    """`tsm security vizql-extsvc-ssl list`: `Label: value` lines (UNVERIFIED format)."""
    found = {}
    for line in lines:
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() in _LIST_FIELDS:
            found[_LIST_FIELDS[label.strip().lower()]] = value.strip()
    return found


def foreign_pending(pending: Mapping[str, str]) -> list[str]:
    """Pending changes this deploy did not make (keys outside vizqlserver.extsvc.*): applying
    would apply them too, so the deploy stops instead."""
    return sorted(key for key in pending if not key.startswith(KEY_PREFIX))


def desired_tsm(plan: TableauPlan) -> dict[str, str]:
    """The settings tsm should show, as strings in the fields `read_command` reads."""
    c = plan.connection
    wanted = {HOST_KEY: c.host, PORT_KEY: str(c.port)} if plan.mechanism == TSM_CONFIGURATION \
        else {"connection_type": CONNECTION_TYPE, "host": c.host, "port": str(c.port),
              "username": c.user or "", "ssl": "true"}
    if c.timeout_ms is not None:
        wanted[TIMEOUT_KEY] = str(c.timeout_ms)
    return wanted


def tsm_differences(plan: TableauPlan, state: TsmState, record: Mapping[str, str]) -> list[str]:
    """What differs between tsm's current setting and the plan, one phrase each (no secret)."""
    wanted = desired_tsm(plan)
    found = [f"{key}: {state.current.get(key) or '(unset)'} -> {value}"
             for key, value in wanted.items() if state.current.get(key, "") != value]
    c = plan.connection
    if c.user and not verifier_matches(record.get(TSM_RECORD_KEY), c.user, c.password):
        found.append("password: " + ("changed" if TSM_RECORD_KEY in record else
                                     "not set by this deploy yet"))
    return found


def set_commands(plan: TableauPlan, state: TsmState, differences: Sequence[str]
                 ) -> list[tuple[str, str | None]]:
    """(command, secret for its stdin) that make tsm's pending setting the plan's."""
    tsm, c = plan.tsm, plan.connection
    changed = {phrase.split(":")[0] for phrase in differences}
    commands: list[tuple[str, str | None]] = []
    if plan.mechanism == TSM_EXTSVC_SSL and changed - {TIMEOUT_KEY}:
        args: list[object] = ["security", "vizql-extsvc-ssl", "enable", "--connection-type",
                              CONNECTION_TYPE, "--extsvc-host", c.host, "--extsvc-port", c.port]
        if c.user:
            args += ["--extsvc-username", c.user, "--extsvc-password", SECRET]
            commands.append((with_secret(tsm_command(tsm, *args)), c.password))
        else:
            commands.append((tsm_command(tsm, *args), None))
    wanted = desired_tsm(plan)
    for key in (HOST_KEY, PORT_KEY, TIMEOUT_KEY):
        if key in changed:
            commands.append((tsm_command(tsm, "configuration", "set", "-k", key, "-v",
                                         wanted[key]), None))
    return commands


def apply_command(tsm: Tsm) -> str:
    """Apply only when `tsm pending-changes list` shows changes (an apply may restart Tableau
    Server for every user); fails when the list cannot be read."""
    listing = tsm_command(tsm, "pending-changes", "list")
    apply = tsm_command(tsm, "pending-changes", "apply", "--ignore-prompt")
    return (f"changes=$({listing}) && {{ printf '%s\\n' \"$changes\" | grep -qi "
            f"{shlex.quote(NO_PENDING)} || {apply}; }}")


# --- the record of what this deploy gave Tableau ----------------------------------------------


def rest_record_key(site: str, name: str) -> str:
    return f"rest:{site}:{name}"


def verifier(user: str, password: str, *, salt: bytes | None = None) -> str:
    """A salted, slow verifier of (user, password): tells whether Tableau was given them,
    without keeping them."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", f"{user}\0{password}".encode(), salt,
                                 _VERIFIER_ROUNDS)
    return f"pbkdf2-sha256${_VERIFIER_ROUNDS}${salt.hex()}${digest.hex()}"


def verifier_matches(value: str | None, user: str, password: str | None) -> bool:
    try:
        scheme, rounds, salt, digest = (value or "").split("$")
        fresh = hashlib.pbkdf2_hmac("sha256", f"{user}\0{password}".encode(),
                                    bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return scheme == "pbkdf2-sha256" and hmac.compare_digest(fresh.hex(), digest)


def parse_record(lines: Sequence[str] | None) -> dict[str, str]:
    """The record file (FileContents lines; None: absent); unreadable counts as empty."""
    try:
        data = json.loads("\n".join(lines or ()) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def rest_record(record: Mapping[str, str], plan: TableauPlan, saved: Iterable[str]
                ) -> dict[str, str]:
    """The record after a REST run: a fresh verifier for each site whose connection was saved
    with the password; entries of sites or names no longer declared dropped."""
    c = plan.connection
    keep = {TSM_RECORD_KEY, *(rest_record_key(site, c.name) for site in plan.rest.sites)}
    updated = {key: value for key, value in record.items() if key in keep}
    if c.user:
        updated.update({rest_record_key(site, c.name): verifier(c.user, c.password)
                        for site in saved})
    return updated


def render_record(record: Mapping[str, str]) -> bytes:
    return (json.dumps(dict(sorted(record.items())), indent=1) + "\n").encode()


# --- Tableau's "Test Connection", run on a Tableau node ----------------------------------------

# Runs verify.py (stdlib only) with the node's python3: its OS trust store, Tableau's view.
# Source and credentials come on stdin, one JSON line: nothing secret on the command line.
#: Seconds the node's check retries what may pass in a moment (no route yet to a virtual
#: address keepalived just took, a refused connection); a 401, an untrusted certificate or a
#: wrong answer fails at once.
CONNECT_WAIT = 15

_REMOTE_CHECK = """
import json, sys, types
payload = json.loads(sys.stdin.readline())
module = types.ModuleType("tabpy_provision_verify")
sys.modules[module.__name__] = module
exec(compile(payload["source"], "verify.py", "exec"), module.__dict__)
result = module.wait_for_tabpy(payload["wait"], **payload["args"])
print(json.dumps({"ok": result.ok, "detail": result.detail}))
"""


def remote_check_command() -> str:
    return f"python3 -c {shlex.quote(_REMOTE_CHECK)}"


def remote_check_input(connection: Connection) -> str:
    """The stdin of remote_check_command: what Tableau uses to connect, no CA of ours."""
    credentials = [connection.user, connection.password] if connection.user else None
    timeout = connection.timeout_ms / 1000 if connection.timeout_ms else 10
    args = dict(fqdn=connection.host, address=connection.host, port=connection.port,
                https=connection.ssl, ca_pem=None, credentials=credentials, timeout=timeout)
    return json.dumps({"source": Path(verify.__file__).read_text(), "args": args,
                       "wait": CONNECT_WAIT})


def remote_check_result(host: str, ran: bool, stdout: Sequence[str], stderr: Sequence[str]
                        ) -> verify.CheckResult:
    """Parse what remote_check_command printed on `host` (its last line is JSON)."""
    try:
        answer = json.loads(stdout[-1])
        return verify.CheckResult(bool(answer["ok"]) and ran,
                                  f"from {host} (its OS trust store): {answer['detail']}")
    except (IndexError, ValueError, KeyError, TypeError):
        said = " / ".join(line.strip() for line in [*stdout, *stderr][-3:]) or "no output"
        return verify.CheckResult(False, f"from {host}: the check did not run: {said}")

#!/usr/bin/python3
"""STAND-IN for Tableau Server's `tsm` command (Linux), for tests only: no Tableau Server can
run here, so tests install this file as
`/opt/tableau/tableau_server/packages/customer-bin.<version code>/tsm` on a lab host (with
tableau_standin.py beside it) and run the real deploy against it. Its version comes from that
folder name (customer-bin.20194.19.1105.1444 is 2019.4), so either tsm generation can be tested.

Modelled, following docs/facts-tableau.md (Tableau's TSM CLI reference):
- Authentication: every command but `login` needs a session from `tsm login -u USER -p PASS`
  (USER a local account in the TSM-authorized group `tsmadmin`, PASS its password from
  /etc/shadow) or a caller that is itself a member of `tsmadmin` (running locally).
- `tsm configuration get -k KEY` prints the current (applied) value; `tsm configuration set -k
  KEY -v VALUE [--force-keys]` validates key and value and makes a PENDING change.
- 2019.1-2020.1 only: `tsm security vizql-extsvc-ssl enable --connection-type rserve|
  rserve-secure|tabpy --extsvc-host H --extsvc-port P [--extsvc-username U --extsvc-password
  PW]` and `disable` make pending changes of the vizqlserver.extsvc.* keys; `list` prints the
  applied setting. Other versions: "Unknown command".
- `tsm pending-changes list` ("There are no pending changes." or one `key: value` line each,
  passwords masked), `discard`, `apply [--ignore-prompt] [-iw] [--request-timeout S]`. An apply
  of changes needing a restart asks first unless --ignore-prompt, and restarts Tableau Server
  (restart counter). Tableau is not documented to test the connection when it applies it, so
  neither does the stand-in: an unreachable or untrusted TabPy is applied all the same (the
  deploy's own Test Connection, from the node, is what finds it).
- `tsm restart`, `tsm version`, `tsm logout`; the global option `-s URL` is accepted.
Errors are tsm-like (`Error: ...`, exit 1). State, counters (`apply_calls`, `applies`,
`restarts`) are in $TSM_STANDIN_STATE (default
/var/lib/tableau-standin/tsm.json; group tsmadmin). Exit codes and exact texts of the real tsm
are not documented: these are the stand-in's.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tableau_standin import StateFile  # noqa: E402

STATE = StateFile(Path(os.environ.get("TSM_STANDIN_STATE",
                                      "/var/lib/tableau-standin/tsm.json")),
                  {"config": {}, "pending": {}, "sessions": {},
                   "counters": {"apply_calls": 0, "applies": 0, "restarts": 0}})
AUTHORIZED_GROUP = "tsmadmin"
SESSION_SECONDS = 7200
EXTSVC = "vizqlserver.extsvc."
SECRET_KEYS = {f"{EXTSVC}password"}


class Failure(Exception):
    pass


def _int_between(low: int, high: int):
    def check(value: str) -> str | None:
        if not re.fullmatch(r"\d+", value) or not low <= int(value) <= high:
            return f"must be an integer from {low} to {high}"
        return None
    return check


def _boolean(value: str) -> str | None:
    return None if value in ("true", "false") else "must be true or false"


def _text(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


KEYS = {
    f"{EXTSVC}host": _text,
    f"{EXTSVC}port": _int_between(1, 65535),
    f"{EXTSVC}connect_timeout_ms": _int_between(1, 3_600_000),
    "vizqlserver.allow_insecure_scripts": _boolean,
    "gateway.timeout": _int_between(1, 86_400),
    "wgserver.session.idle_limit": _int_between(1, 1_440),
}
CONNECTION_TYPES = ("rserve", "rserve-secure", "tabpy")


def version() -> tuple[int, int]:
    match = re.search(r"customer-bin\.(20\d\d)(\d)\.", sys.argv[0])
    if not match:
        raise Failure(f"the stand-in must be installed as .../customer-bin.<version>/tsm, "
                      f"not {sys.argv[0]}")
    return int(match.group(1)), int(match.group(2))


def has_extsvc_ssl() -> bool:
    return (2019, 1) <= version() < (2020, 2)


def options(args: list[str], known: dict[str, bool], required: tuple[str, ...] = ()
            ) -> dict[str, str | bool]:
    """Parse `--name value` / flags; known: option -> takes a value."""
    found: dict[str, str | bool] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg not in known:
            raise Failure(f"Unknown option: '{arg}'")
        if known[arg]:
            if index + 1 == len(args):
                raise Failure(f"Missing required parameter for option '{arg}'")
            found[arg] = args[index + 1]
            index += 2
        else:
            found[arg] = True
            index += 1
    for name in required:
        if name not in found:
            raise Failure(f"Missing required option '{name}'")
    return found


def authenticate(state: dict) -> None:
    uid = os.getuid()
    try:
        group = grp.getgrnam(AUTHORIZED_GROUP)
        user = pwd.getpwuid(uid).pw_name
        if group.gr_gid in os.getgroups() or user in group.gr_mem:
            return
    except KeyError:
        pass
    if state["sessions"].get(str(uid), 0) > time.time():
        return
    raise Failure("Not authenticated. Run 'tsm login' first, or run tsm locally as a member "
                  f"of the '{AUTHORIZED_GROUP}' group. (HTTP 401)")


def password_ok(user: str, password: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        import spwd
    try:
        hashed = spwd.getspnam(user).sp_pwdp
    except (KeyError, PermissionError):
        return False
    return bool(hashed) and crypt.crypt(password, hashed) == hashed


def cmd_login(state: dict, args: list[str]) -> str:
    opts = options(args, {"-u": True, "--username": True, "-p": True, "--password": True,
                          "-s": True, "--server": True})
    user = opts.get("-u") or opts.get("--username")
    password = opts.get("-p") or opts.get("--password")
    if not user or not password:
        raise Failure("Missing required option '--username' or '--password'")
    try:
        members = grp.getgrnam(AUTHORIZED_GROUP).gr_mem
    except KeyError:
        members = []
    if user not in members or not password_ok(user, password):
        raise Failure("Authentication failed: check the user name and password, and that the "
                      f"user is a member of '{AUTHORIZED_GROUP}'. (HTTP 401)")
    state["sessions"][str(os.getuid())] = time.time() + SESSION_SECONDS
    return f"Successfully authenticated as '{user}'."


def cmd_logout(state: dict, args: list[str]) -> str:
    options(args, {})
    state["sessions"].pop(str(os.getuid()), None)
    return "Logged out."


def cmd_configuration(state: dict, args: list[str]) -> str:
    authenticate(state)
    if not args or args[0] not in ("get", "set"):
        raise Failure("Unknown command. Usage: tsm configuration get|set ...")
    if args[0] == "get":
        opts = options(args[1:], {"-k": True, "--key": True})
        key = opts.get("-k") or opts.get("--key")
        if not key:
            raise Failure("Missing required option '--key'")
        if key not in KEYS and key not in state["config"]:
            raise Failure(f"Configuration key '{key}' was not found.")
        return state["config"].get(key, "")
    opts = options(args[1:], {"-k": True, "--key": True, "-v": True, "--value": True,
                              "--force-keys": False, "-r": False, "--record": False})
    key, value = opts.get("-k") or opts.get("--key"), opts.get("-v") or opts.get("--value")
    if not key or value is None:
        raise Failure("Missing required option '--key' or '--value'")
    check = KEYS.get(key)
    if check is None and not opts.get("--force-keys"):
        raise Failure(f"Unknown configuration key '{key}'. Use --force-keys to set it anyway.")
    problem = check(value) if check else None
    if problem:
        raise Failure(f"Invalid value '{value}' for key '{key}': {problem}")
    state["pending"][key] = value
    return ("Configuration key set. Run 'tsm pending-changes apply' to apply pending "
            "changes.")


def cmd_security(state: dict, args: list[str]) -> str:
    authenticate(state)
    if not args or args[0] != "vizql-extsvc-ssl" or not has_extsvc_ssl():
        name = args[0] if args else ""
        raise Failure(f"Unknown command 'security {name}' in Tableau Server "
                      f"{'.'.join(map(str, version()))}.")
    action, rest = (args[1], args[2:]) if len(args) > 1 else ("", [])
    if action == "list":
        options(rest, {})
        config = state["config"]
        if config.get(f"{EXTSVC}ssl.enable") != "true":
            return "External service SSL is not enabled."
        return "\n".join([f"Connection type: {config.get(EXTSVC + 'connection_type', '')}",
                          f"Host: {config.get(EXTSVC + 'host', '')}",
                          f"Port: {config.get(EXTSVC + 'port', '')}",
                          f"Username: {config.get(EXTSVC + 'username', '')}",
                          "SSL enabled: true"])
    if action == "disable":
        options(rest, {})
        state["pending"][f"{EXTSVC}ssl.enable"] = "false"
        return "Run 'tsm pending-changes apply' to apply pending changes."
    if action != "enable":
        raise Failure("Usage: tsm security vizql-extsvc-ssl enable|disable|list")
    opts = options(rest, {"--connection-type": True, "--extsvc-host": True,
                          "--extsvc-port": True, "--extsvc-username": True,
                          "--extsvc-password": True},
                   ("--connection-type", "--extsvc-host", "--extsvc-port"))
    if opts["--connection-type"] not in CONNECTION_TYPES:
        raise Failure(f"Invalid value for option '--connection-type': "
                      f"'{opts['--connection-type']}' (one of {', '.join(CONNECTION_TYPES)})")
    problem = KEYS[f"{EXTSVC}port"](opts["--extsvc-port"])
    if problem:
        raise Failure(f"Invalid value for option '--extsvc-port': {problem}")
    if ("--extsvc-username" in opts) != ("--extsvc-password" in opts):
        raise Failure("Options '--extsvc-username' and '--extsvc-password' go together")
    state["pending"].update({
        f"{EXTSVC}ssl.enable": "true",
        f"{EXTSVC}connection_type": opts["--connection-type"],
        f"{EXTSVC}host": opts["--extsvc-host"], f"{EXTSVC}port": opts["--extsvc-port"],
        f"{EXTSVC}username": opts.get("--extsvc-username", ""),
        f"{EXTSVC}password": opts.get("--extsvc-password", "")})
    return "Run 'tsm pending-changes apply' to apply pending changes."


def cmd_pending_changes(state: dict, args: list[str]) -> str:
    authenticate(state)
    action, rest = (args[0], args[1:]) if args else ("", [])
    pending = state["pending"]
    if action == "list":
        options(rest, {"--config-only": False, "--topology-only": False})
        if not pending:
            return "There are no pending changes."
        return "Pending configuration changes:\n" + "\n".join(
            f"  {key}: {'********' if key in SECRET_KEYS else value}"
            for key, value in sorted(pending.items()))
    if action == "discard":
        options(rest, {"--config-only": False, "--topology-only": False})
        state["pending"] = {}
        return "Pending changes discarded."
    if action != "apply":
        raise Failure("Usage: tsm pending-changes list|apply|discard")
    opts = options(rest, {"--ignore-prompt": False, "-iw": False, "--ignore-warnings": False,
                          "--request-timeout": True, "-r": False, "--restart": False})
    state["counters"]["apply_calls"] += 1
    if not pending:
        return "There are no pending changes to apply."
    if not opts.get("--ignore-prompt"):
        print("This operation will perform a server restart. Are you sure you wish to "
              "continue? (y/n)", flush=True)
        if sys.stdin.readline().strip().lower() != "y":
            raise Failure("Apply canceled.")
    config = {**state["config"], **pending}
    state["config"] = config
    state["pending"] = {}
    state["counters"]["applies"] += 1
    state["counters"]["restarts"] += 1
    return "Successfully applied the pending changes. Tableau Server was restarted."


def cmd_restart(state: dict, args: list[str]) -> str:
    authenticate(state)
    options(args, {"--request-timeout": True})
    state["counters"]["restarts"] += 1
    return "Stopping Tableau Server... Starting Tableau Server... Tableau Server is running."


def cmd_version(state: dict, args: list[str]) -> str:
    return f"Tableau Server version: {'.'.join(map(str, version()))} (STAND-IN)"


COMMANDS = {"login": cmd_login, "logout": cmd_logout, "configuration": cmd_configuration,
            "security": cmd_security, "pending-changes": cmd_pending_changes,
            "restart": cmd_restart, "version": cmd_version}


def main(argv: list[str]) -> int:
    args = list(argv)
    if args[:1] in (["-s"], ["--server"]):
        args = args[2:]
    if not args or args[0] not in COMMANDS:
        print(f"Error: Unknown command '{args[0] if args else ''}'. Use 'tsm help'.",
              file=sys.stderr)
        return 1
    try:
        version()
    except Failure as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    with STATE.change() as state:  # saved also after a failure (counters, the last test)
        try:
            output = COMMANDS[args[0]](state, args[1:])
        except Failure as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Facts read together: many of a host's facts in one command instead of one command each.

pyinfra runs one command per fact, when the operation asking for it runs. Each costs the host
an SSH channel, sudo and a shell (about 14 ms of CPU on a lab host), and the controller the
channel's work: a no-op run of one TabPy host asked 27 of them. A deploy that knows which facts
its operations will ask for reads them with `read_together` while it plans; `answered` then
gives each the value read (what pyinfra's own command printed, parsed by the fact's own
`process`) until the host runs its first command of an operation (`forget`, called by
run/hosts.py before every command an operation runs): from then on pyinfra reads every fact
again, after the change. A rerun where nothing changes reads a host in one command.

Whatever the batch cannot answer exactly is left to pyinfra, which reads and reports it as
usual: a fact whose command failed or whose program the host lacks, a fact with a shell of
its own, and any fact the deploy did not list.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterable
from inspect import getcallargs
from typing import Any

from pyinfra.api import StringCommand
from pyinfra.api.facts import FactBase

from tabpy_provision.run import remote

MEMO_KEY = "tabpy_provision_facts_read_together"
MISSING = object()


def fact_key(fact: type[FactBase], arguments: dict[str, Any]) -> tuple[type, str]:
    """One key for a fact and its arguments however they were given (defaults filled in)."""
    called = getcallargs(fact().command, **arguments)
    called.pop("self", None)
    return fact, json.dumps(called, sort_keys=True, default=repr)


def split_outputs(lines: list[str], marker: str, count: int) -> list[tuple[int, list[str]]]:
    """Each fact's (exit status, stdout lines) from the batch's stdout, where every fact's
    output is followed by a line `marker INDEX STATUS` after a newline of its own (so that
    output not ending in one stays whole; the extra empty line is dropped). A fact whose
    marker is missing (the command was cut short) gets status -1."""
    found: list[tuple[int, list[str]]] = []
    section: list[str] = []
    for line in lines:
        words = line.split(" ")
        if len(words) == 3 and words[0] == marker and words[1] == str(len(found)):
            if section and section[-1] == "":
                section.pop()
            found.append((int(words[2]), section))
            section = []
        else:
            section.append(line)
    return found + [(-1, [])] * (count - len(found))


def batch_script(commands: list[str], marker: str) -> str:
    """One shell script running every command in a subshell of its own, each followed by its
    marker line (see split_outputs); a command's stderr is dropped (a failure is read again,
    alone, by pyinfra)."""
    return "".join(f"( {command} ) 2>/dev/null; printf '\\n{marker} {index} %s\\n' \"$?\"; "
                   for index, command in enumerate(commands))


def _command(fact: FactBase, arguments: dict[str, Any]) -> str | None:
    """The fact's command as pyinfra would run it; None: left to pyinfra (a shell of its own).
    A program the fact requires that is missing fails it (pyinfra then reads it alone)."""
    if fact.shell_executable:
        return None
    command = fact.command(**arguments) if callable(fact.command) else fact.command
    text = command.get_raw_value() if isinstance(command, StringCommand) else str(command)
    required = fact.requires_command(**arguments)
    return f"command -v {required} >/dev/null 2>&1 && ( {text} )" if required else text


def read_together(target, wanted: Iterable[tuple[type[FactBase], dict[str, Any]]]) -> None:
    """Read the `wanted` facts of `target` ((fact, keyword arguments) pairs) in one command as
    root, for `answered` to give until the host changes. Facts already read are not read
    again."""
    memo = target.connector_data.setdefault(MEMO_KEY, {})
    batch: dict[tuple, tuple[FactBase, str]] = {}
    for fact, arguments in wanted:
        key = fact_key(fact, arguments)
        reader = fact()  # one instance: a fact's process may use what its command set
        command = _command(reader, arguments)
        if key not in memo and command is not None:
            batch.setdefault(key, (reader, command))
    if not batch:
        return
    marker = f"tabpy-provision-fact-{secrets.token_hex(8)}"
    ok, output = remote.run(target, batch_script([command for _, command in batch.values()],
                                                 marker))
    if not ok:
        return
    for (key, (reader, _)), (status, lines) in zip(
            batch.items(), split_outputs(output.stdout_lines, marker, len(batch)), strict=True):
        if status != 0:
            continue
        try:
            memo[key] = reader.process(lines) if lines else reader.default()
        except Exception:  # noqa: BLE001 - pyinfra reads it again and reports the error
            continue


def answered(target, fact, arguments: dict[str, Any]) -> Any:
    """The value `read_together` read for this fact (MISSING: ask pyinfra)."""
    memo = target.connector_data.get(MEMO_KEY)
    if not memo or not isinstance(fact, type) or any(name.startswith("_") for name in arguments):
        return MISSING
    try:
        key = fact_key(fact, arguments)
    except TypeError:
        return MISSING
    found = memo.get(key, MISSING)
    return found if found is MISSING else copy.deepcopy(found)


def forget(target) -> None:
    """The host is about to change: what was read together no longer holds."""
    target.connector_data.pop(MEMO_KEY, None)

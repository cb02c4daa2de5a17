"""Publishes functions to every TabPy process of the host it runs on, then proves each one.

Runs ON the TabPy host, as TabPy's account, with the Python of TabPy's virtualenv: the pickles
are made with the same Python, TabPy and cloudpickle the server loads them with. Uploaded
beside source.py (its only import outside the standard library and the virtualenv) and given
one JSON document on stdin (the credentials travel there, never on a command line):

    {"fqdn": ..., "ca_file": PATH or null, "https": true, "credentials": [user, pw] or null,
     "processes": [{"port": 9101, "record": PATH}, ...],
     "functions": [Function.to_publisher(), ...]}

For each process, on its own port (never through a balancer, which would reach one process
only), over TLS verified for the host's name against its CA: each function whose published
content differs is deployed through TabPy's own client (a new version), each endpoint this
deploy published that is no longer wanted is removed, then every example is called through
/query/NAME. A wrong answer or an error rolls each function that changed back, on every
process it changed on, to the version in that process's `record` (the last version that passed
there), or removes it when none passed before. Prints
one JSON line: {"ok": ..., "published": [[port, name, seconds]], "removed": [[port, name]],
"failed": ["PORT NAME: why"], "rolled_back": [...], "unload": [ports that removed an endpoint,
which TabPy 2.16 keeps serving until it restarts]}; exit 0 only when everything passed.
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import functools
import itertools
import json
import os
import sys
import tempfile
import time
import types

try:
    from tabpy_provision.functions import source
except ImportError:  # on a TabPy host, source.py lies beside this file
    import source  # type: ignore[no-redef]


def main() -> int:
    order = json.load(sys.stdin)
    wanted = {item["name"]: item for item in order["functions"]}
    records = {process["port"]: process["record"] for process in order["processes"]}
    passed = {port: _read_record(path) for port, path in records.items()}
    clients = {port: _client(order, port) for port in records}
    report = {"ok": True, "published": [], "removed": [], "failed": [], "rolled_back": []}
    changed: dict[int, list[str]] = {port: [] for port in clients}
    failed: dict[str, list[str]] = {}
    deployed = {port: client.get_endpoints() for port, client in clients.items()}
    stale = {port: [name for name, item in wanted.items()
                    if source.published_digest(getattr(deployed[port].get(name), "description",
                                                       None)) != item["digest"]]
             for port in clients}
    # Each function to publish is made (its file run, its imports done) once, in a thread,
    # while the one before it is being published: these imports overlap TabPy's own imports
    # of the previous function's libraries as it loads it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as loader:
        made = {name: loader.submit(load, wanted[name])
                for name in dict.fromkeys(name for names in stale.values() for name in names)}
        for port, client in clients.items():
            _converge(client, port, wanted, deployed[port], stale[port], made, report,
                      changed[port], failed)
    for port, client in clients.items():
        for name, item in wanted.items():
            problem = None if name in failed else _example_problem(client, item)
            if problem:
                failed.setdefault(name, []).append(f"{port} {name}: {problem}")
    for port, client in clients.items():
        for name in (name for name in changed[port] if name in failed):
            report["rolled_back"].append(_roll_back(client, port, name, passed[port]))
            if name not in passed[port]:
                report["removed"].append([port, name])
        # What passed here, and for what failed the version it went back to.
        _write_record(records[port], {
            **{name: item for name, item in wanted.items() if name not in failed},
            **{name: passed[port][name] for name in failed if name in passed[port]}})
    report["failed"] = [line for lines in failed.values() for line in lines]
    report["ok"] = not failed
    # Ports that removed an endpoint: TabPy keeps serving it until the process restarts.
    report["unload"] = sorted({port for port, _ in report["removed"]})
    print(json.dumps(report))
    return 0 if report["ok"] else 1


def _converge(client, port: int, wanted: dict, deployed: dict, stale: list[str], made: dict,
              report: dict, changed: list[str], failed: dict[str, list[str]]) -> None:
    """Publish on one process each wanted function whose digest differs (`stale`; noted in
    `changed`, or in `failed`; `made`: their function objects, futures), remove each one this
    deploy published that is no longer wanted."""
    for name in stale:
        changed.append(name)
        started = time.monotonic()
        try:
            client.deploy(name, made[name].result(), wanted[name]["description"], override=True)
        except Exception as error:  # noqa: BLE001 - a bad function fails in many ways
            failed.setdefault(name, []).append(
                f"{port} {name}: publishing failed: {_error_text(error)}")
            continue
        report["published"].append([port, name, round(time.monotonic() - started, 2)])
    for name, endpoint in deployed.items():
        if name not in wanted and source.published_digest(endpoint.description):
            client.remove(name)
            report["removed"].append([port, name])


def _client(order: dict, port: int):
    """TabPy's client for one process: to this host's loopback address, TLS verified for the
    host's name against its CA (TabPy's client would switch verification off)."""
    import requests.adapters
    from tabpy.tabpy_tools.client import Client

    class NamedHost(requests.adapters.HTTPAdapter):
        """Connects to the address in the URL, checks the certificate for the host's name."""

        def init_poolmanager(self, *args, **kwargs):
            kwargs.update(server_hostname=order["fqdn"], assert_hostname=order["fqdn"])
            super().init_poolmanager(*args, **kwargs)

    scheme = "https" if order["https"] else "http"
    client = Client(f"{scheme}://127.0.0.1:{port}/")
    session = client._service.service_client.network_wrapper.session
    session.verify = order["ca_file"] or True
    if order["https"]:
        session.mount("https://", NamedHost())
    if order["credentials"]:
        client.set_credentials(*order["credentials"])
    client._wait_for_endpoint_deployment = functools.partial(_wait_until_loaded, client)
    return client


#: Seconds between looks at a loading endpoint: TabPy 2.16 answers the POST only once it
#: loaded the object, so the first look finds it; TabPy's client sleeps a second first.
LOOKS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
LOAD_TIMEOUT = 10.0  # as TabPy's client


def _wait_until_loaded(client, endpoint_name: str, version: int = 1) -> None:
    """What TabPy's client's _wait_for_endpoint_deployment does (the same errors), looking at
    once and then less and less often."""
    started = time.monotonic()
    for look in itertools.count():
        time.sleep(LOOKS[min(look, len(LOOKS) - 1)])
        endpoint = client.get_status().get(endpoint_name)
        if endpoint and endpoint["status"] == "LoadFailed":
            raise RuntimeError(f'LoadFailed: {endpoint["last_error"]}')
        if endpoint and endpoint["status"] == "LoadSuccessful" \
                and endpoint["version"] >= version:
            return
        if time.monotonic() - started > LOAD_TIMEOUT:
            break
    raise RuntimeError(f"Waited more than {LOAD_TIMEOUT:.0f} s for deployment")


def _publish(client, item: dict) -> None:
    client.deploy(item["name"], load(item), item["description"], override=True)


def load(item: dict):
    """The function object to pickle: the analyst's file run as a module of its own (not
    importable by name, so cloudpickle carries its code by value), or a pre-built model's
    function with only the imports of its script (never its module-level downloads)."""
    if item["prebuilt"]:
        import tabpy

        path = os.path.join(os.path.dirname(tabpy.__file__), "models", "scripts",
                            item["source"])
        with open(path, encoding="utf-8") as script:
            text = _imports_and_function(script.read(), item["entry"],
                                         item["renamed_keywords"])
    else:
        text = item["source"]
    module = types.ModuleType(f"tabpy_provision_function_{item['name'].replace(' ', '_')}")
    exec(compile(text, f"{item['name']}.py", "exec"), module.__dict__)  # noqa: S102
    function = module.__dict__[item["entry"]]
    function.__doc__ = source.stored_docstring(function.__doc__)
    return function


def _imports_and_function(text: str, entry: str, renamed: dict) -> str:
    """A script's imports and its function `entry`, keywords the libraries renamed since
    ({callee: {old: new}}) renamed in its calls."""
    tree = ast.parse(text)
    kept = [node for node in tree.body
            if (isinstance(node, ast.Import | ast.ImportFrom)
                and not _setup_import(node))
            or (isinstance(node, ast.FunctionDef) and node.name == entry)]
    for node in ast.walk(ast.Module(body=kept, type_ignores=[])):
        callee = getattr(node, "func", None)
        if isinstance(node, ast.Call) and isinstance(callee, ast.Name) and callee.id in renamed:
            for keyword in node.keywords:
                keyword.arg = renamed[callee.id].get(keyword.arg, keyword.arg)
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def _setup_import(node) -> bool:
    """TabPy's deploy helper and the ssl module its scripts use to switch verification off."""
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
        [alias.name for alias in node.names]
    return any(name.startswith(("tabpy", "ssl")) for name in names)


def _example_problem(client, item: dict) -> str | None:
    for example in item["examples"]:
        checked = source.Example(example["call"], example["data"], example["expected"])
        data = example["data"]
        try:
            answer = client.query(item["name"], *data) if isinstance(data, list) else \
                client.query(item["name"], **data)
        except Exception as error:  # noqa: BLE001 - TabPy's client raises many kinds
            return f"{checked.call} failed: {_error_text(error)}"
        problem = checked.answer_problem(answer.get("response"))
        if problem:
            return problem
    return None


def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    body = getattr(response, "text", "") if response is not None else ""
    with contextlib.suppress(ValueError, AttributeError):
        body = json.loads(body).get("info", body)
    return " ".join(f"{type(error).__name__} {body or error}".split())[:300]


def _roll_back(client, port: int, name: str, record: dict) -> str:
    previous = record.get(name)
    try:
        if previous:
            _publish(client, previous)
            return f"{port} {name}: back to the version that passed before"
        client.remove(name)
        return f"{port} {name}: removed (no version passed before)"
    except Exception as error:  # noqa: BLE001
        return f"{port} {name}: rollback failed: {_error_text(error)}"


def _read_record(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as found:
            return json.load(found)
    except FileNotFoundError:
        return {}


def _write_record(path: str, passed: dict) -> None:
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".functions-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(passed, out, sort_keys=True)
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())

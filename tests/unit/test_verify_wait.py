"""wait_for_tabpy: retries transient failures, stops at once on final ones or when told."""

from tabpy_provision.server.verify import CheckResult, wait_for_tabpy


def sequence(*results):
    calls = []

    def check(**_):
        calls.append(1)
        return results[min(len(calls), len(results)) - 1]

    return check, calls


def test_retries_until_it_passes():
    check, calls = sequence(CheckResult(False, "refused"), CheckResult(True, "ok"))
    result = wait_for_tabpy(5, check=check)
    assert result.ok and len(calls) == 2


def test_final_failure_returns_at_once():
    check, calls = sequence(CheckResult(False, "GET /info answered HTTP 401", final=True))
    result = wait_for_tabpy(30, check=check)
    assert not result.ok and result.final and len(calls) == 1
    assert result.detail == "GET /info answered HTTP 401"


def test_give_up_reason_is_reported():
    check, _ = sequence(CheckResult(False, "refused"))
    result = wait_for_tabpy(30, check=check, give_up=lambda: "TabPy exited")
    assert not result.ok and "TabPy exited after" in result.detail and result.seconds < 5


def test_deadline():
    check, calls = sequence(CheckResult(False, "refused"))
    result = wait_for_tabpy(0.6, check=check)
    assert not result.ok and "gave up after" in result.detail and len(calls) >= 2


def test_models_count_as_loaded_once_status_has_each_at_its_version():
    """A loopback HTTP server answering /endpoints and /status as TabPy does while it loads."""
    import http.server
    import json
    import threading

    from tabpy_provision.server.verify import check_models_loaded

    answers = {"/endpoints": {"a": {"version": 2}, "b": {"version": 1}},
               "/status": {"a": {"version": 1, "status": "LoadSuccessful"}}}

    class TabPyWhileLoading(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), TabPyWhileLoading)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    where = dict(fqdn="localhost", address="127.0.0.1", port=server.server_port, https=False)
    try:
        waiting = check_models_loaded(**where)
        assert not waiting.ok and "still loads 2 of its 2 models (a, b" in waiting.detail
        answers["/status"] = {"a": {"version": 2, "status": "LoadSuccessful"},
                              "b": {"version": 1, "status": "LoadInProgress"}}
        assert "still loads 1 of its 2 models (b" in check_models_loaded(**where).detail
        answers["/status"]["b"]["status"] = "LoadFailed"
        assert check_models_loaded(**where).ok  # a model that failed to load is not awaited
    finally:
        server.shutdown()

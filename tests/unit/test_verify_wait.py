"""wait_for_tabpy: retries transient failures, stops at once on final ones or when told."""

from tabpy_provision.verify import CheckResult, wait_for_tabpy


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

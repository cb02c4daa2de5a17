from tabpy_provision.scheduled_backup import one_line_reason


def test_reason_from_the_summary():
    output = """--> Starting operation: Summary of failed hosts
    [tabpy1.example.com] 2 host(s) failed; a rerun finishes them:
    [tabpy1.example.com]   tabpy2.example.com: failed in 'Back up TabPy'
    [tabpy1.example.com]   tabpy3.example.com: unreachable (could not connect)
    [tabpy1.example.com] No changes
--> Results:"""
    assert one_line_reason(output) == ("tabpy2.example.com: failed in 'Back up TabPy'; "
                                       "tabpy3.example.com: unreachable (could not connect)")


def test_reason_from_host_errors_when_no_host_was_left():
    output = """--> Connecting to hosts...
    [tabpydr.lab.test]  Could not connect (timed out)
--> pyinfra error: No hosts remaining!"""
    assert one_line_reason(output) == "tabpydr.lab.test: Could not connect (timed out)"


def test_reason_falls_back_to_the_last_line():
    assert one_line_reason("--> Loading config...\n--> pyinfra error: bad inventory") == \
        "--> pyinfra error: bad inventory"

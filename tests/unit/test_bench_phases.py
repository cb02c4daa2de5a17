"""The bench's phase breakdown of a deploy's output (bench/phases.py)."""

from bench import phases


def test_time_between_markers_is_summed_by_phase():
    lines = [(0.5, "--> Connecting to hosts..."), (1.0, "--> Preparing operation files..."),
             (1.5, "--> Beginning operation run..."),
             (3.0, "--> Starting operation: deploy/tabpy.py | TabPy server | TabPy 2.16.0 "
                   "virtualenv"),
             (3.2, "    [tabpy1.lab.test] Success"),
             (7.0, "--> Starting operation: deploy/tabpy.py | TabPy server | Health check as "
                   "Tableau would do it"),
             (8.0, "--> Starting operation: deploy/tabpy.py | TabPy server | Prune old releases"),
             (8.5, "--> Results:"), (9.0, "--> end")]
    assert phases.breakdown(lines) == {
        "start, inventory": 0.5, "connect": 0.5, "check (facts, plans of every host)": 0.5,
        "other operations": 1.5 + 0.5, "virtualenv (wheelhouse upload and install)": 4.0,
        "checks (health, pool, through the pool)": 1.0, "results, disconnect": 0.5}

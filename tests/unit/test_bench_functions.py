"""The functions bench's reading of a deploy's output, and the lab variants benches deploy."""

import runpy

from bench import functions, lab_variant


def test_publish_seconds_are_summed_per_host_and_port():
    lines = [(1.0, "    [tabpy2.lab.test] published 'anova' on port 9101 (0.4 s)"),
             (1.5, "    [tabpy2.lab.test] published 'Sentiment Analysis' on port 9101 (1.25 s)"),
             (2.0, "    [tabpy2.lab.test] published 'anova' on port 9102 (0.5 s)"),
             (2.1, "    [tabpy2.lab.test] removed 'old' from port 9102"),
             (2.2, "--> Starting operation: deploy/tabpy.py | published 'x' on port 1 (9 s)")]
    assert functions.publish_seconds(lines) == {("tabpy2.lab.test", 9101): 1.65,
                                                ("tabpy2.lab.test", 9102): 0.5}


def test_a_lab_variant_overrides_the_tabpy_servers_data_and_keeps_the_groups_asked(tmp_path):
    every = runpy.run_path(str(lab_variant(tmp_path, "every", tabpy_instances=2)))
    assert {name for name, _ in every["tabpy_servers"][0]} == {"tabpy1.lab.test",
                                                               "tabpy2.lab.test"}
    assert every["tabpy_servers"][1]["tabpy_instances"] == 2
    assert {"tabpy_lb", "clients", "tableau_servers"} <= set(every)
    one = runpy.run_path(str(lab_variant(tmp_path, "one", "tabpy1.lab.test",
                                         ("clients",), tabpy_instances=4)))
    assert [name for name, _ in one["tabpy_servers"][0]] == ["tabpy1.lab.test"]
    assert "clients" in one and "tabpy_lb" not in one and "tableau_servers" not in one

"""`tabpy-provision`: one argument style, the one check of every inventory before anything else,
exit codes a drift check can read, previews read from the run (not from its printed log)."""

from __future__ import annotations

import argparse
import ast
import json
import os
from pathlib import Path

import jsonschema
import pytest

from tabpy_provision.cli import common, init, jobs
from tabpy_provision.cli.main import COMMANDS, main, parser
from tabpy_provision.run import report as run_report

SCHEMAS = Path(jobs.__file__).with_name("schemas")
CLI = Path(jobs.__file__).parent
#: Every subcommand that reads an inventory, with what it needs besides `-i`.
READS_INVENTORY = [["deploy", "--dry"], ["deploy", "tabpy"], ["rotate", "--dry"], ["backup"],
                   ["backup", "--log", "/nonexistent/log"], ["restore", "--dry"],
                   ["failover", "--from", "x"], ["check"], ["check", "--json"], ["certs"],
                   ["password", "tableau"], ["ca", "rotate-root"], ["state", "backup"],
                   ["state", "restore", "/nonexistent/archive"]]


def misspelled(tmp_path: Path) -> str:
    path = tmp_path / "inventory.py"
    path.write_text("tabpy_servers = ([('a.example.com', {'tabpy_evalute_timeout': 5})], {})\n")
    return str(path)


@pytest.mark.parametrize("argv", READS_INVENTORY, ids=" ".join)
def test_every_subcommand_refuses_a_misspelled_setting_before_anything(argv, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setattr(common, "run_deploy", lambda *a, **k: pytest.fail("pyinfra ran"))
    assert main([*argv, "-i", misspelled(tmp_path)]) == common.ERROR
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "tabpy-provision: a.example.com: tabpy_evalute_timeout: unknown setting (did you mean "
        "tabpy_evaluate_timeout?)", "tabpy-provision: refused (1 problem); nothing was changed"]
    assert captured.out == ""


def test_the_list_of_inventory_readers_is_complete():
    every = {name for name, sub in _subcommands().items() if _reads_inventory(sub)}
    assert every == {argv[0] for argv in READS_INVENTORY}


def _subcommands(top: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    top = top or parser()
    found = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def _reads_inventory(command: argparse.ArgumentParser) -> bool:
    return "--inventory" in command.format_help() or any(
        _reads_inventory(sub) for sub in _subcommands(command).values())


def test_every_subcommand_has_help_and_a_missing_inventory_is_one_line(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in _subcommands():
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
    capsys.readouterr()
    assert main(["check"]) == common.ERROR
    assert capsys.readouterr().err.startswith(
        "tabpy-provision: inventory.py: no such inventory file (run from the site folder, or "
        "give -i INVENTORY)")


def test_a_usage_error_is_never_read_as_changes_pending(capsys):
    for argv in (["deploy", "--bogus"], ["nonesuch"], ["ca"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == common.ERROR
    assert main(["deploy", "--json", "-i", "/dev/null"]) == common.ERROR
    assert "--json: only with --dry" in capsys.readouterr().err


def test_init_makes_a_site_whose_inventory_passes_the_one_check(tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["init", str(site)]) == common.OK
    assert sorted(p.name for p in site.iterdir()) == [".gitignore", "functions", "inventory.py",
                                                      "locks"]
    ignored = site.joinpath(".gitignore").read_text().split()
    assert {"/pki/", "/secrets/", "/backups/"} <= set(ignored)
    state = common.load_state(argparse.Namespace(inventory=str(site / "inventory.py")))
    assert [h.name for h in state.inventory] == ["tabpy1.example.com"]
    before = sorted(site.rglob("*"))
    assert main(["init", str(site)]) == common.ERROR
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert sorted(site.rglob("*")) == before


def test_the_skeleton_is_in_the_package():
    assert {p.name for p in init.SKELETON.iterdir()} >= {"inventory.py", "gitignore"}


PYINFRA_PLAN = {"plan": [
    {"name": "tabpy.py | TabPy server | Install", "hosts_with_change": ["tabpy1"],
     "hosts_with_conditional_change": []},
    {"name": "tabpy.py | TabPy server | Reload systemd units", "hosts_with_change": [],
     "hosts_with_conditional_change": ["tabpy1", "tabpy2"]}], "results": None}


@pytest.mark.parametrize(("plan", "controller", "pending"), [
    (PYINFRA_PLAN, [], True),
    ({"plan": PYINFRA_PLAN["plan"][1:], "results": None}, [], False),  # only conditional
    ({"plan": [], "results": None}, ["create pki/ca"], True),
    ({"plan": [], "results": None}, [], False)])
def test_a_preview_is_pending_when_a_certain_change_or_a_controller_write_is(plan, controller,
                                                                             pending):
    found = jobs.preview(common.RunResult(0, plan, {"controller": controller, "failures": {}}))
    jsonschema.validate(found, json.loads((SCHEMAS / "plan.json").read_text()))
    assert found["changes_pending"] is pending
    assert ("changes pending" if pending else "nothing would change") in jobs.preview_text(found)


def test_a_run_reports_through_a_nameless_file(monkeypatch, tmp_path):
    with open(tmp_path / "report", "w+b") as report:
        monkeypatch.setenv(run_report.ENVIRONMENT_KEY, str(report.fileno()))
        run_report.controller_writes(["create pki/lab/ca (0700)"])
        run_report.failures({"tabpy2": "failed in 'Install'"})
        run_report.failures({"tabpy2": "TabPy did not start", "tabpy1": "x"})
        report.seek(0)
        merged = run_report.read(report.readlines())
    assert merged == {"controller": ["create pki/lab/ca (0700)"],
                      "failures": {"tabpy2": "TabPy did not start", "tabpy1": "x"}}
    monkeypatch.delenv(run_report.ENVIRONMENT_KEY)
    run_report.failures({"a": "b"})  # a plain pyinfra run: nowhere to report, nothing done


def test_failure_lines_name_each_failed_host_with_the_runs_own_reason():
    done = common.RunResult(1, {"results": {"failed_hosts": ["a", "b"]}},
                            {"controller": [], "failures": {"a": "TabPy did not start"}})
    assert jobs.failure_lines(done) == ["a: TabPy did not start",
                                        "b: unreachable (could not connect)"]


def test_no_command_imports_another():
    commands = {module.__name__ for module in COMMANDS}
    for module in COMMANDS:
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {node.module + ("." + alias.name if node.module == "tabpy_provision.cli"
                                   else "")
                    for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module for alias in node.names}
        assert not imported & (commands - {module.__name__}), module.__name__


@pytest.mark.parametrize("name", ["plan", "check", "certs"])
def test_the_schemas_are_valid_json_schemas(name):
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == f"tabpy-provision/{name}/1"


def test_the_reports_schema_names_match_the_commands():
    from tabpy_provision.cli import certs, check
    ids = [json.loads((SCHEMAS / f"{n}.json").read_text())["$id"] for n in ("check", "certs",
                                                                           "plan")]
    assert ids == [check.SCHEMA, certs.SCHEMA, jobs.PLAN_SCHEMA]


def test_python_dash_m_is_the_same_command():
    assert os.path.isfile(CLI.parent / "__main__.py")


def test_a_bad_value_is_refused_by_reports_and_left_to_a_jobs_run_which_lists_all(
        tmp_path, capsys, monkeypatch):
    """A job's run checks values with its plans' own checks (every problem of a host at once);
    a report refuses them itself."""
    path = tmp_path / "inventory.py"
    path.write_text("tabpy_servers = ([('a.example.com', {'tabpy_port': -1})], {})\n")
    ran = []
    monkeypatch.setattr(common, "run_deploy", lambda *a, **k: ran.append(a) or common.RunResult(
        1, {}, {"controller": [], "failures": {}}))
    assert main(["check", "-i", str(path)]) == common.ERROR
    assert "a.example.com: tabpy_port: must be an integer from 1 to 65535, got -1" in \
        capsys.readouterr().err
    assert ran == []
    assert main(["deploy", "--dry", "-i", str(path)]) == common.ERROR
    assert len(ran) == 1

"""The tool as a new user installs it: `pip install` of this repository into an empty
virtualenv gives `tabpy-provision`; `init` makes a site folder apart from the tool; from that
folder, with the lab's inventory and the lab's controller state restored into it, `deploy`
converges the lab, `check --json` and `deploy --dry --json` validate against their schemas, and
the preview's exit code tells "in order" (0) from "drift" (2): a file changed by hand on a host
is drift, until the next deploy puts it back. Upgrading the tool touches nothing of the site."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.integration.conftest import LAB_INVENTORY, ROOT, lab_host, lab_plans

pytestmark = pytest.mark.lab

SCHEMAS = ROOT / "tabpy_provision" / "cli" / "schemas"
STATE_KEY = {"TABPY_LAB_STATE_KEY": "lab state key: long enough and only for tests"}
HOST = "tabpy1.lab.test"


@pytest.fixture(scope="module")
def tool(installed_tool) -> Path:
    return installed_tool


@pytest.fixture(scope="module")
def site(tool, tmp_path_factory, converged) -> Path:
    """A site folder made by `init`, holding what a company's own repository holds for the
    lab: its inventory, functions and extras locks; and the lab's controller state, restored
    from the encrypted archive `state backup` made in this repository."""
    folder = tmp_path_factory.mktemp("company") / "site"
    made = run(tool, "init", str(folder), cwd=folder.parent)
    assert made.returncode == 0, made.stderr
    (folder / "inventory.py").write_text(
        "import runpy, sys\n"
        f"sys.path.append({str(ROOT)!r})  # the lab's own module (its SSH key and known hosts)\n"
        f"lab = runpy.run_path({str(ROOT / LAB_INVENTORY)!r})\n"
        "globals().update({name: value for name, value in lab.items()\n"
        "                  if isinstance(value, (tuple, list)) and not name.startswith('_')})\n")
    shutil.copytree(ROOT / "functions" / "lab", folder / "functions" / "lab")
    for lock in (ROOT / "locks").glob("*.txt"):
        shutil.copy(lock, folder / "locks")
    archive = folder.parent / "lab.tabpy-controller"
    backed_up = subprocess.run(
        [sys.executable, "-m", "tabpy_provision", "state", "backup", "-i", LAB_INVENTORY,
         "--out", str(archive)], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **STATE_KEY}, check=False)
    assert backed_up.returncode == 0, backed_up.stderr
    restored = run(tool, "state", "restore", str(archive), cwd=folder)
    assert restored.returncode == 0, restored.stderr
    return folder


def run(tool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, **STATE_KEY}
    environment.pop("PYTHONPATH", None)  # the installed package, never this checkout's
    return subprocess.run([str(tool), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=environment, check=False)


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def site_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_installed_tool_runs_from_a_site_folder_of_its_own(tool, site):
    shown = run(tool, "--help", cwd=site)
    assert shown.returncode == 0 and "deploy" in shown.stdout
    where = subprocess.run([str(tool.with_name("python")), "-c",
                            "import tabpy_provision; print(tabpy_provision.__file__)"],
                           capture_output=True, text=True, check=True, cwd=site)
    assert "site-packages" in where.stdout  # not this checkout
    assert not any((site / name).exists() for name in ("tabpy_provision", "deploy", "tests"))
    assert set((site / ".gitignore").read_text().split()) >= {"/pki/", "/secrets/", "/backups/"}


def test_deploy_converges_the_lab_and_the_preview_tells_drift_from_order(tool, site):
    deployed = run(tool, "deploy", cwd=site)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert (site / "pki" / "lab").is_dir()  # the site's, restored; nothing under the tool
    in_order = run(tool, "deploy", "--dry", "--json", cwd=site)
    assert in_order.returncode == 0, in_order.stderr[-3000:]
    plan = json.loads(in_order.stdout)
    jsonschema.validate(plan, schema("plan"))
    assert plan["changes_pending"] is False and plan["controller"] == []

    checked = run(tool, "check", "--json", cwd=site)
    table = json.loads(checked.stdout)
    jsonschema.validate(table, schema("check"))
    assert checked.returncode == 0 and table["ok"], checked.stdout[-3000:]

    ca_path = lab_plans()[HOST].ca_path
    host = lab_host(HOST)
    host.run_test(f"printf '# changed by hand\\n' >> {ca_path}")
    drift = run(tool, "deploy", "--dry", "--json", cwd=site)
    assert drift.returncode == 2, drift.stderr[-3000:]
    plan = json.loads(drift.stdout)
    jsonschema.validate(plan, schema("plan"))
    assert [step["would"] for step in plan["hosts"][HOST]
            if step["operation"].endswith("CA certificate (for checks on the host)")] == \
        ["change"], plan
    assert "# changed by hand" in host.file(ca_path).content_string  # a preview changed nothing

    repaired = run(tool, "deploy", cwd=site)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert "# changed by hand" not in host.file(ca_path).content_string
    assert run(tool, "deploy", "--dry", cwd=site).returncode == 0


def test_certs_json_validates_and_a_misspelled_setting_is_refused(tool, site):
    certs = run(tool, "certs", "--json", cwd=site)
    report = json.loads(certs.stdout)
    jsonschema.validate(report, schema("certs"))
    assert certs.returncode == (0 if report["ok"] else 1)
    (site / "typo.py").write_text((site / "inventory.py").read_text().replace(
        "and not name.startswith('_')})\n",
        "and not name.startswith('_')})\n"
        "hosts, data = tabpy_servers\n"
        "tabpy_servers = (hosts, {**data, 'tabpy_evalute_timeout': 5})\n"))
    for argv in (["deploy", "--dry"], ["check"], ["certs"], ["password", "tableau"]):
        refused = run(tool, *argv, "-i", "typo.py", cwd=site)
        assert refused.returncode == 1
        assert refused.stderr.endswith("tabpy_evalute_timeout: unknown setting (did you mean "
                                       "tabpy_evaluate_timeout?)\ntabpy-provision: refused (2 "
                                       "problems); nothing was changed\n"), refused.stderr


def test_upgrading_the_tool_touches_nothing_of_the_site(tool, site):
    before = site_files(site)
    upgraded = subprocess.run([str(tool.with_name("pip")), "install", "--quiet",
                               "--force-reinstall", "--no-deps", str(ROOT)], cwd=site,
                              capture_output=True, text=True, timeout=300, check=False)
    assert upgraded.returncode == 0, upgraded.stderr
    assert site_files(site) == before

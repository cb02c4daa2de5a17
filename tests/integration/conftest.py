"""Fixtures for tests on the lab hosts (real sshd, systemd, TabPy): lab/, inventory/lab.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab import paths
from lab.hosts import LAB_HOSTS
from tabpy_provision.cli import common, password
from tabpy_provision.server.plan import plan_tabpy_server
from tabpy_provision.settings import groups

ROOT = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
LAB_INVENTORY = "inventory/lab.py"
TABPY_HOSTS = [h.fqdn for h in LAB_HOSTS if "tabpy_servers" in h.groups]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def results(self) -> list[dict]:
        return json.loads(self.stdout)["results"]["operations"]

    def changed(self) -> dict[str, list[str]]:
        """Operation name -> hosts where it changed something."""
        return {op["name"]: op["success"] for op in self.results() if op["success"]}

    def errors(self) -> dict[str, list[str]]:
        return {op["name"]: op["error"] for op in self.results() if op["error"]}


def pyinfra(*args: str, inventory: str = LAB_INVENTORY, entry: str = "deploy/site.py",
            timeout: float = 600, env: dict[str, str] | None = None,
            wrapper: list[str] | None = None) -> Run:
    """`wrapper`: a command pyinfra's own runs under (it measures it)."""
    done = subprocess.run([*(wrapper or []), PYINFRA, "-y", *args, inventory, entry], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})
    return Run(done.returncode, done.stdout, done.stderr)


def lab_inventory_with(folder: Path, *, tableau: dict | None = None,
                       pool: dict | bool | None = None, rserve: bool = True,
                       hosts: dict[str, dict] | None = None, **tabpy_group_data) -> str:
    """A copy of the lab inventory whose tabpy_servers group data is overridden; `tableau`:
    the Tableau Server node's settings in place of the lab's connection to the pool; `pool`:
    added to the tabpy_lb group's data (False: no pool balancer in the inventory); `rserve`:
    False leaves the Rserve server out; `hosts`: data added to single hosts by name."""
    path = folder / "lab_inventory_variant.py"
    path.write_text(
        "import runpy\n"
        f"inventory = runpy.run_path({str(ROOT / LAB_INVENTORY)!r})\n"
        f"extra = {hosts or {}!r}\n"
        "def with_extra(hosts, data=None):\n"
        "    return [(name, {**host_data, **(data or {}), **extra.get(name, {})})\n"
        "            for name, host_data in hosts]\n"
        "hosts, data = inventory['tabpy_servers']\n"
        f"tabpy_servers = (with_extra(hosts), {{**data, **{tabpy_group_data!r}}})\n"
        "tableau_hosts, tableau_data = inventory['tableau_servers']\n"
        # a test's own Tableau settings replace the lab's connection (not its secrets_dir)
        + (f"tableau_servers = (with_extra(tableau_hosts, {tableau!r}), "
           "{'secrets_dir': tableau_data['secrets_dir']})\n" if tableau is not None else
           "tableau_servers = (with_extra(tableau_hosts), tableau_data)\n") +
        "clients = with_extra(inventory['clients'])\n"
        + ("rserve_hosts, rserve_data = inventory['rserve_servers']\n"
           "rserve_servers = (with_extra(rserve_hosts), rserve_data)\n" if rserve else "")
        + ("" if pool is False else
           "lb_hosts, lb_data = inventory['tabpy_lb']\n"
           f"tabpy_lb = (with_extra(lb_hosts), {{**lb_data, **{pool or {}!r}}})\n"))
    return str(path)


def wrong_key_site(folder: Path, module: str, planner: str, host: str) -> Path:
    """A site deploy whose plan for `host` (made by `module`.`planner`) carries a key that does
    not match its certificate: the checks would refuse it, so the deploy replaces the planner
    to reach the host."""
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (folder / "wrong.key").write_bytes(key)
    deploy = folder / "wrong_key_site.py"
    deploy.write_text(
        "import dataclasses\n"
        "from pyinfra import local\n"
        f"import {module} as planning\n"
        f"real = planning.{planner}\n"
        f"wrong = open({str(folder / 'wrong.key')!r}, 'rb').read()\n"
        "def planner(name, data, **kwargs):\n"
        "    plan = real(name, data, **kwargs)\n"
        f"    if name != {host!r}:\n"
        "        return plan\n"
        "    return dataclasses.replace(plan, tls=dataclasses.replace(plan.tls, key_pem=wrong))\n"
        f"planning.{planner} = planner\n"
        "local.include('deploy/site.py')\n")
    return deploy


def tabpy_hosts(inventory: str = LAB_INVENTORY) -> list[tuple[str, dict]]:
    """(name, data) of an inventory's TabPy servers, read as every command reads it."""
    loaded = common.load_state(argparse.Namespace(inventory=inventory)).inventory
    return common.group_data(loaded, groups.TABPY_SERVERS)


def lab_plans(inventory: str = LAB_INVENTORY) -> dict:
    """The TabPy server plans of an inventory, as a deploy would make them (secrets resolved)."""
    return {name: plan_tabpy_server(name, data) for name, data in tabpy_hosts(inventory)}


def find_password(inventory: str, user: str) -> str:
    """A TabPy user's password, as `tabpy-provision password` finds it."""
    loaded = common.load_state(argparse.Namespace(inventory=inventory)).inventory
    return password.find_password(loaded, user)


def lab(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, timeout=600)


def lab_host(name: str):
    """A testinfra host over the lab's ssh_config (strict host keys)."""
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(paths.ssh_config_path()))


class ProcessSampler:
    """Samples every process command line on lab hosts while its `with` block runs, from a
    loop on each host (`ps` every 50 ms, so a process living a fraction of a second is seen; at
    most 30,000 samples a host).

    Positive control: once sampling runs, a 0.3 s process carrying a known marker on its
    command line is started on each host; `saw_canary()` says whether every host's samples
    caught it (a sampler that cannot see it proves nothing).

    No thread: pyinfra's gevent patches this process's threading mid-suite, and a thread
    started on one side of that is joined only when its timeout ends (the sudo test waited
    120 s for a sampler long done)."""

    LOOP = ("for i in $(seq 30000); do ps -eo args; echo @@; read -t 0.05 _; "
            "[ $? -gt 128 ] || break; done")

    def __init__(self, hosts: list[str] = TABPY_HOSTS, ssh_user: str = "root"):
        self.hosts, self.ssh_user = hosts, ssh_user
        self.samples: list[str] = []
        self.canary = f"tabpy-provision-canary-{os.getpid()}-{id(self)}"
        self._canary_seen: dict[str, bool] = {}

    def _ssh(self, fqdn: str, command: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ssh", "-F", str(paths.ssh_config_path()), "-l", self.ssh_user,
                                 fqdn, command],
                                **kwargs)

    def __enter__(self) -> ProcessSampler:
        self._files = contextlib.ExitStack()
        self._outputs = {fqdn: self._files.enter_context(
            tempfile.TemporaryFile())  # noqa: SIM115 (closed by the ExitStack at __exit__)
                         for fqdn in self.hosts}
        self._loops = {fqdn: self._ssh(fqdn, f"bash -c {shlex.quote(self.LOOP)}",
                                       stdin=subprocess.PIPE, stdout=self._outputs[fqdn])
                       for fqdn in self.hosts}
        time.sleep(0.5)  # sampling runs before the work does
        self._canaries = [self._ssh(fqdn, f"bash -c 'exec -a {self.canary} sleep 0.3'")
                          for fqdn in self.hosts]
        return self

    def __exit__(self, *exc) -> None:
        with self._files:
            for canary in self._canaries:
                canary.wait(timeout=30)
            for fqdn, loop in self._loops.items():
                loop.stdin.close()
                loop.wait(timeout=30)
                self._outputs[fqdn].seek(0)
                found = self._outputs[fqdn].read().decode(errors="replace").split("@@\n")
                self._canary_seen[fqdn] = any(self.canary in sample for sample in found)
                self.samples += [sample for sample in found if self.canary not in sample]

    def saw_canary(self) -> bool:
        return bool(self._canary_seen) and all(self._canary_seen.values())


class StartCounter:
    """Counts TabPy starts per host from the journal, from now on."""

    def __init__(self):
        self.cursors = {fqdn: lab_host(fqdn).check_output(
            "journalctl -u tabpy -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'")
            for fqdn in TABPY_HOSTS}

    def starts(self) -> dict[str, int]:
        # pipefail: a journalctl that fails fails the test (it never reads as "0 starts")
        def count(cursor: str) -> str:
            return (f"set -o pipefail; journalctl -u tabpy --no-pager --after-cursor="
                    f"{shlex.quote(cursor)} | {{ grep -c 'Started tabpy.service' || true; }}")

        return {fqdn: int(lab_host(fqdn).check_output(f"bash -c {shlex.quote(count(cursor))}"))
                for fqdn, cursor in self.cursors.items()}


@pytest.fixture(scope="session")
def lab_up():
    lab("up")


@pytest.fixture(scope="session")
def converged(lab_up) -> tuple[Run, Run]:
    """The whole lab deployed twice: (first run, second run)."""
    first = pyinfra("--json")
    assert first.returncode == 0, first.stderr[-3000:]
    second = pyinfra("--json")
    assert second.returncode == 0, second.stderr[-3000:]
    return first, second


class Installation:
    """`pip install` of this repository into a fresh virtualenv, started as soon as pytest knows
    a test needs it (test_installed_tool.py) so it runs while the lab tests before it do."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tabpy-provision-installed-"))
        venv = self.folder / "venv"
        self.tool = venv / "bin" / "tabpy-provision"
        self.log = self.folder / "pip.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["sh", "-c", f"{shlex.quote(sys.executable)} -m venv {shlex.quote(str(venv))} "
                 f"&& {shlex.quote(str(venv / 'bin' / 'pip'))} install --quiet "
                 f"{shlex.quote(str(ROOT))}"], stdout=log, stderr=subprocess.STDOUT)

    def finished(self) -> Path:
        assert self.process.wait(timeout=900) == 0, self.log.read_text()[-3000:]
        return self.tool

    def remove(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


INSTALLATION: list[Installation] = []


def pytest_collection_finish(session):
    if any(item.module.__name__.endswith("test_installed_tool") for item in session.items):
        INSTALLATION.append(Installation())


def pytest_sessionfinish(session):
    for installation in INSTALLATION:
        installation.remove()


@pytest.fixture(scope="session")
def installed_tool() -> Path:
    """`tabpy-provision` of a fresh virtualenv with this repository pip-installed in it."""
    return INSTALLATION[0].finished()

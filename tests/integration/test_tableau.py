"""Tableau Server's side on the lab, through stand-ins (no Tableau Server can run here): tsm of
Tableau 2018.3 and 2019.4 and the REST API of 2021.4 on tableau1 (tests/standins, installed
here in place of the lab's own 2019.4 stand-in, lab/tableau.py, which is put back at the end;
never by the deploy). Each path: the first run configures and applies once, a rerun applies
nothing, a password rotation applies once with the new password, an untrusted CA fails the run
with the TLS error; bad inputs stop the run before any change; no secret leaks."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lab import machine, paths
from lab import tableau as lab_tableau
from lab.hosts import get_host
from tabpy_provision import tableau
from tabpy_provision.trust import plan as trust
from tests.company_ca import CompanyCa
from tests.integration.conftest import (
    LAB_INVENTORY,
    ROOT,
    TABPY_HOSTS,
    ProcessSampler,
    StartCounter,
    find_password,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab

TABLEAU = "tableau1.lab.test"
STANDINS = ROOT / "tests" / "standins"
VERSION_CODES = {"2018.3": "20183.18.1128.2033", "2019.4": "20194.19.1105.1444",
                 "2021.4": "20214.21.1217.2252"}
STATE_DIR = "/var/lib/tableau-standin"
REST_DIR = "/opt/tableau-standin"
REST_CONFIG = "/etc/tableau-standin"
UNIT = "tableau-rest-standin.service"
ADMIN = "tabadmin"  # a local account in the TSM-authorized group
TOKEN_NAME = "tabpy-provision"
ENDPOINT = {"tableau_tabpy_host": TABPY_HOSTS[0], "tableau_tabpy_user": "tableau"}
ANCHORS = trust.LINUX_STORES["debian"].anchor_dir


def ssh(command: str, stdin: str | None = None, check: bool = True
        ) -> subprocess.CompletedProcess:
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), TABLEAU, command],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 or not check, f"{command}: {done.stderr}"
    return done


def put(local: Path, remote: str, mode: str = "0644") -> None:
    subprocess.run(["scp", "-q", "-F", str(paths.ssh_config_path()), str(local),
                    f"{TABLEAU}:{remote}"], check=True, timeout=30)
    ssh(f"chmod {mode} {shlex.quote(remote)}")


class TableauNode:
    """The stand-ins on tableau1: install, reset, read their state."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.admin_password = secrets.token_urlsafe(18)
        self.token_secret = secrets.token_urlsafe(24)
        self.secret_file = folder / "token-secret"
        self.secret_file.write_text(self.token_secret + "\n")
        self.secret_file.chmod(0o600)
        self.ca = CompanyCa("Tableau test")
        self.ca_file = folder / "tableau-ca.pem"
        self.ca_file.write_bytes(self.ca.root.public_bytes(serialization.Encoding.PEM))

    @property
    def env(self) -> dict[str, str]:
        return {"TABLEAU_IT_TSM": self.admin_password}

    def setup(self) -> None:
        ssh(f"getent group tsmadmin || groupadd --system tsmadmin; id {ADMIN} || "
            f"useradd --create-home --groups tsmadmin {ADMIN}; chpasswd; "
            f"install -d -m 2770 -o root -g tsmadmin {STATE_DIR}",
            stdin=f"{ADMIN}:{self.admin_password}\n")

    def teardown(self) -> None:
        """Everything the tests installed removed, the lab's own stand-in put back (the next
        deploy of the lab inventory connects it again)."""
        ssh(f"systemctl disable --now {UNIT} 2>/dev/null; rm -f /etc/systemd/system/{UNIT}; "
            f"systemctl daemon-reload; rm -rf /opt/tableau {REST_DIR} {REST_CONFIG} {STATE_DIR} "
            f"{tableau.RECORD}; userdel -r {ADMIN} 2>/dev/null; groupdel tsmadmin; true")
        lab_tableau.provision(machine.root_dir(get_host(TABLEAU)))

    def install_tsm(self, version: str | None) -> None:
        """A fresh Tableau Server of `version` (None: no tsm at all), nothing configured."""
        ssh(f"rm -rf /opt/tableau {STATE_DIR}/tsm.json {tableau.RECORD}")
        if version is None:
            return
        folder = f"{tableau.TSM_PACKAGES}/customer-bin.{VERSION_CODES[version]}"
        ssh(f"install -d -m 0755 {folder}")
        put(STANDINS / "tsm_standin.py", f"{folder}/tsm", "0755")
        put(STANDINS / "tableau_standin.py", f"{folder}/tableau_standin.py")

    def start_rest(self, sites: list[str], seed: dict | None = None,
                   cloud: bool = False) -> None:
        """A fresh REST API stand-in (HTTPS on 443, its certificate from the test CA); with
        `cloud`, a Tableau Cloud pod, each site with its own token (TOKEN_NAME-<site>)."""
        self.install_tsm("2021.4")
        leaf, key = self.ca.leaf(TABLEAU)
        chain, key_file = self.folder / "rest.crt", self.folder / "rest.key"
        chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                   for c in (leaf, self.ca.inter)))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        config = {"listen": ["0.0.0.0", 443], "certificate": f"{REST_CONFIG}/rest.crt",
                  "key": f"{REST_CONFIG}/rest.key", "state": f"{STATE_DIR}/rest.json",
                  "tokens": {TOKEN_NAME: {"secret": self.token_secret, "site": ""}},
                  "sites": [{"contentUrl": s, "name": s or "Default"} for s in sites],
                  "seed": seed or {}}
        if cloud:
            config.update(cloud=True, tokens={f"{TOKEN_NAME}-{site}": {"secret": self.token_secret,
                                                           "site": site} for site in sites})
        (self.folder / "rest.json").write_text(json.dumps(config))
        ssh(f"systemctl stop {UNIT} 2>/dev/null; rm -f {STATE_DIR}/rest.json; "
            f"install -d -m 0755 {REST_DIR}; install -d -m 0700 {REST_CONFIG}")
        for name in ("tableau_rest_standin.py", "tableau_standin.py"):
            put(STANDINS / name, f"{REST_DIR}/{name}")
        put(chain, f"{REST_CONFIG}/rest.crt")
        put(key_file, f"{REST_CONFIG}/rest.key", "0600")
        put(self.folder / "rest.json", f"{REST_CONFIG}/rest.json", "0600")
        unit = self.folder / UNIT
        unit.write_text("[Unit]\nDescription=Tableau Server REST API STAND-IN (tests)\n"
                        "[Service]\nExecStart=/usr/bin/python3 "
                        f"{REST_DIR}/tableau_rest_standin.py {REST_CONFIG}/rest.json\n")
        put(unit, f"/etc/systemd/system/{UNIT}")
        ssh(f"systemctl daemon-reload && systemctl restart {UNIT}")
        address = get_host(TABLEAU).address
        for _ in range(50):
            try:
                socket.create_connection((address, 443), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(ssh(f"journalctl -u {UNIT} -n 20 --no-pager").stdout)

    def state(self, which: str) -> dict:
        return json.loads(ssh(f"cat {STATE_DIR}/{which}.json").stdout)

    def counters(self, which: str) -> dict:
        return self.state(which)["counters"]


@pytest.fixture(scope="module")
def node(converged, tmp_path_factory):
    node = TableauNode(tmp_path_factory.mktemp("tableau"))
    node.setup()
    yield node
    node.teardown()
    back = pyinfra()  # the lab's own stand-in connected again
    assert back.returncode == 0, why(back)


def tsm_inventory(folder: Path, **data) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return lab_inventory_with(folder, tableau={
        **ENDPOINT, "tableau_tsm_login_user": ADMIN,
        "tableau_tsm_login_password": "env:TABLEAU_IT_TSM", **data})


def rest_inventory(folder: Path, node: TableauNode, **data) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return lab_inventory_with(folder, tableau={
        **ENDPOINT, "tableau_rest_ca_file": str(node.ca_file),
        "tableau_rest_token_name": TOKEN_NAME,
        "tableau_rest_token_secret": f"file:{node.secret_file}", **data})


def why(run) -> str:
    """The lines of a run that say what failed (its output is long)."""
    return "\n".join(line for line in run.output.splitlines()
                     if re.search(r"error|fail|refused|tabpy-provision:", line, re.I))[-4000:]


def deploy(inventory: str, node: TableauNode, *args: str, entry: str = "deploy/site.py"):
    run = pyinfra("--json", *args, inventory=inventory, entry=entry, env=node.env)
    assert run.returncode == 0, why(run)
    return run


def connection_ops(run) -> dict[str, list[str]]:
    return {name: hosts for name, hosts in run.changed().items()
            if "TabPy connection" in name}


def site_check(inventory: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i", inventory],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def tableau_row(inventory: str) -> str:
    done = site_check(inventory)
    [row] = [line for line in done.stdout.splitlines() if line.startswith(TABLEAU)]
    return row


# --- tsm ------------------------------------------------------------------------------------


def test_tsm_2019_sets_the_connection_once_and_a_rerun_applies_nothing(node, tmp_path):
    node.install_tsm("2019.4")
    inventory = tsm_inventory(tmp_path)
    first = deploy(inventory, node)
    assert list(connection_ops(first).values()) == [[TABLEAU]]
    state = node.state("tsm")
    assert state["counters"] == {"apply_calls": 1, "applies": 1, "restarts": 1}
    assert state["pending"] == {}
    config = state["config"]
    assert config["vizqlserver.extsvc.host"] == TABPY_HOSTS[0]
    assert config["vizqlserver.extsvc.port"] == "9004"
    assert config["vizqlserver.extsvc.connection_type"] == "tabpy"
    assert config["vizqlserver.extsvc.ssl.enable"] == "true"
    assert config["vizqlserver.extsvc.username"] == "tableau"
    assert config["vizqlserver.extsvc.password"] == find_password(LAB_INVENTORY, "tableau")
    record = lab_host(TABLEAU).file(tableau.RECORD)
    assert (record.user, record.mode) == ("root", 0o600)

    rerun = deploy(inventory, node)
    assert rerun.changed() == {}, rerun.changed()
    assert node.counters("tsm") == {"apply_calls": 1, "applies": 1, "restarts": 1}
    row = tableau_row(inventory)
    assert re.search(rf"https://{TABPY_HOSTS[0]}:9004\s+PASS\s+from {TABLEAU} \(its OS trust "
                     r"store\): TabPy [\d.]+: /evaluate = 42 over verified TLS with basic auth",
                     row), row


def secrets_of_the_lab(*extra: str) -> set[str]:
    """Every password, hash and key line the lab's TabPy servers use, and `extra`."""
    found = {find_password(LAB_INVENTORY, "tableau"), find_password(LAB_INVENTORY, "analyst"),
             *extra}
    for plan in lab_plans().values():
        found |= {line.split(" ")[1] for line in plan.password_file.decode().splitlines()
                  if not line.startswith("#")}
        found |= {line for line in plan.tls.key_pem.decode().splitlines()
                  if line and not line.startswith("-----")}
    return found


def assert_no_leak(secrets_: set[str], run, samples: list[str], allowed=lambda line: False):
    journal = "".join(lab_host(fqdn).check_output("journalctl --no-pager")
                      for fqdn in (*TABPY_HOSTS, TABLEAU))
    lines = [line for sample in samples for line in sample.splitlines()]
    assert len(samples) >= 4
    for index, secret in enumerate(sorted(secrets_)):
        assert secret not in run.output, f"secret #{index} in pyinfra output"
        assert secret not in journal, f"secret #{index} in a journal"
        leaked = [line[:60] for line in lines if secret in line and not allowed(line)]
        assert not leaked, f"secret #{index} in a process list: {leaked}"


def rotate(inventory: str, node: TableauNode):
    """deploy/rotate.py for the user Tableau signs in as, sampling processes everywhere."""
    with ProcessSampler([*TABPY_HOSTS, TABLEAU]) as sampler:
        run = pyinfra("-vv", "--diff", "--data", "rotate_users=tableau", inventory=inventory,
                      entry="deploy/rotate.py", env=node.env)
    assert sampler.saw_canary(), "the process sampler missed its 0.3 s canary"
    assert run.returncode == 0, why(run)
    assert "rotated: tableau" in run.output
    return run, sampler.samples


def test_tsm_rotation_applies_once_with_the_new_password_and_leaks_nothing(node, tmp_path):
    node.install_tsm("2019.4")
    inventory = tsm_inventory(tmp_path)
    deploy(inventory, node)
    old = find_password(LAB_INVENTORY, "tableau")
    before = node.counters("tsm")
    starts = StartCounter()

    run, samples = rotate(inventory, node)
    new = find_password(LAB_INVENTORY, "tableau")
    assert new != old
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 1)
    state = node.state("tsm")
    assert state["counters"] == {key: value + 1 for key, value in before.items()}
    assert state["config"]["vizqlserver.extsvc.password"] == new
    tsm_path = f"{tableau.TSM_PACKAGES}/customer-bin.{VERSION_CODES['2019.4']}/tsm"
    # tsm itself receives the passwords as arguments (its only interface): nothing else may.
    assert_no_leak(secrets_of_the_lab(old, new, node.admin_password), run, samples,
                   allowed=lambda line: line.startswith(f"/usr/bin/python3 {tsm_path} "))
    assert deploy(inventory, node).changed() == {}


def test_tsm_2018_connects_to_an_http_tabpy_as_a_tsm_authorized_user(node, tmp_path):
    """2018.2-2018.3 set host and port only (no TLS, no credentials): refused against TabPy
    with TLS, done against tabpy2 serving http without authentication (then put back)."""
    node.install_tsm("2018.3")
    tabpy = TABPY_HOSTS[1]
    tsm_user = {"tableau_tabpy_host": tabpy, "tableau_tabpy_user": None,
                "tableau_tsm_run_as": ADMIN}
    refused = pyinfra(inventory=lab_inventory_with(tmp_path, tableau=tsm_user), env=node.env)
    assert refused.returncode != 0
    assert f"tabpy-provision: {TABLEAU}: tableau_tabpy_ssl: Tableau Server 2018.3 (tsm " \
           "configuration: keys host and port only) connects without TLS or credentials" \
        in refused.stderr
    insecure = {"tabpy_transfer_protocol": "http", "tabpy_auth_enabled": False,
                "tabpy_allow_no_auth": True}
    # Tableau 2018 talks to one TabPy over http: no pool (it would mix http and https).
    inventory = lab_inventory_with(tmp_path, tableau={**tsm_user, "tableau_tabpy_ssl": False},
                                   hosts={tabpy: insecure}, pool=False)
    try:
        deploy(inventory, node)
        state = node.state("tsm")
        assert state["counters"] == {"apply_calls": 1, "applies": 1, "restarts": 1}
        assert state["config"] == {"vizqlserver.extsvc.host": tabpy,
                                   "vizqlserver.extsvc.port": "9004"}
        assert re.search(rf"http://{tabpy}:9004\s+PASS\s+from {TABLEAU} .*/evaluate = 42 "
                         "over plain HTTP", tableau_row(inventory))
        assert deploy(inventory, node).changed() == {}
        assert node.counters("tsm")["apply_calls"] == 1
    finally:  # tabpy2 on https again; this Tableau 2018.3 left alone
        deploy(lab_inventory_with(tmp_path, tableau={}), node)


def untrust_lab_ca() -> None:
    ssh(f"rm -f {ANCHORS}/{trust.MANAGED_PREFIX}* && update-ca-certificates --fresh >/dev/null")


def test_tsm_untrusted_ca_fails_the_test_connection_then_trust_restarts_tableau(node, tmp_path):
    """tsm applies what it is given (Tableau is not documented to test it then): the deploy's
    own Test Connection from the node is what fails the run, with the TLS error."""
    node.install_tsm("2019.4")
    inventory = tsm_inventory(tmp_path, tableau_restart_on_trust_change=True)
    deploy(inventory, node)
    untrust_lab_ca()
    ssh(f"rm -f {tableau.RECORD}")  # the deploy no longer knows the password was given
    failed = pyinfra(inventory=inventory, entry="deploy/tableau.py", env=node.env)
    assert failed.returncode != 0
    assert re.search(rf"from {TABLEAU} \(its OS trust store\): TLS verification failed",
                     failed.output), why(failed)
    assert node.state("tsm")["counters"] == {"apply_calls": 2, "applies": 2, "restarts": 2}

    fixed = deploy(inventory, node)  # trust back: Tableau restarted to read it, then checked
    assert node.state("tsm")["counters"] == {"apply_calls": 2, "applies": 2, "restarts": 3}
    assert re.search(rf"PASS\s+from {TABLEAU} \(its OS trust store\)", tableau_row(inventory))
    assert fixed.changed() and deploy(inventory, node).changed() == {}


# --- REST API -------------------------------------------------------------------------------

SITES = ["", "marketing"]
OLD = {"host": "old-tabpy.lab.test", "port": 9004, "is_ssl_enabled": True,
       "is_auth_enabled": False, "connection_brief": {"connection_name": "Old TabPy",
                                                      "connection_type": "TABPY"}}


def connections(state: dict) -> dict[str, list[dict]]:
    return {site: list(data["connections"].values()) for site, data in state["sites"].items()}


def test_rest_enables_and_creates_once_removes_the_old_and_a_rerun_puts_nothing(node, tmp_path):
    node.start_rest(SITES, seed={"marketing": [OLD]})
    inventory = rest_inventory(tmp_path, node, tableau_rest_sites=SITES,
                               tableau_rest_absent_connections=["Old TabPy"])
    first = deploy(inventory, node)
    assert list(connection_ops(first).values()) == [[TABLEAU]]
    state = node.state("rest")
    counters = state["counters"]
    assert {k: v for k, v in counters.items() if k.startswith(("put", "post", "delete"))} == {
        "put_server": 1, "put_site": 2, "post_connection": 2, "delete_connection": 1}
    assert counters["signin"] == counters["signout"] >= 2  # preflight, then the change
    password = find_password(LAB_INVENTORY, "tableau")
    for site in SITES:
        assert state["sites"][site]["enabled"]
        [item] = connections(state)[site]
        assert item == {"host": TABPY_HOSTS[0], "port": 9004, "is_ssl_enabled": True,
                        "is_auth_enabled": True, "username": "tableau", "password": password,
                        "connection_brief": {"connection_name": "TabPy",
                                             "connection_type": "TABPY"}}
    assert state["server"]["enabled"]

    rerun = deploy(inventory, node)
    assert rerun.changed() == {}, rerun.changed()
    after = node.counters("rest")
    assert {k: after[k] for k in after if k.startswith(("put", "post", "delete"))} == \
        {k: counters[k] for k in counters if k.startswith(("put", "post", "delete"))}
    assert after["signin"] == after["signout"]
    row = tableau_row(inventory)
    assert "PASS" in row and "/evaluate = 42 over verified TLS with basic auth" in row, row


def test_rest_rotation_puts_once_per_site_and_leaks_nothing(node, tmp_path):
    node.start_rest(SITES)
    inventory = rest_inventory(tmp_path, node, tableau_rest_sites=SITES)
    deploy(inventory, node)
    old = find_password(LAB_INVENTORY, "tableau")
    before = node.counters("rest")
    run, samples = rotate(inventory, node)
    new = find_password(LAB_INVENTORY, "tableau")
    state = node.state("rest")
    writes = {k: v - before.get(k, 0) for k, v in state["counters"].items()
              if k.startswith(("put", "post", "delete"))}
    assert {k: v for k, v in writes.items() if v} == {"put_connection": len(SITES)}
    for site in SITES:
        assert [item["password"] for item in connections(state)[site]] == [new]
    tokens = state["issued_tokens"]
    assert len(tokens) >= 4  # sessions of preflight and of the change
    assert_no_leak(secrets_of_the_lab(old, new, node.token_secret, *tokens), run, samples)
    assert deploy(inventory, node).changed() == {}


def test_rest_untrusted_ca_fails_the_test_connection_with_the_tls_error(node, tmp_path):
    """The connection is saved (Tableau is not documented to test it then); the deploy's own
    Test Connection from the node fails the run, and passes once trust is back."""
    node.start_rest([""])
    inventory = rest_inventory(tmp_path, node)
    deploy(inventory, node)
    untrust_lab_ca()
    ssh(f"rm -f {tableau.RECORD}")
    before = node.counters("rest")
    failed = pyinfra(inventory=inventory, entry="deploy/tableau.py", env=node.env)
    assert failed.returncode != 0
    assert re.search(rf"from {TABLEAU} \(its OS trust store\): TLS verification failed",
                     failed.output), why(failed)
    assert node.counters("rest")["put_connection"] == before.get("put_connection", 0) + 1

    fixed = deploy(inventory, node)
    assert "Tableau Server must restart to pick it up" in fixed.output
    assert node.counters("rest")["put_connection"] == before.get("put_connection", 0) + 1
    assert deploy(inventory, node).changed() == {}


# --- bad input ------------------------------------------------------------------------------


def refused(inventory: str, node: TableauNode, expected: str, env: dict | None = None) -> None:
    before = {which: node.state(which) for which in ("tsm", "rest")
              if ssh(f"test -f {STATE_DIR}/{which}.json", check=False).returncode == 0}
    starts = StartCounter()
    run = pyinfra(inventory=inventory, env=env if env is not None else node.env)
    assert run.returncode != 0
    assert f"tabpy-provision: {TABLEAU}: {expected}" in run.stderr, run.stderr[-2000:]
    assert "nothing was changed" in run.stderr
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 0)
    for which, state in before.items():  # reading is fine (sign-ins), writing is not
        now = node.state(which)
        assert writes(now) == writes(state), which


def writes(state: dict) -> dict:
    counters = {key: value for key, value in state["counters"].items()
                if key.startswith(("put", "post", "delete", "appl", "restart"))}
    return {"counters": counters, **{key: state.get(key) for key in
                                     ("config", "pending", "server", "sites")}}


def test_bad_tsm_inputs_stop_the_run_before_any_change(node, tmp_path):
    node.install_tsm("2019.4")
    refused(tsm_inventory(tmp_path / "old", tableau_version="2018.1"), node,
            "tableau_version: Tableau Server 2018.1 is configured with tabadmin, without TLS: "
            "not supported")
    refused(tsm_inventory(tmp_path / "mismatch", tableau_version="2020.1"), node,
            "tableau_version: 2020.1 declared, but the tsm on the host is 2019.4")
    refused(tsm_inventory(tmp_path / "nocreds", tableau_tsm_login_user=None,
                          tableau_tsm_login_password=None), node,
            "tableau_tsm_run_as: tsm needs credentials")
    refused(tsm_inventory(tmp_path / "unset"), node,
            "tableau_tsm_login_password (env:TABLEAU_IT_TSM): environment variable "
            "TABLEAU_IT_TSM is not set", env={})
    tsm = f"{tableau.TSM_PACKAGES}/customer-bin.{VERSION_CODES['2019.4']}/tsm"
    refused(tsm_inventory(tmp_path / "wrong"), node, f"tsm: tsm ({tsm}) failed: Error: "
            "Authentication failed", env={"TABLEAU_IT_TSM": "not-the-password"})
    refused(tsm_inventory(tmp_path / "nouser", tableau_tabpy_user="nobody"), node,
            "tableau_tabpy_user: 'nobody' is not in tabpy_users of")
    # An administrator's change waiting to be applied: applying ours would apply it too.
    ssh(f"runuser -u {ADMIN} -- {tsm} configuration set -k gateway.timeout -v 900")
    refused(tsm_inventory(tmp_path / "foreign"), node,
            "tsm: pending changes this deploy did not make (gateway.timeout)")
    node.install_tsm(None)
    refused(tsm_inventory(tmp_path / "missing", tableau_version="2019.4"), node,
            "tsm: not found on the host")
    refused(tsm_inventory(tmp_path / "undetected"), node, "tableau_version: not set, and no "
            "tsm found on the host")


def test_bad_rest_inputs_stop_the_run_before_any_change(node, tmp_path):
    node.start_rest(SITES)
    refused(rest_inventory(tmp_path / "token", node, tableau_rest_token_secret="env:WRONG"),
            node, "tableau_rest_token_secret (env:WRONG): sign-in refused: POST "
            "/api/3.6/auth/signin answered HTTP 401", env={**node.env, "WRONG": "nope"})
    refused(rest_inventory(tmp_path / "site", node, tableau_rest_sites=["", "nosuch"]), node,
            "tableau_rest_sites: site not found: GET /api/3.6/sites/nosuch answered HTTP 404")
    refused(rest_inventory(tmp_path / "missing", node, tableau_rest_token_name=None), node,
            "tableau_rest_token_name: required for the REST API")
    refused(rest_inventory(tmp_path / "ca", node, tableau_rest_ca_file=None), node,
            "tableau_rest_ca_file: https://tableau1.lab.test: TLS verification failed")
    assert node.counters("rest")["signin"] == 2  # asked (the wrong token, the unknown site)


def test_a_node_without_tableau_tabpy_host_is_left_alone(node, tmp_path):
    """A Tableau node without tableau_tabpy_host only gets trust: tsm is not even called."""
    node.install_tsm("2019.4")
    run = deploy(lab_inventory_with(tmp_path, tableau={}), node)
    assert connection_ops(run) == {}
    assert ssh(f"test -e {STATE_DIR}/tsm.json", check=False).returncode != 0

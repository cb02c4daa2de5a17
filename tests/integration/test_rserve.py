"""Rserve on rserve1 (Debian 12's Rserve 1.8-11), deployed by the lab's site deploy: logins
the way Tableau makes them - QAP over TLS, the certificate verified through the client's OS
trust store alone - and the refusals Tableau relies on, including the password `*0` that
Debian 12's Rserve would take for any user of its own password file (docs/rserve.md). The
second run of the whole site changing nothing: test_tabpy_server.py."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from lab import paths
from tabpy_provision.rserve import qap
from tabpy_provision.server import verify
from tests.integration.conftest import (
    ROOT,
    lab_host,
    lab_inventory_with,
    pyinfra,
    wrong_key_site,
)

pytestmark = pytest.mark.lab

RSERVE = "rserve1.lab.test"
ADDRESS = "169.254.213.81"
PORT = 6311
CLIENT = "client1.lab.test"

#: Run on a client with its own python3: qap.py sent on stdin (nothing is installed there), a
#: login with the OS trust store only; the password arrives on stdin, never on a command line.
CLIENT_SCRIPT = """
import json, ssl, sys, types
asked = json.loads(sys.stdin.readline())
module = types.ModuleType("qap")
sys.modules["qap"] = module
exec(compile(asked["source"], "qap.py", "exec"), module.__dict__)
context = ssl.create_default_context() if asked["tls"] else None
try:
    with module.connect(asked["host"], asked["port"], context, 5.0) as session:
        session.login(asked["user"], asked["password"])
        print(json.dumps({"value": session.eval("1+1"), "tls": session.tls_version}))
except Exception as error:
    print(json.dumps({"refused": f"{type(error).__name__}: {error}"}))
"""


def password(user: str) -> str:
    return (ROOT / "secrets/lab/rserve_users" / user).read_text().strip()


def ca_context():
    return verify.tls_context((ROOT / "pki/lab/ca/root.crt").read_bytes())


def from_client(user: str, secret: str, tls: bool = True) -> dict:
    # Stand-alone on the client: the module's one import of the tool is its error base.
    source = Path(qap.__file__).read_text().replace(
        "from tabpy_provision.settings.errors import ProvisionError", "ProvisionError = Exception")
    asked = {"source": source, "host": RSERVE, "port": PORT, "user": user, "password": secret,
             "tls": tls}
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), CLIENT,
                           f"python3 -c {shlex.quote(CLIENT_SCRIPT)}"],
                          input=json.dumps(asked) + "\n", capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_client_with_only_its_os_store_logs_in_over_tls_and_gets_2(converged):
    answer = from_client("tableau", password("tableau"))
    assert answer == {"value": 2, "tls": "TLSv1.3"}, answer
    assert from_client("analyst", password("analyst"))["value"] == 2


def test_a_wrong_password_star_zero_and_plain_qap_are_refused(converged):
    for wrong in ("not-the-password", "*0"):
        refused = from_client("tableau", wrong)
        assert "ERR_auth_failed" in refused.get("refused", ""), (wrong, refused)
    assert "refused" in from_client("nobody", password("tableau"))
    plain = from_client("tableau", password("tableau"), tls=False)
    assert "timed out" in plain.get("refused", ""), plain


def test_r_runs_as_rserve_and_writes_only_its_workdir(converged):
    with qap.connect(ADDRESS, PORT, ca_context(), 10.0, RSERVE) as session:
        session.login("analyst", password("analyst"))
        assert session.eval("system('id -un', intern = TRUE)") == "rserve"
        for path in ("/etc/rserve/current/users", "/etc/rserve/x", "/usr/local/x", "/root/x"):
            wrote = session.eval(f"tryCatch({{writeLines('x', '{path}'); 'written'}}, "
                                 "warning = function(e) 'refused', "
                                 "error = function(e) 'refused')")
            assert wrote == "refused", path
        assert session.eval("writeLines('x', 'here.txt'); readLines('here.txt')") == "x"
    host = lab_host(RSERVE)
    for path, owner, mode in (("/etc/rserve/current/users", "root", 0o640),
                              ("/etc/rserve/current/tls/rserve.key", "root", 0o640)):
        assert (host.file(path).user, host.file(path).group, host.file(path).mode) == \
            (owner, "rserve", mode), path


def test_rserve_sends_the_chain_an_os_store_needs(converged):
    """Rserve sends only the first certificate of its file; the intermediate it needs comes
    from tls.ca (docs/rserve.md): the chain served holds both."""
    chain = verify.served_chain(fqdn=RSERVE, address=ADDRESS, port=PORT)
    assert len(chain) == 2, chain


def test_a_release_that_cannot_serve_rolls_back_and_the_old_one_serves(converged, tmp_path):
    host = lab_host(RSERVE)
    before = host.file("/etc/rserve/current").linked_to
    # Rserve 1.8-11 starts with a key that does not match and fails every handshake.
    run = pyinfra("--limit", RSERVE, entry=str(wrong_key_site(
        tmp_path, "tabpy_provision.rserve.checks", "plan_rserve", RSERVE)))
    assert run.returncode != 0
    assert "rolled back to release" in run.output, run.output[-3000:]
    assert host.file("/etc/rserve/current").linked_to == before
    with qap.connect(ADDRESS, PORT, ca_context(), 10.0, RSERVE) as session:
        session.login("tableau", password("tableau"))
        assert session.eval("1+1") == 2
    rerun = pyinfra("--json", "--limit", RSERVE)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    again = pyinfra("--json", "--limit", RSERVE)
    assert again.returncode == 0 and again.changed() == {}, again.changed()


def test_an_account_or_port_the_host_already_has_is_refused_before_any_change(converged,
                                                                              tmp_path):
    host = lab_host(RSERVE)
    before = host.file("/etc/rserve/current").linked_to
    for change, said in (({"rserve_system_user": "daemon"},
                          "rserve_system_user: daemon is an existing account"),
                         ({"rserve_port": 22}, "rserve_port: port 22 is in use on this host by "
                                               "sshd")):
        inventory = lab_inventory_with(tmp_path, hosts={RSERVE: change})
        refused = pyinfra("--limit", RSERVE, inventory=inventory)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr[-2000:]
    assert host.file("/etc/rserve/current").linked_to == before


def test_the_fence_admits_only_rserves_sources_and_its_sessions_reach_only_whats_listed(
        converged):
    """rserve_allowed_sources is unset: the Tableau node and the clients (client1 logged in
    above); tabpydr is outside. The R sessions may reach nothing beyond loopback and their
    clients (rserve_outbound_allowed is empty)."""
    outside = subprocess.run(
        ["ssh", "-F", str(paths.ssh_config_path()), "tabpydr.lab.test",
         f"timeout 10 bash -c 'exec 3<>/dev/tcp/{RSERVE}/{PORT}' 2>&1; echo exit=$?"],
        capture_output=True, text=True, timeout=60, check=True)
    assert "Connection refused" in outside.stdout and "exit=1" in outside.stdout, outside.stdout
    with qap.connect(ADDRESS, PORT, ca_context(), 10.0, RSERVE) as session:
        session.login("analyst", password("analyst"))
        reach = ("tryCatch({{con <- socketConnection('{}', {}, open = 'r+', timeout = 5); "
                 "close(con); 'connected'}}, warning = function(e) 'refused', "
                 "error = function(e) 'refused')")
        assert session.eval(reach.format("169.254.213.31", 22)) == "refused"
        assert session.eval(reach.format("127.0.0.1", PORT)) == "connected"
    host = lab_host(RSERVE)
    fence = host.run("nft list table inet tabpy_provision").stdout
    uid = host.user("rserve").uid  # nft lists the user by its uid
    assert f"meta skuid {uid} jump rserve_user_outbound" in fence, fence

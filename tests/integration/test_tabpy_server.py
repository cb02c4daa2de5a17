"""The TabPy deploy on real lab hosts: converge twice, then look at the hosts and talk to TabPy."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import threading

import pytest

from tabpy_provision.server import render, verify
from tests.integration.conftest import (
    TABPY_HOSTS,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def plans(converged):
    return lab_plans()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def remote_sha256(host, path: str) -> str:
    return host.check_output(f"sha256sum {path}").split()[0]


def test_second_run_reports_no_changes(converged):
    first, second = converged
    assert first.errors() == {}
    assert second.errors() == {}
    assert second.changed() == {}, f"rerun changed: {second.changed()}"
    operations = second.results()
    for fqdn in TABPY_HOSTS:
        assert any(fqdn in op["no_change"] for op in operations), fqdn


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_files_have_owner_mode_and_content(plans, fqdn):
    plan, host = plans[fqdn], lab_host(fqdn)
    current = "/etc/tabpy/current"
    expected = {
        "/etc/tabpy": ("root", "tabpy", 0o750, None),
        "/etc/tabpy/releases": ("root", "tabpy", 0o750, None),
        f"{current}/": ("root", "tabpy", 0o750, None),
        f"{current}/tls": ("root", "tabpy", 0o750, None),
        f"{current}/tabpy.conf": ("root", "tabpy", 0o640, render.tabpy_config(plan)),
        f"{current}/passwords": ("tabpy", "tabpy", 0o600, plan.password_file),
        f"{current}/tls/tabpy.key": ("tabpy", "tabpy", 0o600, plan.tls.key_pem),
        f"{current}/tls/tabpy.crt": ("root", "tabpy", 0o644, plan.tls.chain_pem),
        f"{current}/tls/sitecustomize.py": ("root", "tabpy", 0o644, render.tls_hook(plan)),
        "/etc/tabpy/ca.crt": ("root", "tabpy", 0o644, plan.tls.ca_pem),
        "/etc/systemd/system/tabpy.service": ("root", "root", 0o644, render.systemd_unit(plan)),
        "/var/lib/tabpy/state": ("tabpy", "tabpy", 0o750, None),
        "/var/lib/tabpy/query_objects": ("tabpy", "tabpy", 0o750, None),
        "/var/log/tabpy": ("tabpy", "tabpy", 0o750, None),
    }
    for path, (user, group, mode, content) in expected.items():
        item = host.file(path)
        assert item.exists, path
        assert (item.user, item.group, item.mode) == (user, group, mode), path
        if content is not None:
            # Compared by digest: a failure must not print a key or a hash.
            assert remote_sha256(host, path) == sha256(content), path
    # No half-built release or temporary link is left behind.
    assert not any(name.startswith(".") for name in host.file("/etc/tabpy").listdir())
    assert not any(name.startswith(".") for name in host.file("/etc/tabpy/releases").listdir())


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_service_enabled_running_as_tabpy_and_listening(converged, fqdn):
    host = lab_host(fqdn)
    service = host.service("tabpy")
    assert service.is_enabled
    assert service.is_running
    pid = host.check_output("systemctl show -p MainPID --value tabpy")
    assert host.check_output(f"ps -o user= -p {pid}") == "tabpy"
    assert host.socket("tcp://0.0.0.0:9004").is_listening
    # TabPy runs from the active release, with its venv.
    release = host.file("/etc/tabpy/current").linked_to
    assert host.file(f"/proc/{pid}/cwd").linked_to == release
    venv = host.file(f"{release}/venv")
    assert venv.is_symlink
    assert host.file(f"{venv.linked_to}/.tabpy-provision-wheelhouse").exists
    # The venv came from the pushed wheelhouse: no leftovers of the install.
    assert not host.file("/var/cache/tabpy-provision/install").exists


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_tabpy_answers_like_tableau_expects(plans, fqdn):
    plan = plans[fqdn]
    common = dict(fqdn=plan.fqdn, address=plan.connect_address, port=9004, ca_pem=plan.tls.ca_pem)
    result = verify.check_tabpy(credentials=(plan.health_user, plan.health_password), **common)
    assert result.ok, result.detail
    assert result.server_version == "2.16.0"
    assert verify.request("GET", "/info", **common).status == 401
    assert verify.request("GET", "/info", credentials=(plan.health_user, "nope"),
                          **common).status == 401


def tls11_handshake(address: str, port: int, hostname: str, cafile: str) -> str:
    """Try TLS 1.1 exactly as an old client would; return the negotiated version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 forbids TLS 1.1 at its default level
    with socket.create_connection((address, port), timeout=5) as sock, \
            context.wrap_socket(sock, server_hostname=hostname) as tls:
        return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls11_refused_with_a_positive_control(plans, tmp_path):
    plan = plans[TABPY_HOSTS[0]]
    ca, chain, key = tmp_path / "ca.pem", tmp_path / "chain.pem", tmp_path / "key.pem"
    ca.write_bytes(plan.tls.ca_pem)
    chain.write_bytes(plan.tls.chain_pem)
    key.write_bytes(plan.tls.key_pem)
    key.chmod(0o600)
    # Positive control: the same client does speak TLS 1.1 to a server that allows it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(chain),
         "-cert_chain", str(chain), "-key", str(key), "-tls1_1", "-cipher",
         "DEFAULT:@SECLEVEL=0", "-www", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        version = None
        for _ in range(50):
            try:
                version = tls11_handshake("127.0.0.1", port, plan.fqdn, str(ca))
                break
            except ConnectionRefusedError:
                threading.Event().wait(0.1)
        assert version == "TLSv1.1"
    finally:
        server.terminate()
        server.wait(timeout=10)
    # TabPy (TABPY_MINIMUM_TLS_VERSION = TLSv1_2) refuses it.
    with pytest.raises(ssl.SSLError):
        tls11_handshake(plan.connect_address, 9004, plan.fqdn, str(ca))


def handshake(plan, cafile: str, version: ssl.TLSVersion) -> str:
    """A handshake offering exactly `version`; the negotiated version, or the error's name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.minimum_version = context.maximum_version = version
    try:
        with socket.create_connection((plan.connect_address, 9004), timeout=5) as sock, \
                context.wrap_socket(sock, server_hostname=plan.fqdn) as tls:
            return tls.version()
    except ssl.SSLError as error:
        return type(error).__name__


def test_tabpy_minimum_tls_version_is_honoured_on_both_debian_versions(plans, tmp_path):
    """Python's defaults already refuse TLS 1.1, so the setting is proven by raising it:
    with TLSv1_3, a TLS 1.2 client is refused on every TabPy server; back to TLSv1_2, served."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(plans[TABPY_HOSTS[0]].tls.ca_pem)
    v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    raised = pyinfra("--data", "tabpy_minimum_tls_version=TLSv1_3")
    try:
        assert raised.returncode == 0, raised.stderr[-3000:]
        assert {fqdn: (handshake(plans[fqdn], str(ca), v12), handshake(plans[fqdn], str(ca), v13))
                for fqdn in TABPY_HOSTS} == dict.fromkeys(TABPY_HOSTS, ("SSLError", "TLSv1.3"))
    finally:
        back = pyinfra()
    assert back.returncode == 0, back.stderr[-3000:]
    assert {fqdn: handshake(plans[fqdn], str(ca), v12) for fqdn in TABPY_HOSTS} == \
        dict.fromkeys(TABPY_HOSTS, "TLSv1.2")


@pytest.fixture(scope="module")
def client_with_credentials(plans, tmp_path_factory):
    """client1 holds the CA file and a 0600 netrc, so no secret is on a command line there."""
    plan = plans[TABPY_HOSTS[0]]
    folder = tmp_path_factory.mktemp("client")
    netrc = folder / "netrc"
    wrong = folder / "netrc-wrong"
    ca = folder / "ca.crt"
    fd = os.open(netrc, os.O_WRONLY | os.O_CREAT, 0o600)
    lines = "".join(f"machine {fqdn} login {plan.health_user} password {plan.health_password}\n"
                    for fqdn in TABPY_HOSTS)
    os.write(fd, lines.encode())
    os.close(fd)
    wrong.write_text("".join(f"machine {fqdn} login {plan.health_user} password wrong\n"
                             for fqdn in TABPY_HOSTS))
    ca.write_bytes(plan.tls.ca_pem)
    from lab import paths
    subprocess.run(["scp", "-q", "-p", "-F", str(paths.ssh_config_path()), str(netrc),
                    str(wrong), str(ca), "client1.lab.test:/root/"], check=True, timeout=30)
    yield lab_host("client1.lab.test")
    lab_host("client1.lab.test").run("rm -f /root/netrc /root/netrc-wrong /root/ca.crt")


@pytest.mark.parametrize("fqdn", TABPY_HOSTS)
def test_from_the_client_host_evaluate_needs_auth(client_with_credentials, fqdn):
    client = client_with_credentials
    curl = (f"curl -sS --cacert /root/ca.crt -o /dev/stderr -w '%{{http_code}}' "
            f"-H 'Content-Type: application/json' "
            f"-d '{{\"script\": \"return _arg1[0] + 1\", \"data\": {{\"_arg1\": [41]}}}}' "
            f"https://{fqdn}:9004/evaluate")
    ok = client.run(f"{curl} --netrc-file /root/netrc")
    assert (ok.rc, ok.stdout, ok.stderr.strip()) == (0, "200", "42")
    assert client.run(f"{curl} --netrc-file /root/netrc-wrong").stdout == "401"
    assert client.run(curl).stdout == "401"


def test_bad_input_stops_before_any_host_is_touched(converged, tmp_path):
    bad = lab_inventory_with(tmp_path, tabpy_port=70000, tabpy_users={"ta:bleau": "generate"})
    before = {fqdn: remote_sha256(lab_host(fqdn), "/etc/tabpy/current/tabpy.conf")
              for fqdn in TABPY_HOSTS}
    run = pyinfra(inventory=bad)
    assert run.returncode != 0
    for fqdn in TABPY_HOSTS:
        assert f"tabpy-provision: {fqdn}: tabpy_port: must be an integer from 1 to 65535, " \
               "got 70000" in run.stderr
        assert f"tabpy-provision: {fqdn}: tabpy_users: user name 'ta:bleau': use 1 to 64 " \
               "letters, digits and . _ @ + -" in run.stderr
    assert "nothing was changed" in run.stderr
    assert "Beginning operation run" not in run.output
    after = {fqdn: remote_sha256(lab_host(fqdn), "/etc/tabpy/current/tabpy.conf")
             for fqdn in TABPY_HOSTS}
    assert after == before


def test_no_secret_in_verbose_output_or_journal(plans):
    """Secret files are rewritten at -vv with --diff: no password, hash or key line shows."""
    target = lab_host(TABPY_HOSTS[1])
    # Remove the active release: its secret files are uploaded again.
    target.run("rm -rf /etc/tabpy/releases/$(basename $(readlink /etc/tabpy/current))")
    run = pyinfra("-vv", "--diff")
    assert run.returncode == 0, run.stderr[-3000:]
    secrets = []
    for plan in plans.values():
        secrets.append(plan.health_password)
        secrets += [line.split(" ")[1] for line in plan.password_file.decode().splitlines()
                    if not line.startswith("#")]
        secrets += [line for line in plan.tls.key_pem.decode().splitlines()
                    if line and not line.startswith("-----")]
    journal = "".join(lab_host(fqdn).check_output("journalctl -u tabpy --no-pager")
                      for fqdn in TABPY_HOSTS)
    assert ("changed: passwords, tabpy.conf, tls/sitecustomize.py, tls/tabpy.crt, "
            "tls/tabpy.key") in run.output
    for index, secret in enumerate(secrets):
        assert secret not in run.output, f"secret #{index} leaked into pyinfra output"
        assert secret not in journal, f"secret #{index} leaked into the journal"
    # The secrets came back and TabPy serves with them.
    assert target.file("/etc/tabpy/current/passwords").mode == 0o600
    plan = plans[TABPY_HOSTS[1]]
    assert verify.check_tabpy(fqdn=plan.fqdn, address=plan.connect_address, port=9004,
                              ca_pem=plan.tls.ca_pem,
                              credentials=(plan.health_user, plan.health_password)).ok

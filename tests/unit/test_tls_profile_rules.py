"""The TLS every listener offers (server/tls_profile.py): the profiles, HAProxy's configs across
them (checked by `haproxy -c` where HAProxy is installed, as the lab's controller has it), and the
module TabPy's processes load at start, run as TabPy runs it: a server on loopback."""

import shutil
import ssl
import subprocess
import sys

import pytest

from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import local_balancer
from tabpy_provision.server import render, tls_profile
from tabpy_provision.server.release import build_release
from tabpy_provision.server.tls_profile import TlsProfile, host_profile, strictest
from tabpy_provision.settings import table as settings
from tests.unit.planning import planned, planned_balancer

HOST1, HOST2 = "tabpy1.example.com", "tabpy2.example.com"
COMBINATIONS = [(name, minimum) for name in tls_profile.PROFILES
                for minimum in tls_profile.VERSIONS]


@pytest.fixture
def tabpy(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")

    def make(host=HOST1, **override):
        data = {"tabpy_users": {"monitor": "env:TABPY_TEST_PW"},
                "pki_dir": str(tmp_path / "pki"), "secrets_dir": str(tmp_path / "s"), **override}
        return planned(host, data)

    return make


def test_modern_is_tls13_only_whatever_the_minimum_says():
    assert host_profile("modern", "TLSv1_2") == TlsProfile("modern", "TLSv1_3")
    assert host_profile("intermediate", "TLSv1_2") == TlsProfile("intermediate", "TLSv1_2")
    assert host_profile("intermediate", "TLSv1_3").haproxy_minimum == "TLSv1.3"


def test_a_pool_offers_the_strictest_of_its_servers():
    assert strictest([host_profile("intermediate", "TLSv1_2")] * 2) == \
        TlsProfile("intermediate", "TLSv1_2")
    assert strictest([host_profile("intermediate", "TLSv1_3"),
                      host_profile("intermediate", "TLSv1_2")]).minimum == "TLSv1_3"
    assert strictest([host_profile("intermediate", "TLSv1_2"),
                      host_profile("modern", "TLSv1_2")]) == TlsProfile("modern", "TLSv1_3")


def test_openssl_reads_the_lists_as_aead_only():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(host_profile("intermediate", "TLSv1_2").ciphers)
    ciphers = context.get_ciphers()
    assert all(cipher["aead"] for cipher in ciphers)
    assert {c["name"] for c in ciphers if c["protocol"] == "TLSv1.2"} == \
        set(tls_profile.TLS12_CIPHERS)
    # TLS 1.3's suites are OpenSSL's default, which TabPy's processes keep: the list's own.
    assert {c["name"] for c in ciphers if c["protocol"] == "TLSv1.3"} == \
        set(tls_profile.TLS13_CIPHERSUITES)


def test_the_settings_default_to_intermediate_and_refuse_other_profiles():
    assert settings.defaults()["tabpy_tls_profile"] == "intermediate"
    assert settings.check_values("h", {"tabpy_tls_profile": "old"}) == [
        "h: tabpy_tls_profile: must be one of intermediate, modern, got 'old'"]


def test_tabpy_is_told_the_minimum_of_its_profile(tabpy):
    config = render.tabpy_config(tabpy(tabpy_tls_profile="modern"))
    assert "TABPY_MINIMUM_TLS_VERSION = TLSv1_3\n" in config
    assert "TABPY_MINIMUM_TLS_VERSION = TLSv1_3\n" in render.tabpy_config(
        tabpy(tabpy_minimum_tls_version="TLSv1_3"))
    assert "TABPY_MINIMUM_TLS_VERSION = TLSv1_2\n" in render.tabpy_config(tabpy())


def test_the_release_carries_the_module_and_only_the_unit_loads_it(tabpy):
    plan = tabpy()
    (hook,) = [f for f in build_release(plan, "/v").files if f.path == "tls/sitecustomize.py"]
    assert (hook.owner, hook.group, hook.mode, hook.secret) == ("root", "tabpy", "0644", False)
    assert hook.content == render.tls_hook(plan).encode()
    assert "Environment=PYTHONPATH=/etc/tabpy/current/tls\n" in render.systemd_unit(plan)
    modern = build_release(tabpy(tabpy_tls_profile="modern"), "/v")
    assert modern.name != build_release(plan, "/v").name  # a new release: TabPy restarts


def test_plain_http_has_no_tls_module(tabpy):
    plan = tabpy(tabpy_transfer_protocol="http")
    assert "tls/sitecustomize.py" not in [f.path for f in build_release(plan, "/v").files]
    assert "PYTHONPATH" not in render.systemd_unit(plan)


def test_arrow_flight_is_refused_where_tls_12_is(tabpy):
    with pytest.raises(settings.SettingsError) as error:
        tabpy(tabpy_arrow_enable=True, tabpy_tls_profile="modern")
    assert error.value.problems == [
        f"{HOST1}: tabpy_arrow_enable: Arrow Flight accepts TLS 1.2, which "
        "tabpy_minimum_tls_version or tabpy_tls_profile refuses"]
    assert tabpy(tabpy_arrow_enable=True).tls_profile.minimum == "TLSv1_2"


# --- TabPy's module, loaded as TabPy's unit loads it ------------------------------------------

#: A server made as TabPy 2.16 makes its own (create_default_context, its minimum from
#: TABPY_MINIMUM_TLS_VERSION), wrapped as Tornado wraps each connection; the client offers one
#: cipher or one version at a time. Prints one line per offer.
SERVER = r"""
import socket, ssl, sys, threading
import sitecustomize
chain, key, ca, name, folder = sys.argv[1:]
assert sitecustomize.__file__.startswith(folder), sitecustomize.__file__
server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
server.load_cert_chain(chain, key)
server.minimum_version = ssl.TLSVersion.TLSv1_2
listener = socket.create_server(("127.0.0.1", 0))

def serve():
    while True:
        connection, _ = listener.accept()
        try:
            with server.wrap_socket(connection, server_side=True):
                pass
        except OSError:
            pass

threading.Thread(target=serve, daemon=True).start()

def offer(ciphers=None, version=ssl.TLSVersion.TLSv1_2):
    client = ssl.create_default_context(cafile=ca)
    client.minimum_version = client.maximum_version = version
    if ciphers:
        client.set_ciphers(ciphers)
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as sock, \
                client.wrap_socket(sock, server_hostname=name) as tls:
            return f"{tls.version()} {tls.cipher()[0]}"
    except ssl.SSLError:
        return "refused"

print(offer("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA256"))
print(offer("ECDHE-ECDSA-AES128-GCM-SHA256"))
print(offer(version=ssl.TLSVersion.TLSv1_3))
# asyncio's servers wrap BIOs: those contexts are set too; a client's are left alone.
other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
other.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
print(all(c["aead"] for c in other.get_ciphers()), other.minimum_version.name)
client = ssl.create_default_context()
client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
print(all(c["aead"] for c in client.get_ciphers()))
"""


@pytest.mark.parametrize("profile, expected", [
    ("intermediate", ["refused", "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256",
                      "TLSv1.3 TLS_AES_256_GCM_SHA384", "True TLSv1_2", "False"]),
    # TabPy told TLSv1_2 (a hand-edited config): the module still refuses TLS 1.2.
    ("modern", ["refused", "refused", "TLSv1.3 TLS_AES_256_GCM_SHA384", "True TLSv1_3",
                "False"]),
])
def test_tabpys_module_sets_every_server_context(tabpy, tmp_path, profile, expected):
    plan = tabpy(tabpy_tls_profile=profile)
    folder = tmp_path / "tls"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(render.tls_hook(plan))
    for name, content in (("chain.pem", plan.tls.chain_pem), ("key.pem", plan.tls.key_pem),
                          ("ca.pem", plan.tls.ca_pem)):
        (tmp_path / name).write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"),
         str(tmp_path / "ca.pem"), HOST1, str(folder)],
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"}, capture_output=True,
        text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected


# --- HAProxy: the host's own and the pool's -----------------------------------------------------

def global_tls(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("ssl-default-")]


def haproxy_accepts(plan, tmp_path) -> None:
    """`haproxy -c` of the config with its files written under tmp_path."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (python -m lab up installs it)")
    (tmp_path / "service.pem").write_bytes(plan.tls.chain_pem + plan.tls.key_pem)
    (tmp_path / "ca.pem").write_bytes(plan.backend_ca_pem)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render.haproxy_config(
        plan, ca_file=str(tmp_path / "ca.pem"), service_pem=str(tmp_path / "service.pem"),
        socket=str(tmp_path / "admin.sock"), backend=balancer.BACKEND, marker=balancer.MARKER))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True,
                             text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr


@pytest.mark.parametrize("name, minimum", COMBINATIONS)
def test_a_hosts_haproxy_follows_its_profile(tabpy, tmp_path, name, minimum):
    plan = local_balancer(tabpy(tabpy_instances=2, tabpy_tls_profile=name,
                                tabpy_minimum_tls_version=minimum))
    version = "TLSv1.2" if (name, minimum) == ("intermediate", "TLSv1_2") else "TLSv1.3"
    ciphers = ":".join(tls_profile.TLS12_CIPHERS)
    suites = ":".join(tls_profile.TLS13_CIPHERSUITES)
    assert global_tls(balancer.render_config(plan)) == [
        f"ssl-default-bind-ciphers {ciphers}", f"ssl-default-bind-ciphersuites {suites}",
        f"ssl-default-bind-options ssl-min-ver {version} no-tls-tickets",
        f"ssl-default-server-ciphers {ciphers}", f"ssl-default-server-ciphersuites {suites}",
        f"ssl-default-server-options ssl-min-ver {version}"]
    haproxy_accepts(plan, tmp_path)


@pytest.mark.parametrize("name, minimum", COMBINATIONS)
def test_a_pool_follows_its_strictest_server(tabpy, tmp_path, name, minimum):
    backends = [tabpy(HOST1), tabpy(HOST2, tabpy_tls_profile=name,
                                    tabpy_minimum_tls_version=minimum)]
    plan = planned_balancer("tabpylb1.example.com",
                            {"pki_dir": str(tmp_path / "pki"), "secrets_dir": str(tmp_path / "s"),
                             "lb_service_name": "tabpy.example.com"},
                            backends, {HOST1: "127.0.0.1", HOST2: "127.0.0.1"})
    assert plan.tls_profile == host_profile(name, minimum)  # HOST1's is the default, laxer
    expected = plan.tls_profile.haproxy_minimum
    assert [line for line in global_tls(balancer.render_config(plan)) if "options" in line] == [
        f"ssl-default-bind-options ssl-min-ver {expected} no-tls-tickets",
        f"ssl-default-server-options ssl-min-ver {expected}"]
    haproxy_accepts(plan, tmp_path)

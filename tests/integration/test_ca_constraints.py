"""The lab CA's name constraints on real hosts: the lab's root and intermediate carry them, and
client1's curl, through nothing but its OS trust store, refuses a leaf for www.google.com signed
with the lab's own intermediate key, while a lab.test name served the same way verifies.

Nothing of the lab changes: the leaves are issued into tmp_path (the lab's pki_dir is only
read), served by a throwaway `openssl s_server` on client1's loopback, and removed afterwards.
"""

from __future__ import annotations

import random
import shlex
import subprocess

import pytest

from lab import paths
from tabpy_provision import pki
from tests.integration.conftest import ROOT, TABPY_HOSTS, lab_host

pytestmark = pytest.mark.lab

LAB_PKI = ROOT / "pki" / "lab"  # pki_dir of inventory/lab.py
CLIENT = "client1.lab.test"
OUTSIDE = "www.google.com"
INSIDE = "constraints-check.lab.test"  # a lab.test name no lab service uses
OLD_CA = ("the lab CA in pki/lab predates name constraints: move it to a constrained root "
          "(tabpy-provision ca rotate-root -i inventory/lab.py, deploy, ca activate-root, "
          "deploy, ca retire-root, deploy: docs/certificates.md) or start from a fresh pki/lab")


def openssl_text(path) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(path)],
                          capture_output=True, text=True, timeout=30, check=True).stdout


def test_the_lab_ca_carries_name_constraints_for_its_names_only(converged):
    for name in ("root.crt", "intermediate.crt"):
        text = openssl_text(LAB_PKI / "ca" / name)
        assert "X509v3 Name Constraints: critical" in text, f"{name}: {OLD_CA}"
        # tabpy1, tabpy2 and the pool's tabpy.lab.test: one domain, no address
        assert "Permitted:\n                  DNS:lab.test\n                Excluded:\n" \
               "                  IP:0.0.0.0/0.0.0.0\n" \
               "                  IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0\n" in text, name
    intermediate = openssl_text(LAB_PKI / "ca" / "intermediate.crt")
    assert "X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n" in \
        intermediate
    assert "CA:TRUE, pathlen:0" in intermediate
    assert "CA:TRUE, pathlen:1" in openssl_text(LAB_PKI / "ca" / "root.crt")


@pytest.fixture
def served_on_client(converged, tmp_path):
    """serve(name) -> port: a leaf for `name` from the lab's intermediate (its key read on the
    controller, the leaf issued into tmp_path), served on client1's 127.0.0.1 by a throwaway
    `openssl s_server -www`; every server and file removed afterwards."""
    ca = pki.load_ca(LAB_PKI)
    assert pki.of_certificate(ca.intermediate_cert) is not None, OLD_CA
    host = lab_host(CLIENT)
    folder = host.check_output("mktemp -d /tmp/ca-constraints.XXXXXX")
    pids: list[str] = []

    def serve(name: str) -> int:
        leaf = pki.ensure_leaf(ca, tmp_path, name)
        local = tmp_path / name
        local.mkdir()
        (local / "leaf.pem").write_bytes(leaf.cert_pem)
        (local / "chain.pem").write_bytes(ca.intermediate_pem)
        (local / "key.pem").write_bytes(leaf.key_pem)
        subprocess.run(["scp", "-q", "-r", "-F", str(paths.ssh_config_path()), str(local),
                        f"{CLIENT}:{folder}/"], check=True, timeout=30)
        port = free_port(host)
        there = f"{folder}/{name}"
        pids.append(host.check_output(
            f"cd {there} && {{ timeout 300 openssl s_server -quiet -www -accept "
            f"127.0.0.1:{port} -cert leaf.pem -cert_chain chain.pem -key key.pem "
            f"< /dev/null > server.log 2>&1 & }} && echo $!"))
        host.check_output(f"for i in $(seq 100); do ss -ltnH 'sport = :{port}' | grep -q . "
                          f"&& exit 0; sleep 0.1; done; cat {there}/server.log; exit 1")
        return port

    yield serve
    for pid in pids:
        host.run(f"kill {pid}")
    host.check_output(f"rm -rf {shlex.quote(folder)}")


def free_port(host) -> int:
    for _ in range(20):
        port = random.randint(40000, 49999)
        if not host.check_output(f"ss -ltnH 'sport = :{port}'"):
            return port
    raise AssertionError("no free port on client1 between 40000 and 49999")


def curl(name: str, port: int) -> tuple[str, int, str]:
    """(HTTP status, exit code, stderr) of client1's curl to https://NAME:PORT/ at its
    loopback, trusting only its OS store (no --cacert, no --insecure)."""
    done = lab_host(CLIENT).run(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 20 "
        f"--resolve {name}:{port}:127.0.0.1 https://{name}:{port}/")
    return done.stdout.strip(), done.rc, done.stderr


def test_client1_refuses_a_leaf_for_another_site_from_the_lab_intermediate(served_on_client):
    status, rc, error = curl(OUTSIDE, served_on_client(OUTSIDE))
    assert (status, rc) == ("000", 60), error
    assert "permitted subtree violation" in error


def test_client1_trusts_a_lab_name_from_the_same_intermediate(served_on_client):
    """The control: served the same way, a lab.test name verifies - the refusal above is the
    name constraints', not the serving's."""
    assert curl(INSIDE, served_on_client(INSIDE))[:2] == ("200", 0)


def test_client1_still_reaches_the_lab_tabpy_names(converged):
    host = lab_host(CLIENT)
    for fqdn in (*TABPY_HOSTS, "tabpy.lab.test"):
        done = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' https://{fqdn}:9004/info")
        # TLS verified through the OS store (TabPy then asks for credentials)
        assert done.rc == 0 and done.stdout.strip() != "000", (fqdn, done.stderr)

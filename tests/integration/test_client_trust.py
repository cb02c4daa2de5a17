"""Clients and the Tableau node reach TabPy over HTTPS with NOTHING but their OS trust store
(curl without --cacert, Python's default SSL context), through a whole CA life on the lab:
trust deploy, intermediate rotation, leaf renewal, root rotation and retirement. Then the macOS
operation against the stand-in for `security` on a lab host."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab import paths
from lab.hosts import LAB_HOSTS
from tabpy_provision import pki
from tabpy_provision.run.preflight import CONTROLLER_STEP
from tabpy_provision.server import verify
from tabpy_provision.server.plan import endpoint
from tabpy_provision.trust import plan as trust
from tests.company_ca import CompanyCa
from tests.integration.conftest import (
    LAB_INVENTORY,
    ROOT,
    TABPY_HOSTS,
    StartCounter,
    lab_host,
    lab_inventory_with,
    pyinfra,
    tabpy_hosts,
)

pytestmark = pytest.mark.lab

TRUST_HOSTS = [h.fqdn for h in LAB_HOSTS if {"clients", "tableau_servers"} & set(h.groups)]
ANCHORS = trust.LINUX_STORES["debian"].anchor_dir
POOL_NAME = "tabpy.lab.test"  # the lab pool's service name (inventory/lab.py)
# Python's default context, as a client program would use it; prints the HTTP status TabPy
# answered (TLS verified) or the name of the TLS error.
PYTHON_PROBE = """
import ssl, sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], context=ssl.create_default_context(), timeout=10)
    print(200)
except urllib.error.HTTPError as error:
    print(error.code)
except urllib.error.URLError as error:
    print(type(error.reason).__name__)
"""


def os_store_results(client: str, server: str) -> tuple[str, str]:
    """(curl, python) from `client` to TabPy on `server`, trusting only the OS store.
    Without credentials TabPy answers 401 - once TLS, name included, verified."""
    host = lab_host(client)
    url = f"https://{server}:9004/info"
    curl = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' {url}")
    python = host.run(f"python3 -c {shlex.quote(PYTHON_PROBE)} {url}")
    return f"{curl.stdout.strip()} rc={curl.rc}", python.stdout.strip()


def expect_trusted(trusted: bool, step: str) -> None:
    wanted = ("401 rc=0", "401") if trusted else ("000 rc=60", "SSLCertVerificationError")
    results = {(c, s): os_store_results(c, s) for c in TRUST_HOSTS for s in TABPY_HOSTS}
    assert results == dict.fromkeys(results, wanted), step


def anchor_name(root: x509.Certificate) -> str:
    """The file the trust deploy gives a root on Debian, in the lab's scope (its environment)."""
    return f"{trust.MANAGED_PREFIX}lab-{trust.TrustCert('root', root).label}.crt"


def managed_anchors(client: str) -> list[str]:
    return sorted(lab_host(client).check_output(
        f"ls {ANCHORS} | grep '^{trust.MANAGED_PREFIX}' || true").split())


def served(fqdn: str) -> list[x509.Certificate]:
    [(_, data)] = [(n, d) for n, d in tabpy_hosts(LAB_INVENTORY) if n == fqdn]
    where = endpoint(fqdn, data)
    return [x509.load_pem_x509_certificate(pem) for pem in verify.served_chain(
        fqdn=where.fqdn, address=where.address, port=where.port)]


def ca_command(inventory: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tabpy_provision", "ca", *args, "-i", inventory],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def deploy(inventory: str, entry: str = "deploy/site.py", step: str = "",
           env: dict[str, str] | None = None):
    # These tests move the lab between CAs on purpose: each move is a new identity.
    run = pyinfra("--json", "--data", "new_identity=true", inventory=inventory, entry=entry,
                  env=env)
    assert run.returncode == 0, f"{step}: {run.stderr[-3000:]}"
    assert run.errors() == {}, step
    return run


def test_lab_clients_trust_the_lab_ca_through_the_os_store(converged):
    expect_trusted(True, "after the site deploy")
    root = pki.load_ca(ROOT / "pki" / "lab").root_cert
    name = anchor_name(root)
    for client in TRUST_HOSTS:
        assert managed_anchors(client) == [name]
        anchor = lab_host(client).file(f"{ANCHORS}/{name}")
        assert (anchor.user, anchor.group, anchor.mode) == ("root", "root", 0o644)
        assert anchor.content == pki.to_pem(root)
        # update-ca-certificates linked it into the bundle OpenSSL and curl read.
        assert lab_host(client).run(
            f"openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt {ANCHORS}/{name}").rc == 0


@pytest.fixture
def lab_ca_restored(converged):
    """Whatever happens in the test, the lab is deployed with its own CA afterwards."""
    yield
    deploy(LAB_INVENTORY, step="back to the lab CA")


def test_a_whole_ca_life_with_only_the_os_trust_store(lab_ca_restored, tmp_path):
    """A fresh CA in tmp_path: unknown to every client when it starts, so the first check
    genuinely fails; the lab's own CA is put back at the end."""
    test_ca = {"pki_dir": str(tmp_path / "pki"), "pki_common_name": "Trust test",
               "trust_artifacts_dir": str(tmp_path / "artifacts")}
    (tmp_path / "short").mkdir()
    (tmp_path / "renewing").mkdir()
    # the pool's certificate moves to the test CA with the servers'
    pool_ca = {"pki_dir": test_ca["pki_dir"], "pki_common_name": test_ca["pki_common_name"]}
    # Rserve stays on the lab's CA (its clients keep that root): left out of this CA's life.
    short = lab_inventory_with(tmp_path / "short", **test_ca, pool=pool_ca, rserve=False,
                               pki_leaf_days=30, pki_renew_before_days=5)

    deploy(short, "deploy/tabpy.py", "servers on the test CA")
    expect_trusted(False, "before the trust deploy")

    deploy(short, "deploy/trust.py", "trust deploy")
    expect_trusted(True, "after the trust deploy")
    test_root = pki.load_ca(tmp_path / "pki").root_cert
    for client in TRUST_HOSTS:  # exactly what this inventory's servers need
        assert managed_anchors(client) == [anchor_name(test_root)]

    # Intermediate rotation: every leaf re-issued, one restart per server, never untrusted.
    rotated = ca_command(short, "rotate-intermediate")
    assert rotated.returncode == 0, rotated.stderr
    assert "new intermediate Trust test Intermediate CA G2" in rotated.stdout
    starts = StartCounter()
    deploy(short, step="after rotate-intermediate")
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 1)
    expect_trusted(True, "after the intermediate rotation")
    assert {pki.subject_cn(served(fqdn)[1]) for fqdn in TABPY_HOSTS} == {
        "Trust test Intermediate CA G2"}

    # Leaf renewal: inside the renewal window (45 days) the 30-day leaves are re-issued.
    renewing = lab_inventory_with(tmp_path / "renewing", **test_ca, pool=pool_ca, rserve=False,
                                  pki_leaf_days=90,
                                  pki_renew_before_days=45)
    before = {fqdn: served(fqdn)[0] for fqdn in TABPY_HOSTS}
    starts = StartCounter()
    deploy(renewing, step="renewal")
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 1)
    for fqdn in TABPY_HOSTS:
        leaf = served(fqdn)[0]
        assert leaf != before[fqdn]
        assert leaf.not_valid_after_utc - datetime.now(UTC) > timedelta(days=89)
    expect_trusted(True, "after the leaf renewal")

    # Root rotation, 1/3: the new root reaches the clients; the servers do not change.
    assert ca_command(renewing, "rotate-root").returncode == 0
    starts = StartCounter()
    deploy(renewing, step="rotate-root")
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 0)
    registry = pki.load_ca(tmp_path / "pki").registry
    both = sorted(anchor_name(c.cert) for c in registry if c.role == "root")
    for client in TRUST_HOSTS:
        assert managed_anchors(client) == both
    expect_trusted(True, "with two roots")

    # 2/3 activated but not deployed: retiring the old root now is refused...
    assert ca_command(renewing, "activate-root").returncode == 0
    refused = ca_command(renewing, "retire-root")
    assert refused.returncode == 1
    for fqdn in TABPY_HOSTS:
        assert f"{fqdn}: still serves a chain from Trust test Root CA" in refused.stderr
    # ...and forcing it shows why: the clients stop trusting servers still on the old root.
    assert ca_command(renewing, "retire-root", "--force").returncode == 0
    deploy(renewing, "deploy/trust.py", "trust after a forced retirement")
    expect_trusted(False, "after the CA was retired")

    # The site deploy gives every server a leaf from the new root: trusted again.
    starts = StartCounter()
    deploy(renewing, step="after activate-root")
    assert starts.starts() == dict.fromkeys(TABPY_HOSTS, 1)
    expect_trusted(True, "after the servers moved to the new root")
    new_root = pki.load_ca(tmp_path / "pki").root_cert
    for client in TRUST_HOSTS:
        assert managed_anchors(client) == [anchor_name(new_root)]
    rerun = deploy(renewing, step="rerun")
    assert rerun.changed() == {}


def test_enterprise_certificate_with_an_encrypted_key(lab_ca_restored, tmp_path):
    """A company chain given out of order, its key protected by a passphrase (a secret
    reference): the servers get the chain in order and the key decrypted (0600); the clients
    trust the company root through the trust deploy."""
    company = CompanyCa("Company")
    # one company certificate for every name, the pool's service name included
    leaf, key = company.leaf(TABPY_HOSTS[0], also=(*TABPY_HOSTS[1:], POOL_NAME))
    (tmp_path / "tabpy.crt").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (company.root, leaf, company.inter)))
    (tmp_path / "tabpy.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"company passphrase")))
    company_cert = {"tabpy_certificate_file": str(tmp_path / "tabpy.crt"),
                    "tabpy_key_file": str(tmp_path / "tabpy.key"),
                    "tabpy_key_passphrase": "env:TABPY_IT_KEY"}
    inventory = lab_inventory_with(tmp_path, **company_cert, pool=company_cert, rserve=False,
                                   trust_artifacts_dir=str(tmp_path / "artifacts"))

    refused = pyinfra(inventory=inventory)
    assert refused.returncode != 0
    for fqdn in TABPY_HOSTS:
        assert f"tabpy-provision: {fqdn}: tabpy_key_passphrase (env:TABPY_IT_KEY): environment " \
               "variable TABPY_IT_KEY is not set" in refused.stderr

    deploy(inventory, step="company certificate", env={"TABPY_IT_KEY": "company passphrase"})
    plain_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    for fqdn in TABPY_HOSTS:
        assert served(fqdn) == [leaf, company.inter, company.root]
        installed = lab_host(fqdn).file("/etc/tabpy/current/tls/tabpy.key")
        assert (installed.user, installed.mode) == ("tabpy", 0o600)
        assert lab_host(fqdn).check_output("sha256sum /etc/tabpy/current/tls/tabpy.key").split()[
            0] == hashlib.sha256(plain_key).hexdigest()
    company_root = anchor_name(company.root)
    for client in TRUST_HOSTS:
        assert managed_anchors(client) == [company_root]
    expect_trusted(True, "company CA")


def test_back_on_the_lab_ca_the_test_cas_left_every_client(converged):
    """After the CA life above (its fixture redeployed the lab inventory)."""
    expect_trusted(True, "back on the lab CA")
    lab_root = pki.load_ca(ROOT / "pki" / "lab").root_cert
    for client in TRUST_HOSTS:
        assert managed_anchors(client) == [anchor_name(lab_root)]


# --- macOS, against the stand-in for `security` -------------------------------------------------

MAC = "client1.lab.test"
STANDIN = ROOT / "tests" / "standins" / "security_standin.py"
STANDIN_STATE = "/var/lib/security-standin/state.json"


def mac_inventory(folder: Path, pki_dir: Path) -> str:
    """The lab's TabPy servers planned against a CA in `pki_dir` (they are not deployed by
    deploy/trust.py) and client1 managed as a Mac; no Tableau node."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mac_inventory.py"
    path.write_text(
        "import runpy\n"
        f"inventory = runpy.run_path({str(ROOT / LAB_INVENTORY)!r})\n"
        "hosts, data = inventory['tabpy_servers']\n"
        f"tabpy_servers = (hosts, {{**data, 'pki_dir': {str(pki_dir)!r}, "
        "'pki_common_name': 'Mac test', 'tabpy_allowed_sources': ['@clients'], "
        f"'trust_artifacts_dir': {str(folder / 'artifacts')!r}}})\n"
        "clients = [(name, {**data, 'trust_os_family': 'macos'}) "
        f"for name, data in inventory['clients'] if name == {MAC!r}]\n")
    return str(path)


@pytest.fixture
def standin_mac(converged):
    """client1 with the stand-in installed as /usr/local/bin/security; removed afterwards."""
    subprocess.run(["scp", "-q", "-F", str(paths.ssh_config_path()), str(STANDIN),
                    f"{MAC}:/usr/local/bin/security"], check=True, timeout=30)
    host = lab_host(MAC)
    host.check_output(f"chmod 0755 /usr/local/bin/security && rm -rf {STANDIN_STATE} "
                      "/var/db/tabpy-provision")
    yield host
    host.check_output(f"rm -rf /usr/local/bin/security {Path(STANDIN_STATE).parent} "
                      "/var/db/tabpy-provision")


def keychain_sha1s(host) -> set[str]:
    listed = host.run(f"security find-certificate -a -Z {trust.SYSTEM_KEYCHAIN}")
    assert listed.rc in (0, 44), listed.stderr
    return {line.split(":")[1].strip() for line in listed.stdout.splitlines()
            if line.startswith("SHA-1 hash:")}


def test_macos_keychain_adds_once_and_removes_on_retire(standin_mac, tmp_path):
    host = standin_mac
    pki_dir = tmp_path / "pki"
    inventory = mac_inventory(tmp_path, pki_dir)
    rule = host.check_output(f"security authorizationdb read {trust.TRUST_SETTINGS_RIGHT}")
    assert "authenticate-admin" in rule

    first = deploy(inventory, "deploy/trust.py", "mac: first run")
    changed = first.changed()
    assert len(changed.pop(CONTROLLER_STEP)) == 1  # the new test CA, written once
    assert changed == {"Client trust | CA certificates in the System keychain": [MAC]}
    old_root = trust.TrustCert("root", pki.load_ca(pki_dir).root_cert)
    assert keychain_sha1s(host) == {old_root.sha1}
    trusted = host.check_output("security dump-trust-settings -d")
    assert f"Cert 0: {old_root.subject}\n" in trusted
    assert "Result Type    : kSecTrustSettingsResultTrustRoot" in trusted
    # The right was opened for the add only, and closed again.
    assert host.check_output(f"security authorizationdb read {trust.TRUST_SETTINGS_RIGHT}") == \
        rule
    record = host.file(f"{trust.MACOS_RECORDS}/trusted-lab.pem")
    assert (record.user, record.mode, record.content) == ("root", 0o644, old_root.pem)
    assert host.file("/var/db/tabpy-provision").mode == 0o700

    assert deploy(inventory, "deploy/trust.py", "mac: rerun").changed() == {}

    for step in ("rotate-root", "activate-root", "retire-root"):
        done = ca_command(inventory, step)
        assert done.returncode == 0, f"{step}: {done.stderr}"
    deploy(inventory, "deploy/trust.py", "mac: after retire-root")
    new_root = trust.TrustCert("root", pki.load_ca(pki_dir).root_cert)
    assert keychain_sha1s(host) == {new_root.sha1}
    trusted = host.check_output("security dump-trust-settings -d")
    assert f"Cert 0: {new_root.subject}\n" in trusted
    assert f"{old_root.subject}\n" not in trusted
    assert host.check_output(f"security authorizationdb read {trust.TRUST_SETTINGS_RIGHT}") == \
        rule
    assert deploy(inventory, "deploy/trust.py", "mac: rerun after retire").changed() == {}
    # Its Linux trust store was not touched: client1 still reaches TabPy on the lab CA.
    assert os_store_results(MAC, TABPY_HOSTS[0]) == ("401 rc=0", "401")

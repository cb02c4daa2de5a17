"""Certificates from a real ACME server: Pebble on acme1 (lab/acme.py), DNS-01 answered through
pebble-challtestsrv, for the TabPy servers and the pool's balancers (inventory/lab_acme.py).

Issued and verified by client1 through its OS trust store; a rerun orders nothing; a renewal
rolls through the pool under load without a failed request; a challenge that fails leaves the
current certificate serving and names host, name and the CA's error; a first order that fails,
and --dry, change nothing anywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from lab import acme as lab_acme
from lab import hosts as lab_hosts
from tabpy_provision.pki import acme as pki_acme
from tabpy_provision.server import verify
from tests.integration.conftest import ROOT, TABPY_HOSTS, lab_host, pyinfra
from tests.load import Load

pytestmark = pytest.mark.lab

ACME_INVENTORY = "inventory/lab_acme.py"
CLIENT = "client1.lab.test"
SERVICE = "tabpy.lab.test"
ENDPOINTS = {**{fqdn: lab_hosts.get_host(fqdn).address for fqdn in TABPY_HOSTS},
             SERVICE: lab_hosts.SERVICE_NAMES[SERVICE]}
ORDERING = "--> ACME: ordering"


def password(user: str) -> str:
    return (ROOT / "secrets/lab/tabpy_users" / user).read_text().strip()


def deploy(inventory: str, *args: str):
    run = pyinfra("--json", *args, inventory=inventory)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def served_leaf(name: str) -> x509.Certificate:
    [pem, *_] = verify.served_chain(fqdn=name, address=ENDPOINTS[name], port=9004)
    return x509.load_pem_x509_certificate(pem)


def serials() -> dict[str, int]:
    return {name: served_leaf(name).serial_number for name in ENDPOINTS}


def variant(folder: Path, **data) -> str:
    """inventory/lab_acme.py with data added to the TabPy servers and the balancers."""
    path = folder / "lab_acme_variant.py"
    path.write_text(
        "import runpy\n"
        f"acme = runpy.run_path({str(ROOT / ACME_INVENTORY)!r})\n"
        f"extra = {data!r}\n"
        "tabpy_servers = (acme['tabpy_servers'][0], {**acme['tabpy_servers'][1], **extra})\n"
        "tabpy_lb = (acme['tabpy_lb'][0], {**acme['tabpy_lb'][1], **extra})\n"
        "tableau_servers = acme['tableau_servers']\n"
        "clients = acme['clients']\n")
    return str(path)


@pytest.fixture(scope="module")
def acme_site(converged):
    """The lab site with Pebble's certificates; back to the private CA afterwards."""
    first = deploy(ACME_INVENTORY)
    second = deploy(ACME_INVENTORY)
    yield first, second
    deploy("inventory/lab.py")


def test_pebble_issues_every_certificate_and_a_rerun_orders_nothing(acme_site):
    first, second = acme_site
    assert second.changed() == {}, second.changed()
    assert ORDERING not in second.output
    root = x509.load_pem_x509_certificate(lab_acme.root_path().read_bytes())
    for name in ENDPOINTS:
        chain = [x509.load_pem_x509_certificate(pem) for pem in verify.served_chain(
            fqdn=name, address=ENDPOINTS[name], port=9004)]
        assert chain[0].issuer == chain[1].subject, name  # the full chain is served
        assert chain[1].issuer == root.subject, name
        # client1 verifies TabPy through its OS trust store (curl's default CA bundle) alone
        done = lab_host(CLIENT).run(
            f"curl -sS -o /dev/null -w '%{{http_code}}' https://{name}:9004/info")
        assert done.rc == 0 and done.stdout in ("200", "401"), (name, done.stderr)


def test_a_renewal_rolls_through_the_pool_without_a_failed_request(acme_site):
    before = serials()
    with Load(CLIENT, SERVICE, "tableau", password("tableau"), concurrency=4,
              seconds=600) as load:
        renewed = deploy(ACME_INVENTORY, "--data", "acme_renew=all")
    result = load.result
    print(f"\nFIGURE ACME renewal of every certificate under load through {SERVICE}: "
          f"{result['served']} served, {result['failed']} failed")
    assert result["failed"] == 0, result
    assert result["served"] > 50, result
    assert renewed.output.count(ORDERING) == 3  # tabpy1, tabpy2, the pool's name once
    after = serials()
    assert all(after[name] != before[name] for name in ENDPOINTS), (before, after)
    rerun = deploy(ACME_INVENTORY)
    assert rerun.changed() == {} and ORDERING not in rerun.output


def test_a_failing_challenge_leaves_the_current_certificate_serving(acme_site, tmp_path):
    before = serials()
    # The stored certificates, but a new account: an ACME CA may reuse an account's recent
    # valid authorization without a challenge (Pebble did, now and then, for the pool's name).
    pki_dir = tmp_path / "pki"
    shutil.copytree(ROOT / "pki/lab-acme" / pki_acme.ACME_DIR / "certs",
                    pki_dir / pki_acme.ACME_DIR / "certs")
    unpublished = variant(tmp_path, acme_dns_hook=["true"],  # never publishes the TXT record
                          pki_dir=str(pki_dir))
    run = pyinfra("--json", "--data", "acme_renew=all", inventory=unpublished)
    assert run.returncode != 0
    url = lab_acme.directory_url()
    for fqdn in TABPY_HOSTS:
        assert (f"{fqdn}: ACME order for {fqdn} at {url} failed: {fqdn}: unauthorized: "
                "No TXT records found") in run.output, run.stderr[-3000:]
    assert f"ACME order for {SERVICE} at {url} failed" in run.output
    assert serials() == before
    checked = subprocess.run([sys.executable, "-m", "tabpy_provision", "check", "-i",
                              ACME_INVENTORY], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_certificate_report_shows_acme_rows_with_their_renewal_date(acme_site):
    report = subprocess.run([sys.executable, "-m", "tabpy_provision", "certs", "-i",
                             ACME_INVENTORY], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert report.returncode == 0, report.stdout + report.stderr
    rows = report.stdout.splitlines()
    assert any(row.startswith(str(lab_acme.root_path())) and "root CA" in row for row in rows)
    for name in (*TABPY_HOSTS, "tabpylb1.lab.test"):
        [row] = [row for row in rows if row.startswith(name)]
        not_after = served_leaf(SERVICE if "lb" in name else name).not_valid_after_utc
        assert f"OK: ACME; the deploy renews it from {pki_acme.renewal_date(not_after, 30)}" \
            in row, row


def test_dry_and_a_failed_first_order_change_nothing(acme_site, tmp_path):
    pki_dir = tmp_path / "pki"
    fresh = variant(tmp_path, pki_dir=str(pki_dir))
    dry = pyinfra("--dry", inventory=fresh)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "would order an ACME certificate for tabpy1.lab.test" in dry.output
    assert ORDERING not in dry.output and not pki_dir.exists()
    before = serials()
    failing = variant(tmp_path, pki_dir=str(pki_dir), acme_dns_hook=["true"])
    run = pyinfra(inventory=failing)
    assert run.returncode != 0
    assert (f"tabpy-provision: tabpy1.lab.test: acme_directory_url: ACME order for "
            f"tabpy1.lab.test at {lab_acme.directory_url()} failed: tabpy1.lab.test: "
            "unauthorized: No TXT records found") in run.stderr, run.stderr[-3000:]
    assert "nothing was changed" in run.output
    assert not pki_dir.exists() and serials() == before


def test_http01_is_answered_on_port_80_by_the_hosts_of_each_name(acme_site, tmp_path):
    """Fresh certificates by HTTP-01: Pebble fetches each token from port 80 of the name (the
    pool's name: whichever balancer holds its address); nothing is left listening after."""
    pki_dir = tmp_path / "pki"
    http01 = variant(tmp_path, acme_challenge="http-01", acme_dns_hook=None,
                     pki_dir=str(pki_dir))
    try:
        first = deploy(http01)
        assert first.output.count(ORDERING) == 3, first.stderr[-3000:]
        for name in ENDPOINTS:
            stored = x509.load_pem_x509_certificate(
                (pki_acme.certificate_folder(pki_dir, name) / pki_acme.CHAIN_FILE).read_bytes())
            assert served_leaf(name) == stored, name
        for fqdn in (*TABPY_HOSTS, "tabpylb1.lab.test", "tabpylb2.lab.test"):
            listening = lab_host(fqdn).run("ss -Htln 'sport = :80'").stdout.strip()
            assert listening == "", (fqdn, listening)
        rerun = deploy(http01)
        assert rerun.changed() == {} and ORDERING not in rerun.output
    finally:
        deploy(ACME_INVENTORY)  # the module's own certificates back

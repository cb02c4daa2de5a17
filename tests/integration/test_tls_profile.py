"""TLS on every listener of the lab, scanned from the controller by testssl.sh as an auditor
would (docs/tls.md): each TabPy server, the pool (tabpy.lab.test at its virtual address), and,
with two TabPy processes per host, each host's own HAProxy and a TabPy process behind it.

Every listener offers AEAD suites only (no CBC: LUCKY13), no protocol below its minimum, no TLS
compression, and a chain that verifies to the lab's CA for the name asked. A host moved to the
modern profile (TLS 1.3 only) refuses TLS 1.2 on its HAProxy and its processes, and the pool in
front follows the strictest of its servers. Each scan is printed as a TLS line (`pytest -s`)."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import hosts as lab_hosts
from tabpy_provision.server import tls_profile
from tests.integration.conftest import (
    TABPY_HOSTS,
    lab_host,
    lab_inventory_with,
    lab_plans,
    pyinfra,
)

pytestmark = pytest.mark.lab

SERVICE = "tabpy.lab.test"
BALANCERS = [h.fqdn for h in lab_hosts.LAB_HOSTS if "tabpy_lb" in h.groups]
MODERN_HOST = TABPY_HOSTS[1]  # tabpy2: Debian 13
#: Protocols, cipher categories, every cipher one by one, the certificate and chain, and the
#: findings this profile is about; the rest of a full run (client simulations, ROBOT...) would
#: triple the time and prove nothing here.
#: No DNS: each listener is given by address (--ip), and the lab's names are in no DNS.
TESTSSL = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
           "--protocols", "--std", "--each-cipher", "--server-defaults", "--lucky13", "--crime",
           "--breach"]
AEAD = {*tls_profile.TLS12_CIPHERS, *tls_profile.TLS13_CIPHERSUITES}


@dataclass(frozen=True)
class Listener:
    name: str  # the name asked (SNI) and checked in the certificate
    address: str
    port: int
    minimum: str  # TLSv1_2 or TLSv1_3

    def __str__(self) -> str:
        return f"{self.name}:{self.port}"


def address_of(fqdn: str) -> str:
    return lab_hosts.SERVICE_NAMES.get(fqdn) or lab_hosts.get_host(fqdn).address


def pool(minimum: str) -> list[Listener]:
    """The pool's name at its virtual address, and at each balancer's own (both configs)."""
    return [Listener(SERVICE, address, 9004, minimum) for address in
            (address_of(SERVICE), *map(address_of, BALANCERS))]


def scan(listener: Listener, folder: Path) -> dict[str, str]:
    """testssl.sh's findings by id; trust: the lab's CA alone (CA_BUNDLES_PATH)."""
    # A file of its own: testssl.sh refuses to write over one.
    report = folder / f"{listener.name}-{listener.address}-{listener.port}.json"
    done = subprocess.run(
        [*TESTSSL, "--jsonfile", str(report), "--ip", listener.address, str(listener)],
        env={**os.environ, "CA_BUNDLES_PATH": str(folder / "ca")},
        capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), f"{listener}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return {item["id"]: item["finding"] for item in json.loads(report.read_text())}


def offered_suites(findings: dict[str, str]) -> set[str]:
    """OpenSSL names of the suites offered: `cipher_x1301` (testssl 3.0), `cipher-tls1_3_x1301`
    (3.2); a finding reads `x1301 TLS_AES_128_GCM_SHA256 ECDH 253 AESGCM 128 ...`."""
    return {finding.split()[1] for key, finding in findings.items()
            if key.startswith(("cipher_x", "cipher-")) and "not offered" not in finding}


def problems(listener: Listener, findings: dict[str, str]) -> list[str]:
    """What testssl.sh says against the profile, one line each."""
    found = []

    def expect(key: str, wanted: tuple[str, ...]) -> None:
        if not findings.get(key, "").startswith(wanted):
            found.append(f"{listener}: {key}: {findings.get(key)!r}, wanted {wanted}")

    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        expect(old, ("not offered",))
    expect("TLS1_2", ("offered",) if listener.minimum == "TLSv1_2" else ("not offered",))
    expect("TLS1_3", ("offered",))
    # "Obsolete CBC ciphers": cipherlist_AVERAGE in testssl 3.0, cipherlist_OBSOLETED in 3.2
    cbc = "cipherlist_OBSOLETED" if "cipherlist_OBSOLETED" in findings else "cipherlist_AVERAGE"
    expect(cbc, ("not offered",))
    expect("LUCKY13", ("not vulnerable",))
    expect("CRIME_TLS", ("not vulnerable", "TLS 1.3 only"))  # no TLS compression
    expect("cert_chain_of_trust", ("passed",))
    expect("cert_trust", ("Ok via SAN",))
    offered = offered_suites(findings)
    allowed = AEAD if listener.minimum == "TLSv1_2" else set(tls_profile.TLS13_CIPHERSUITES)
    if not offered or offered - allowed:
        found.append(f"{listener}: offers {sorted(offered)}: outside the profile "
                     f"{sorted(offered - allowed)}")
    return found


def scan_all(listeners: list[Listener], folder: Path) -> list[str]:
    ca = folder / "ca"
    ca.mkdir(exist_ok=True)
    plan = next(iter(lab_plans().values()))  # the lab's one private CA (pki/lab)
    (ca / "lab.pem").write_bytes(plan.tls.ca_pem)
    with ThreadPoolExecutor(max_workers=3) as scans:
        reports = list(scans.map(lambda listener: scan(listener, folder), listeners))
    found = []
    for listener, findings in zip(listeners, reports, strict=True):
        cbc = findings.get("cipherlist_AVERAGE", findings.get("cipherlist_OBSOLETED"))
        print(f"TLS {listener} at {listener.address} ({listener.minimum}): "
              f"{' '.join(sorted(offered_suites(findings)))}; CBC {cbc}; "
              f"BREACH {findings.get('BREACH')}")
        found += problems(listener, findings)
    return found


def test_every_listener_of_the_lab_offers_the_intermediate_profile(converged, tmp_path):
    listeners = [Listener(fqdn, address_of(fqdn), 9004, "TLSv1_2") for fqdn in TABPY_HOSTS]
    assert scan_all([*listeners, *pool("TLSv1_2")], tmp_path) == []
    # TabPy's processes loaded the module (their unit's PYTHONPATH): it says so on the first
    # connection it sets, the deploy's own health check.
    for fqdn in TABPY_HOSTS:
        journal = lab_host(fqdn).check_output("journalctl -u tabpy.service --no-pager -o cat")
        assert "TLS: intermediate profile, TLSv1_2 minimum" in journal, fqdn


@pytest.fixture(scope="module")
def processes_and_modern(converged, tmp_path_factory):
    """Two TabPy processes per host, tabpy2 on the modern profile; the lab as it was after."""
    folder = tmp_path_factory.mktemp("tls")
    inventory = lab_inventory_with(folder, tabpy_instances=2,
                                   hosts={MODERN_HOST: {"tabpy_tls_profile": "modern"}})
    run = pyinfra(inventory=inventory)
    assert run.returncode == 0, run.stderr[-3000:]
    yield
    back = pyinfra()
    assert back.returncode == 0, back.stderr[-3000:]


def test_host_balancers_processes_and_the_pool_follow_each_hosts_profile(
        processes_and_modern, tmp_path):
    minimum = {fqdn: "TLSv1_3" if fqdn == MODERN_HOST else "TLSv1_2" for fqdn in TABPY_HOSTS}
    listeners = [Listener(fqdn, address_of(fqdn), port, minimum[fqdn])
                 for fqdn in TABPY_HOSTS for port in (9004, 9101)]  # its HAProxy, a process
    # The pool offers nothing one of its servers refuses: TLS 1.3 only.
    assert scan_all([*listeners, *pool("TLSv1_3")], tmp_path) == []
    journal = lab_host(MODERN_HOST).check_output(
        "journalctl -u tabpy@9101.service --no-pager -o cat")
    assert "TLS: modern profile, TLSv1_3 minimum" in journal

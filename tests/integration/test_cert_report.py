"""The certificate report against the lab: all OK when deployed; a leaf inside its window, a
client missing the root and a certificate changed by hand on a server are each flagged (exit 1),
and a deploy puts things right."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lab import paths
from lab.hosts import LAB_HOSTS
from tabpy_provision import pki
from tests.integration.conftest import (
    LAB_INVENTORY,
    ROOT,
    TABPY_HOSTS,
    lab_host,
    lab_inventory_with,
    pyinfra,
)

pytestmark = pytest.mark.lab
TRUST_HOSTS = ("client1.lab.test", "tableau1.lab.test")


# each serves the pool's name, tabpy.lab.test
BALANCERS = [h.fqdn for h in LAB_HOSTS if "tabpy_lb" in h.groups]
RSERVE = "rserve1.lab.test"


def report(inventory: str = LAB_INVENTORY) -> tuple[int, dict[tuple[str, str], str]]:
    """(exit code, {(host, role): line})."""
    done = subprocess.run([sys.executable, "-m", "tabpy_provision", "certs", "-i", inventory],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    lines = done.stdout.splitlines()
    assert lines and lines[0].split()[:3] == ["host", "role", "subject"], done.stderr
    rows = {}
    for line in lines[1:]:
        host, rest = line.split(maxsplit=1)
        role = next(r for r in ("TabPy leaf (served)", "Rserve leaf (served)", "intermediate CA",
                                "root CA", "trust store") if rest.startswith(r))
        rows[(host, role)] = line
    return done.returncode, rows


@pytest.fixture
def redeployed_afterwards(converged):
    yield
    run = pyinfra()
    assert run.returncode == 0, run.stderr[-3000:]


def test_deployed_lab_is_all_ok(converged):
    code, rows = report()
    assert code == 0, rows
    assert set(rows) == {("pki/lab", "root CA"), ("pki/lab", "intermediate CA"),
                         *((fqdn, "TabPy leaf (served)") for fqdn in TABPY_HOSTS),
                         *((lb, "TabPy leaf (served)") for lb in BALANCERS),
                         (RSERVE, "Rserve leaf (served)")}
    assert all(line.endswith("OK") for line in rows.values())
    root = rows[("pki/lab", "root CA")]
    assert "client1.lab.test, tableau1.lab.test, artifacts" in root
    for host, name, role in [*((fqdn, fqdn, "TabPy") for fqdn in TABPY_HOSTS),
                             *((lb, "tabpy.lab.test", "TabPy") for lb in BALANCERS),
                             (RSERVE, RSERVE, "Rserve")]:
        leaf = rows[(host, f"{role} leaf (served)")]
        assert f" {name} " in leaf  # subject and SAN
        assert "via tabpy-provision lab Root CA: client1.lab.test, tableau1.lab.test" in leaf


def test_leaf_inside_its_renewal_window(converged, tmp_path):
    code, rows = report(lab_inventory_with(tmp_path, pki_leaf_days=825,
                                           pki_renew_before_days=800))
    assert code == 1
    for fqdn in TABPY_HOSTS:
        assert rows[(fqdn, "TabPy leaf (served)")].endswith(
            "RENEW: inside the renewal window (800 days)")
    assert rows[("pki/lab", "root CA")].endswith("OK")


def test_client_without_the_root_and_a_certificate_changed_by_hand(redeployed_afterwards,
                                                                   tmp_path):
    client = lab_host(TRUST_HOSTS[0])
    client.check_output("rm -f /usr/local/share/ca-certificates/tabpy-provision-* && "
                        "update-ca-certificates --fresh >/dev/null")
    # On tabpy2, someone serves another certificate of the same CA, by hand.
    ca = pki.load_ca(ROOT / "pki" / "lab")
    stranger = pki.ensure_leaf(ca, tmp_path / "pki", TABPY_HOSTS[1])
    (tmp_path / "tabpy.crt").write_bytes(stranger.chain_pem)
    (tmp_path / "tabpy.key").write_bytes(stranger.key_pem)
    tls = "/etc/tabpy/current/tls"
    subprocess.run(["scp", "-q", "-F", str(paths.ssh_config_path()), str(tmp_path / "tabpy.crt"),
                    str(tmp_path / "tabpy.key"), f"{TABPY_HOSTS[1]}:{tls}/"], check=True,
                   timeout=30)
    lab_host(TABPY_HOSTS[1]).check_output(
        f"chown tabpy {tls}/tabpy.key && systemctl restart tabpy && for i in $(seq 50); do "
        "curl -s -o /dev/null --cacert /etc/tabpy/ca.crt https://tabpy2.lab.test:9004/info "
        "&& break; sleep 0.2; done")

    code, rows = report()
    assert code == 1
    assert rows[("pki/lab", "root CA")].endswith(
        f"BROKEN: not trusted on {TRUST_HOSTS[0]}: run tabpy-provision deploy trust")
    assert rows[(TABPY_HOSTS[1], "TabPy leaf (served)")].endswith(
        "BROKEN: not the inventory's certificate (changed by hand, or not deployed yet)")
    assert rows[(TABPY_HOSTS[0], "TabPy leaf (served)")].endswith("OK")

    assert pyinfra().returncode == 0
    assert report()[0] == 0

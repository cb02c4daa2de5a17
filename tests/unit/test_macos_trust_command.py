"""The macOS keychain command, run here against the stand-in for `security`
(tests/standins/security_standin.py): adds, deletes, and the authorization rule always restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tabpy_provision import pki
from tabpy_provision.trust import plan as trust

NOW = datetime.now(UTC).replace(microsecond=0)
STANDIN = Path(__file__).resolve().parents[1] / "standins" / "security_standin.py"
RIGHT = trust.TRUST_SETTINGS_RIGHT
LAB = pki.permitted_for(["tabpy1.lab.test"])


@pytest.fixture
def mac(tmp_path):
    """A PATH with `security` = the stand-in, its state in tmp_path; run(cmd) -> result."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "security").write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN} \"$@\"\n")
    (bin_dir / "security").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "SECURITY_STANDIN_STATE": str(tmp_path / "state.json")}

    class Mac:
        def run(self, command: str) -> subprocess.CompletedProcess:
            return subprocess.run(["sh", "-c", command], env=env, capture_output=True,
                                  text=True, timeout=60, check=False)

        def state(self) -> dict:
            return json.loads((tmp_path / "state.json").read_text())

        def rule(self) -> str:
            return self.run(f"security authorizationdb read {RIGHT}").stdout

    return Mac()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    ca = pki.ensure_ca(tmp_path_factory.mktemp("pki"), permitted=LAB, common_name="Lab", now=NOW)
    return trust.TrustCert("root", ca.root_cert), trust.TrustCert("intermediate",
                                                                  ca.intermediate_cert)


def staged(tmp_path, *entries):
    pairs = []
    for cert in entries:
        path = tmp_path / f"{cert.name}.pem"
        path.write_bytes(cert.pem)
        pairs.append((cert, str(path)))
    return pairs


def test_standin_refuses_admin_trust_without_the_rule(mac, certs, tmp_path):
    """Positive control: what makes the authorization dance necessary over SSH."""
    [(_, path)] = staged(tmp_path, certs[0])
    done = mac.run(f"security add-trusted-cert -d -r trustRoot -k {trust.SYSTEM_KEYCHAIN} "
                   f"{path}")
    assert done.returncode == 1
    assert "The authorization was denied since no user interaction was possible" in done.stderr


def test_adds_root_with_trust_and_intermediate_without(mac, certs, tmp_path):
    root, inter = certs
    original = mac.rule()
    before = len(mac.state()["calls"])
    pairs = staged(tmp_path, root, inter)
    done = mac.run(trust.macos_trust_command(pairs, []))
    assert done.returncode == 0, done.stderr
    calls = mac.state()["calls"][before:]
    assert [c[:2] for c in calls] == [
        ["authorizationdb", "read"], ["authorizationdb", "write"], ["add-trusted-cert", "-d"],
        ["add-certificates", "-k"], ["authorizationdb", "write"]]
    assert calls[1][2:] == [RIGHT, "allow"] and calls[4][2:] == [RIGHT]  # restored from stdin
    listed = mac.run(f"security find-certificate -a -Z {trust.SYSTEM_KEYCHAIN}").stdout
    assert f"SHA-1 hash: {root.sha1}" in listed and f"SHA-1 hash: {inter.sha1}" in listed
    assert list(mac.state()["trust"]["admin"]) == [root.sha1]
    # Trusted as a root for TLS only (never for code signing, mail, ...).
    assert calls[2][2:6] == ["-r", "trustRoot", "-p", "ssl"]
    assert mac.state()["trust"]["admin"][root.sha1]["policies"] == ["ssl"]
    dump = mac.run("security dump-trust-settings -d").stdout
    assert "      Policy OID     : SSL\n      Result Type    : kSecTrustSettingsResultTrustRoot" \
        in dump
    assert mac.rule() == original  # not left at allow
    assert not any(Path(path).exists() for _, path in pairs)


def test_standin_refuses_an_unknown_policy(mac, certs, tmp_path):
    """Positive control: the stand-in refuses a policy `man security` does not list."""
    [(_, path)] = staged(tmp_path, certs[0])
    done = mac.run(f"security add-trusted-cert -d -r trustRoot -p tls -k "
                   f"{trust.SYSTEM_KEYCHAIN} {path}")
    assert (done.returncode, done.stderr) == (2, "Unknown policy spec (tls)\n")


def test_rule_restored_and_failure_reported_when_an_add_fails(mac, certs, tmp_path):
    root, inter = certs
    pairs = staged(tmp_path, root, inter)
    Path(pairs[0][1]).unlink()  # the root's file vanished: its add fails
    original = mac.rule()
    done = mac.run(trust.macos_trust_command(pairs, []))
    assert done.returncode == 1
    assert "Error reading file" in done.stderr
    assert mac.rule() == original
    assert mac.state()["trust"]["admin"] == {}
    # The other step still ran, and the uploaded files are cleaned up.
    assert inter.sha1 in mac.run("security find-certificate -a -Z").stdout
    assert not Path(pairs[1][1]).exists()


def test_deletes_root_trust_then_certificate(mac, certs, tmp_path):
    root, inter = certs
    assert mac.run(trust.macos_trust_command(staged(tmp_path, root, inter), [])).returncode == 0
    done = mac.run(trust.macos_trust_command([], staged(tmp_path, root, inter)))
    assert done.returncode == 0, done.stderr
    assert mac.state()["trust"]["admin"] == {}
    assert mac.run(f"security find-certificate -a -Z {trust.SYSTEM_KEYCHAIN}").returncode == 44
    deleting = [c for c in mac.state()["calls"] if c[0] in ("remove-trusted-cert",
                                                             "delete-certificate")]
    assert [c[:3] for c in deleting] == [
        ["remove-trusted-cert", "-d", str(tmp_path / f"{root.name}.pem")],
        ["delete-certificate", "-Z", root.sha1], ["delete-certificate", "-Z", inter.sha1]]

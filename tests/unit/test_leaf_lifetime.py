"""Issue 27: no server certificate the project issues outlives what Apple's platforms accept.
macOS 10.15+ and iOS 13+ refuse a TLS server certificate valid for more than 825 days (from
notBefore to notAfter, both included; docs/certificates.md#leaf-lifetime): pki_leaf_days
accepted up to 3650, and a leaf of 825 days was 5 minutes too long (its notBefore is
backdated). Lifetimes generated with a fixed seed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from tabpy_provision.pki import PkiError, ensure_ca, ensure_leaf, permitted_for
from tabpy_provision.settings import table as settings

NOW = datetime.now(UTC).replace(microsecond=0)
APPLE_MAX = timedelta(days=825)
LAB = permitted_for(["tabpy1.lab.test"])


def lifetimes(low: int, high: int, count: int, seed: int) -> list[int]:
    draw = random.Random(seed)
    return sorted({low, high, *(draw.randint(low, high) for _ in range(count))})


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    # An intermediate that outlives every leaf asked for, so the leaf's own days decide.
    return ensure_ca(tmp_path_factory.mktemp("pki"), permitted=LAB, root_days=3650,
                     intermediate_days=3000, now=NOW)


def test_the_setting_refuses_more_than_825_days_naming_host_and_field():
    for days in lifetimes(826, 3650, 40, seed=27):
        problems = settings.check_values("tabpy1.example.com", {"pki_leaf_days": days})
        assert len(problems) == 1 and "\n" not in problems[0], days
        assert problems[0].startswith("tabpy1.example.com: pki_leaf_days: "), problems
        assert "825" in problems[0]
    for days in lifetimes(2, 825, 40, seed=28):
        assert settings.check_values("tabpy1.example.com", {"pki_leaf_days": days}) == [], days


def test_the_default_is_what_apple_recommends_for_public_certificates():
    assert settings.with_defaults({})["pki_leaf_days"] <= 397


def test_every_leaf_issued_is_valid_825_days_or_fewer(ca, tmp_path):
    """What a macOS client measures: notAfter - notBefore, plus the second notAfter holds."""
    for days in [*lifetimes(2, 825, 12, seed=29), 397, 398, 824]:
        leaf = ensure_leaf(ca, tmp_path / str(days), "tabpy1.lab.test", days=days, now=NOW,
                           renew_before_days=1)
        cert = x509.load_pem_x509_certificate(leaf.cert_pem)
        validity = cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
        assert validity <= APPLE_MAX, (days, validity)
        if days < 825:
            assert cert.not_valid_after_utc == NOW + timedelta(days=days), days


def test_issuing_a_leaf_of_more_than_825_days_is_refused(ca, tmp_path):
    for days in lifetimes(826, 3650, 10, seed=30):
        with pytest.raises(PkiError, match="825"):
            ensure_leaf(ca, tmp_path, "tabpy1.lab.test", days=days, now=NOW)

"""The TLS every listener of a site offers: TabPy itself, a host's own HAProxy and the pools'
balancers. The one place of the cipher lists (Mozilla's server-side TLS guidelines 6.0), read
by the HAProxy template and by the module TabPy's processes load at start
(templates/etc/tabpy/tls/sitecustomize.py.j2); why that module: docs/tls.md. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: tabpy_tls_profile: Mozilla's "intermediate" (TLS 1.2 and 1.3) or "modern" (TLS 1.3 only),
#: the stricter last.
PROFILES = ("intermediate", "modern")
#: tabpy_minimum_tls_version in TabPy's spelling (names of Python's ssl.TLSVersion).
VERSIONS = ("TLSv1_2", "TLSv1_3")

#: TLS 1.2: forward-secret ECDHE with an AEAD cipher only: no CBC (LUCKY13), no static RSA.
#: No DHE, as in Mozilla's 6.0: TabPy's Python loads no DH group so it could never offer it,
#: and the TLS 1.2 clients that have DHE with AES-GCM have ECDHE too.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
)
#: TLS 1.3: its three AEAD suites, which are also OpenSSL's default (Python cannot set them,
#: so TabPy offers OpenSSL's).
TLS13_CIPHERSUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                      "TLS_CHACHA20_POLY1305_SHA256")


@dataclass(frozen=True)
class TlsProfile:
    name: str  # one of PROFILES
    minimum: str  # one of VERSIONS; TLSv1_3 for modern

    @property
    def ciphers(self) -> str:
        """OpenSSL's cipher string of TLS 1.2 (moot when TLS 1.3 is the minimum)."""
        return ":".join(TLS12_CIPHERS)

    @property
    def ciphersuites(self) -> str:
        return ":".join(TLS13_CIPHERSUITES)

    @property
    def haproxy_minimum(self) -> str:
        """The minimum as HAProxy's ssl-min-ver spells it (TLSv1.2)."""
        return self.minimum.replace("_", ".")


def host_profile(name: str, minimum: str) -> TlsProfile:
    """A TabPy host's profile (tabpy_tls_profile, tabpy_minimum_tls_version); modern is TLS 1.3
    only whatever the minimum says."""
    return TlsProfile(name, "TLSv1_3" if name == "modern" else minimum)


def strictest(profiles: Iterable[TlsProfile]) -> TlsProfile:
    """What a balancer in front of several TabPy hosts offers: nothing one of them refuses."""
    profiles = list(profiles)
    return TlsProfile(max((p.name for p in profiles), key=PROFILES.index),
                      max((p.minimum for p in profiles), key=VERSIONS.index))

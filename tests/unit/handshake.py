"""What a client concludes about a server's chain: a real TLS handshake on loopback (Python's
ssl, or Java's when a `java` is installed), `openssl verify`, and cryptography's RFC 5280
verifier."""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store

from tabpy_provision.pki.certs import parse_ip_address, to_pem


@contextlib.contextmanager
def serving(folder: Path, chain_pem: bytes, key_pem: bytes) -> Iterator[int]:
    """A TLS server on 127.0.0.1 (Python's ssl) sending chain+key to one client; its port."""
    (folder / "chain.pem").write_bytes(chain_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(5)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except OSError:
                pass  # the client rejected us; the client side reports why

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            thread.join(30)
            assert not thread.is_alive()


def tls_handshake(folder: Path, chain_pem: bytes, key_pem: bytes, trusted_pem: bytes,
                  hostname: str) -> str | ssl.SSLError:
    """A handshake with Python's ssl trusting only ``trusted_pem``: the negotiated TLS
    version, or the client's ssl.SSLError."""
    (folder / "root.pem").write_bytes(trusted_pem)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    client_ctx.load_verify_locations(cafile=folder / "root.pem")
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with serving(folder, chain_pem, key_pem) as port:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
                assert tls.recv(2) == b"ok"
                return tls.version()
        except ssl.SSLError as exc:
            return exc


JAVA_PROBE = Path(__file__).with_name("JavaTlsProbe.java")


@functools.cache
def _java_classes() -> Path:
    """JavaTlsProbe compiled once per test session (java compiles a source file each run)."""
    folder = Path(tempfile.mkdtemp(prefix="java-tls-probe-"))
    subprocess.run(["javac", "-d", str(folder), str(JAVA_PROBE)], capture_output=True,
                   timeout=300, check=True)
    return folder


def java_handshake(folder: Path, chain_pem: bytes, key_pem: bytes, trusted_pem: bytes,
                   hostname: str) -> str:
    """A handshake as Java (Tableau's runtime) does it: PKIX trusting only ``trusted_pem``,
    HTTPS endpoint identification. "OK TLSv1.3", or "REFUSED <why>"."""
    (folder / "root.pem").write_bytes(trusted_pem)
    with serving(folder, chain_pem, key_pem) as port:
        done = subprocess.run(["java", "-cp", str(_java_classes()), "JavaTlsProbe",
                               str(folder / "root.pem"), hostname, str(port)],
                              capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def openssl_verify(folder: Path, chain_pem: bytes, trusted_pem: bytes,
                   hostname: str) -> subprocess.CompletedProcess:
    """`openssl verify` of a served chain (leaf first) as a TLS client checks it."""
    chain = x509.load_pem_x509_certificates(chain_pem)
    (folder / "leaf.pem").write_bytes(to_pem(chain[0]))
    (folder / "untrusted.pem").write_bytes(b"".join(map(to_pem, chain[1:])))
    (folder / "trusted.pem").write_bytes(trusted_pem)
    target = ["-verify_ip", hostname] if parse_ip_address(hostname) else \
        ["-verify_hostname", hostname]
    return subprocess.run(
        ["openssl", "verify", "-purpose", "sslserver", "-x509_strict", *target,
         "-CAfile", str(folder / "trusted.pem"), "-untrusted", str(folder / "untrusted.pem"),
         str(folder / "leaf.pem")],
        capture_output=True, text=True, timeout=30, check=False)


def verifier_accepts(chain_pem: bytes, trusted_pem: bytes, hostname: str,
                     when: datetime) -> bool:
    """cryptography's verifier (the Web PKI profile) over the served chain."""
    chain = x509.load_pem_x509_certificates(chain_pem)
    address = parse_ip_address(hostname)
    subject = IPAddress(address) if address else DNSName(hostname)
    verifier = PolicyBuilder().store(Store(x509.load_pem_x509_certificates(trusted_pem))) \
        .time(when).build_server_verifier(subject)
    try:
        verifier.verify(chain[0], chain[1:])
    except Exception:  # noqa: BLE001 - any verification failure means "not trusted"
        return False
    return True

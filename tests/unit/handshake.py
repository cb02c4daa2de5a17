"""What a client concludes about a server's chain, three ways: a real TLS handshake on loopback
(Python's ssl), `openssl verify`, and cryptography's RFC 5280 verifier."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store

from tabpy_provision.pki.certs import parse_ip_address, to_pem


def tls_handshake(folder: Path, chain_pem: bytes, key_pem: bytes, trusted_pem: bytes,
                  hostname: str) -> str | ssl.SSLError:
    """Serve chain+key on 127.0.0.1 and connect trusting only ``trusted_pem``.

    Returns the negotiated TLS version, or the client's ssl.SSLError.
    """
    (folder / "chain.pem").write_bytes(chain_pem)
    (folder / "key.pem").write_bytes(key_pem)
    (folder / "root.pem").write_bytes(trusted_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    client_ctx.load_verify_locations(cafile=folder / "root.pem")
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        port = listener.getsockname()[1]

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
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
                assert tls.recv(2) == b"ok"
                return tls.version()
        except ssl.SSLError as exc:
            return exc
        finally:
            thread.join(5)
            assert not thread.is_alive()


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

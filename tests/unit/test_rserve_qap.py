"""The QAP1 client and the rendered Rserv.conf against a real Rserve (Debian's r-cran-rserve,
a controller prerequisite) started on a free loopback port with a private root ->
intermediate -> leaf chain; and the client's decoding without a server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tabpy_provision.rserve import files, qap, render

needs_rserve = pytest.mark.skipif(
    not (shutil.which("R") and os.access(render.RSERVE_BINARY, os.X_OK)),
    reason="Rserve is not installed (r-base-core, r-cran-rserve)")

PASSWORD = "correct horse battery"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _certificate(folder: Path, name: str, issuer: str | None, extensions: str) -> None:
    key, csr, ext = (folder / f"{name}.{s}" for s in ("key", "csr", "ext"))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN=rserve test {name}")
    ext.write_text(extensions)
    signer = ["-signkey", str(key)] if issuer is None else \
        ["-CA", str(folder / f"{issuer}.pem"), "-CAkey", str(folder / f"{issuer}.key"),
         "-CAcreateserial"]
    _openssl("x509", "-req", "-in", str(csr), "-out", str(folder / f"{name}.pem"), "-days", "1",
             "-extfile", str(ext), *signer)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
    _certificate(folder, "root", None, ca)
    _certificate(folder, "intermediate", "root", ca)
    _certificate(folder, "leaf", "intermediate",
                 "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                 "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"Rserve exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"Rserve did not listen on {port}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def rserve(pki, tmp_path_factory):
    """A foreground Rserve run from the RENDERED config, stopped by its pid."""
    folder = tmp_path_factory.mktemp("rserve")
    (folder / "passwords").write_text(files.password_file({"tableau": PASSWORD}))
    params = render.RserveParams(
        port=_free_port(), tls_key=str(pki / "leaf.key"), tls_cert=str(pki / "leaf.pem"),
        tls_chain=str(pki / "intermediate.pem"), pwdfile=str(folder / "passwords"),
        workdir=str(folder / "work"), listen_all=False)
    config = folder / "Rserv.conf"
    config.write_text(render.render_config(params))
    log = folder / "rserve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["R", "CMD", render.RSERVE_BINARY, "--no-save", "--RS-conf",
                                 str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=folder)
    try:
        _wait_listening(params.port, proc, log)
        yield params, proc, log
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # `R CMD` exec()s Rserve: the pid is Rserve's
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _context(pki: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki / "root.pem"))  # the root only


@needs_rserve
def test_a_tls_login_verified_against_the_root_evaluates(rserve, pki):
    params, proc, _log = rserve
    ok, line = qap.check("127.0.0.1", params.port, "tableau", PASSWORD, _context(pki), 10)
    assert ok, line
    assert line == "QAP over TLS as tableau: 1+1 = 2 (TLSv1.3, chain verified)"
    with qap.connect("127.0.0.1", params.port, _context(pki), 10) as session:
        assert session.attributes[0] == "ARuc" and "ARpt" in session.attributes
        session.login("tableau", PASSWORD)
        assert session.eval("c(1.5, NA)") == [1.5, None]
        assert session.eval("c(TRUE, NA)") == [True, None]
        assert session.eval("c('a', NA)") == ["a", None]
        assert session.eval("3L") == 3
        assert session.eval("interactive()") is False
        # A forked R per connection, in its own folder under workdir.
        assert session.eval("Sys.getpid()") != proc.pid
        assert session.eval("getwd()").startswith(params.workdir + "/conn")
        with pytest.raises(qap.QapError, match=r"R error \(0x7f\)"):
            session.eval("stop('no')")


@needs_rserve
def test_a_wrong_password_is_refused_and_never_shown(rserve, pki):
    params, _proc, _log = rserve
    with qap.connect("127.0.0.1", params.port, _context(pki), 10) as session, \
            pytest.raises(qap.QapError, match="ERR_auth_failed") as refused:
        session.login("tableau", "not " + PASSWORD)
    assert refused.value.status == qap.ERR_AUTH_FAILED
    ok, line = qap.check("127.0.0.1", params.port, "tableau", "wrong-secret", _context(pki), 10)
    assert not ok and "ERR_auth_failed (0x41)" in line and "wrong-secret" not in line


@needs_rserve
def test_plain_qap_reaches_no_session(rserve):
    params, _proc, _log = rserve
    # The TLS port waits for a ClientHello: a plain client never gets the ID string.
    ok, line = qap.check("127.0.0.1", params.port, "tableau", PASSWORD, None, 1)
    assert not ok and line.startswith("plain QAP to 127.0.0.1:"), line


@needs_rserve
def test_rserve_runs_the_rendered_config_without_warnings(rserve):
    _params, proc, log = rserve
    assert proc.poll() is None
    assert "WARNING" not in log.read_text() and "ERROR" not in log.read_text()


@needs_rserve
def test_debian_rserve_accepts_the_crypt_failure_token(rserve, pki):
    """Rserve 1.8-11 on libxcrypt: crypt() of the stored value with the 3-byte salt fails
    and returns "*0", which Rserve compares with what the client sent (docs/rserve.md). When
    this fails, Debian's Rserve has the fix: update the docs' warning."""
    params, _proc, _log = rserve
    with qap.connect("127.0.0.1", params.port, _context(pki), 10) as session:
        session.login("tableau", "*0")
        assert session.eval("1+1") == 2


def _reply(words: bytes) -> bytes:
    return struct.pack("<I", qap.DT_SEXP | len(words) << 8) + words


@pytest.mark.parametrize(("sexp", "value"), [
    (struct.pack("<I", qap.XT_ARRAY_DOUBLE | 8 << 8) + struct.pack("<d", 2.0), 2.0),
    (struct.pack("<I", qap.XT_ARRAY_INT | 8 << 8) + struct.pack("<2i", 1, -(2**31)), [1, None]),
    (struct.pack("<I", qap.XT_ARRAY_BOOL | 8 << 8) + struct.pack("<I", 2) + b"\x01\x02\x01\x01",
     [True, None]),
    (struct.pack("<I", qap.XT_ARRAY_STR | 8 << 8) + b"ab\0\xff\0\x01\x01\x01", ["ab", None]),
    (struct.pack("<I", qap.XT_NULL), None),
])
def test_sexps_decode(sexp, value):
    assert qap._sexp(sexp) == value


def test_attributes_are_skipped():
    names = struct.pack("<I", qap.XT_NULL)
    data = struct.pack("<d", 1.0)
    sexp = struct.pack("<I", (qap.XT_ARRAY_DOUBLE | qap.XT_HAS_ATTR)
                       | (len(names) + len(data)) << 8) + names + data
    assert qap._sexp(sexp) == 1.0


def test_strings_are_nul_terminated_and_padded():
    assert qap._string("1+1") == struct.pack("<I", qap.DT_STRING | 4 << 8) + b"1+1\0"
    assert len(qap._string("1+11")) == 4 + 8


def test_a_status_is_named():
    assert str(qap.QapError("login refused", 0x41)) == "login refused: ERR_auth_failed (0x41)"
    assert str(qap.QapError("eval failed", 0x33)) == "eval failed: status (0x33)"

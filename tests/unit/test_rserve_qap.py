"""The QAP1 client and the rendered Rserv.conf against a real Rserve (Debian's r-cran-rserve,
a controller prerequisite) started on a free loopback port with a private root ->
intermediate -> leaf chain; and the client's decoding without a server."""

from __future__ import annotations

import contextlib
import hashlib
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
from tabpy_provision.server import client_check

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


@contextlib.contextmanager
def _running(config: Path, port: int):
    """A foreground Rserve run from `config`, stopped by its pid: (process, log path)."""
    log = config.with_suffix(".log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["R", "CMD", render.RSERVE_BINARY, "--no-save", "--RS-conf",
                                 str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=config.parent)
    try:
        _wait_listening(port, proc, log)
        yield proc, log
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # `R CMD` exec()s Rserve: the pid is Rserve's
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _write_users(path: Path, text: str) -> None:
    """Replace the users file as a deploy does: a new file renamed over the old one."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    new.replace(path)


def _set_up(folder: Path, pki: Path) -> render.RserveParams:
    """Params on a free loopback port, the users file {tableau: PASSWORD} and auth.R in
    `folder` (the config is the caller's)."""
    params = render.RserveParams(
        port=_free_port(), tls_key=str(pki / "leaf.key"), tls_cert=str(pki / "leaf.pem"),
        tls_chain=str(pki / "intermediate.pem"), users_file=str(folder / "users"),
        auth_script=str(folder / "auth.R"), workdir=str(folder / "work"), listen_all=False)
    _write_users(folder / "users", files.users_file({"tableau": PASSWORD}))
    (folder / "auth.R").write_text(render.render_auth_script(params))
    return params


@pytest.fixture(scope="module")
def rserve(pki, tmp_path_factory):
    """Rserve from the RENDERED config and login script, users file {tableau: PASSWORD}."""
    folder = tmp_path_factory.mktemp("rserve")
    params = _set_up(folder, pki)
    config = folder / "Rserv.conf"
    config.write_text(render.render_config(params))
    with _running(config, params.port) as (proc, log):
        yield params, proc, log


@pytest.fixture
def users(rserve):
    """The running Rserve's users file, put back after the test."""
    path = Path(rserve[0].users_file)
    saved = path.read_text()
    yield path
    _write_users(path, saved)


def _context(pki: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki / "root.pem"))  # the root only


@needs_rserve
def test_a_tls_login_verified_against_the_root_evaluates(rserve, pki):
    params, proc, _log = rserve
    ok, line, _ = qap.check("127.0.0.1", params.port, "tableau", PASSWORD, _context(pki), 10)
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
    ok, line, _ = qap.check("127.0.0.1", params.port, "tableau", "wrong-secret", _context(pki), 10)
    assert not ok and "ERR_auth_failed (0x41)" in line and "wrong-secret" not in line


@needs_rserve
def test_plain_qap_reaches_no_session(rserve):
    params, _proc, _log = rserve
    # The TLS port waits for a ClientHello: a plain client never gets the ID string.
    ok, line, _ = qap.check("127.0.0.1", params.port, "tableau", PASSWORD, None, 1)
    assert not ok and line.startswith("plain QAP to 127.0.0.1:"), line


@needs_rserve
def test_rserve_runs_the_rendered_config_without_warnings(rserve):
    _params, proc, log = rserve
    assert proc.poll() is None
    assert "WARNING" not in log.read_text() and "ERROR" not in log.read_text()


@needs_rserve
def test_rserve_stops_when_the_login_script_defines_no_function(pki, tmp_path):
    """`source` is try(source(...)): the config's `eval` line stops Rserve instead."""
    params = render.RserveParams(
        port=_free_port(), tls_key=str(pki / "leaf.key"), tls_cert=str(pki / "leaf.pem"),
        users_file=str(tmp_path / "users"), auth_script=str(tmp_path / "absent.R"),
        workdir=str(tmp_path / "work"), listen_all=False)
    config = tmp_path / "Rserv.conf"
    config.write_text(render.render_config(params))
    proc = subprocess.run(["R", "CMD", render.RSERVE_BINARY, "--no-save", "--RS-conf",
                           str(config)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{params.auth_script} did not define tabpy_provision_login" in proc.stderr


def _login(params: render.RserveParams, pki: Path, user: str, password: str) -> int | None:
    """None when the login evaluates 1+1 = 2, else Rserve's status (ERR_auth_failed...)."""
    with qap.connect("127.0.0.1", params.port, _context(pki), 10) as session:
        try:
            session.login(user, password)
        except qap.QapError as exc:
            return exc.status
        assert session.eval("1+1") == 2
        return None


@needs_rserve
def test_the_crypt_failure_token_is_refused(rserve, pki):
    """Debian's 1.8-11 lets `*0` in for any user of a `pwdfile` (docs/rserve.md; the next
    test): the R login function is called before that check and refuses it."""
    params, _proc, _log = rserve
    assert _login(params, pki, "tableau", "*0") == qap.ERR_AUTH_FAILED
    assert _login(params, pki, "nobody", "*0") == qap.ERR_AUTH_FAILED


@needs_rserve
def test_debian_rserve_pwdfile_accepts_the_crypt_failure_token(tmp_path):
    """Why the role never uses `pwdfile`: with it (and no auth.function), Rserve 1.8-11 on
    libxcrypt compares crypt(stored value, 3-byte salt), libxcrypt's failure token "*0", with
    what the client sent. When this fails, Debian's Rserve has the fix (1.8-14): update the
    docs. Plain QAP on loopback: the hole is in the check, not in the transport."""
    port = _free_port()
    (tmp_path / "passwords").write_text(f"tableau ${hashlib.sha1(PASSWORD.encode()).hexdigest()}\n")
    config = tmp_path / "Rserv.conf"
    config.write_text(f"daemon disable\nqap.port {port}\nremote disable\nauth required\n"
                      f"plaintext enable\npwdfile {tmp_path / 'passwords'}\n"
                      f"workdir {tmp_path / 'work'}\n")
    with _running(config, port):
        assert qap.check("127.0.0.1", port, "tableau", PASSWORD, None, 10)[0]
        assert not qap.check("127.0.0.1", port, "tableau", "wrong", None, 10)[0]
        assert qap.check("127.0.0.1", port, "tableau", "*0", None, 10)[0]


@needs_rserve
def test_a_config_that_lost_its_login_function_refuses_every_login(pki, tmp_path):
    """`auth required` with neither `pwdfile` nor `auth.function` lets every login in: the
    config's `pwdfile /dev/null` refuses them all should the auth.function line be lost."""
    params = _set_up(tmp_path, pki)
    lines = render.render_config(params).splitlines()
    assert "pwdfile /dev/null" in lines
    config = tmp_path / "Rserv.conf"
    config.write_text("".join(f"{line}\n" for line in lines
                              if not line.startswith("auth.function")))
    with _running(config, params.port):
        for password in (PASSWORD, "*0", "anything"):
            assert _login(params, pki, "tableau", password) == qap.ERR_AUTH_FAILED


@needs_rserve
def test_a_user_not_in_the_file_is_refused(rserve, pki):
    params, _proc, _log = rserve
    assert _login(params, pki, "nobody", PASSWORD) == qap.ERR_AUTH_FAILED
    assert _login(params, pki, "Tableau", PASSWORD) == qap.ERR_AUTH_FAILED


@needs_rserve
def test_a_new_users_file_is_read_at_the_next_login(rserve, pki, users):
    params, proc, _log = rserve
    new_password = "new é€ password with spaces *0"
    _write_users(users, files.users_file({"tableau": new_password, "a.b@c": "other"}))
    assert _login(params, pki, "tableau", new_password) is None
    assert _login(params, pki, "tableau", PASSWORD) == qap.ERR_AUTH_FAILED
    assert _login(params, pki, "a.b@c", "other") is None
    assert proc.poll() is None  # no restart


@needs_rserve
@pytest.mark.parametrize("broken", ["blank line", "name twice", "missing", "empty",
                                    "tab", "truncated"])
def test_a_malformed_users_file_refuses_everyone(rserve, pki, users, broken):
    params, _proc, _log = rserve
    good = files.users_file({"tableau": PASSWORD})
    line = good.splitlines()[1]
    if broken == "missing":
        users.unlink()
    else:
        _write_users(users, {
            "blank line": good + "\n", "name twice": good + line + "\n", "empty": "",
            "tab": good.replace(line, line.replace(" ", "\t", 1)),
            "truncated": good[:-10]}[broken])
    assert _login(params, pki, "tableau", PASSWORD) == qap.ERR_AUTH_FAILED


@needs_rserve
def test_the_log_shows_no_password_and_no_r_error(rserve, pki):
    params, _proc, log = rserve
    assert _login(params, pki, "tableau", "a-wrong-password") == qap.ERR_AUTH_FAILED
    text = log.read_text(errors="replace")
    for secret in (PASSWORD, "a-wrong-password", "new é€ password"):
        assert secret not in text
    # The only R error is the one a session raised on purpose (stop('no')).
    assert [line for line in text.splitlines() if "Error" in line or "Warning" in line
            or "tabpy_provision" in line] in ([], ["Error: no"])


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


@needs_rserve
def test_a_clients_check_reaches_rserve_through_its_os_trust_store_only(rserve, pki):
    """server/client_check.py's script, run as on a client (its own python3, the payload on
    stdin), against the real Rserve: with the test root as the OS store (SSL_CERT_FILE) it
    reads Rserve's QAP1 ID string over verified TLS; with the system's store, it is refused."""
    params = rserve[0]
    endpoint = [("localhost", params.port)]
    for store, ok in ((str(pki / "root.pem"), True), (None, False)):
        env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
        if store:
            env["SSL_CERT_FILE"] = store
        done = subprocess.run(["sh", "-c", client_check.command()], capture_output=True,
                              text=True, timeout=60, env=env,
                              input=client_check.stdin([], endpoint))
        result = client_check.result("here", done.returncode == 0, [], done.stdout.splitlines(),
                                     done.stderr.splitlines(), endpoint)
        assert result.ok is ok, result.detail
        assert ("Rserve answering at localhost" if ok else "TLS verification failed") in \
            result.detail

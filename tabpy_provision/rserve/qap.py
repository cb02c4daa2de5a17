"""A small QAP1 client (Rserve's protocol, src/Rsrv.h), stdlib only: connect over TLS or plain
TCP, log in with the plaintext method, evaluate an expression, decode simple vectors.

Enough for a health check and the tests; not a general R client."""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

from tabpy_provision.settings.errors import ProvisionError

CMD_LOGIN = 0x001
CMD_EVAL = 0x003
CMD_RESP = 0x10000
RESP_OK = CMD_RESP | 0x0001
DT_STRING = 4
DT_SEXP = 10
DT_LARGE = 0x40
XT_NULL, XT_STR, XT_SYMNAME = 0, 3, 19
XT_ARRAY_INT, XT_ARRAY_DOUBLE, XT_ARRAY_STR, XT_ARRAY_BOOL = 32, 33, 34, 36
XT_LARGE, XT_HAS_ATTR = 0x40, 0x80

#: Rserve's status codes (Rsrv.h); 1-4 are R's parse status, 127 an error R raised.
STATUS = {
    2: "parse incomplete", 3: "parse error", 4: "parse EOF", 127: "R error",
    0x41: "ERR_auth_failed", 0x42: "ERR_conn_broken", 0x43: "ERR_inv_cmd",
    0x44: "ERR_inv_par", 0x45: "ERR_Rerror", 0x46: "ERR_IOerror", 0x47: "ERR_notOpen",
    0x48: "ERR_accessDenied", 0x49: "ERR_unsupportedCmd", 0x4A: "ERR_unknownCmd",
    0x4B: "ERR_data_overflow", 0x4C: "ERR_object_too_big", 0x4D: "ERR_out_of_mem",
    0x4E: "ERR_ctrl_closed", 0x50: "ERR_session_busy", 0x51: "ERR_detach_failed",
    0x61: "ERR_disabled", 0x62: "ERR_unavailable", 0x63: "ERR_cryptError",
    0x64: "ERR_securityClose",
}
ERR_AUTH_FAILED = 0x41

# R's NA_integer_ and NA_real_ (a NaN with payload 1954); NA logical is the byte 2.
_NA_INT = -(2**31)
_NA_REAL_BITS = 0x7FF00000000007A2


class QapError(ProvisionError):
    """A failed QAP exchange; status is Rserve's status code (None: protocol or I/O)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        if status is not None:
            message = f"{message}: {STATUS.get(status, 'status')} (0x{status:02x})"
        super().__init__(message)
        self.status = status


@dataclass
class Session:
    """One QAP1 connection: Rserve forks an R process for it, which lives until it closes."""

    sock: socket.socket
    attributes: list[str] = field(default_factory=list)  # ID string fields: ARpt, ARuc, K..

    @property
    def tls_version(self) -> str | None:
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    def login(self, user: str, password: str) -> None:
        # The crypt method (ARuc) is what a 1.8-11 server on libxcrypt gets wrong
        # (docs/rserve.md), and it would need the plain password stored: plaintext only.
        if "ARpt" not in self.attributes:
            raise QapError("the server does not offer plaintext login (ARpt): set "
                           "'plaintext enable' and 'auth required'")
        # Rserve splits "user\npassword" and cuts the password at CR/LF or NUL.
        if any(c in user + password for c in "\r\n\0"):
            raise ValueError("a user or password holding CR, LF or NUL cannot be sent")
        self._request(CMD_LOGIN, _string(f"{user}\n{password}"), "login refused")

    def eval(self, expression: str) -> Any:
        payload = self._request(CMD_EVAL, _string(expression), "eval failed")
        kind, length, offset = _header(payload, 0)
        if kind != DT_SEXP:
            raise QapError(f"eval answered a parameter of type {kind}, not a SEXP")
        return _sexp(payload[offset:offset + length])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, command: int, body: bytes, what: str) -> bytes:
        self.sock.sendall(struct.pack("<4I", command, len(body) & 0xFFFFFFFF, 0,
                                      len(body) >> 32) + body)
        answer, length, _offset, length_hi = struct.unpack("<4I", _recv(self.sock, 16))
        payload = _recv(self.sock, length | length_hi << 32)
        if answer & 0xFFFFFF != RESP_OK:
            raise QapError(what, (answer >> 24) & 127)
        return payload


def connect(host: str, port: int, context: ssl.SSLContext | None = None,
            timeout: float = 10.0, server_name: str | None = None) -> Session:
    """Open a session (TLS when a context is given) and read Rserve's 32-byte ID string.
    `server_name`: the name TLS verifies when `host` is an address (default: `host`)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=server_name or host)
        ident = _recv(sock, 32)
    except BaseException:
        sock.close()
        raise
    if ident[:4] != b"Rsrv" or ident[8:12] != b"QAP1":
        sock.close()
        raise QapError(f"not a QAP1 server: {ident[:12]!r}")
    # After "Rsrv0103QAP1\r\n\r\n": four 4-byte fields, '-' padded (ARuc, K<salt>, ARpt).
    fields = [ident[i:i + 4].decode("latin-1").strip() for i in range(16, 32, 4)]
    return Session(sock, [f for f in fields if f and not f.startswith("-")])


def check(host: str, port: int, user: str, password: str,
          context: ssl.SSLContext | None, timeout: float = 10.0,
          server_name: str | None = None) -> tuple[bool, str, bool]:
    """Log in and evaluate 1+1: (ok, one line, final). The password is never in the line.
    `final`: a failure that waiting cannot fix (TLS refused or not verified, the login
    refused), unlike a server not listening yet."""
    where = "QAP over TLS" if context is not None else "plain QAP"
    try:
        with connect(host, port, context, timeout, server_name) as session:
            session.login(user, password)
            value = session.eval("1+1")
            tls = session.tls_version
    except ssl.SSLCertVerificationError as exc:
        return False, f"{where} to {host}:{port}: certificate not verified " \
                      f"({exc.verify_message})", True
    except ssl.SSLError as exc:
        return False, f"{where} to {host}:{port}: TLS failed ({exc.reason or exc})", True
    except QapError as exc:
        return False, f"{where} to {host}:{port} as {user}: {_reason(exc)}", \
            exc.status == ERR_AUTH_FAILED
    except (OSError, ValueError) as exc:
        return False, f"{where} to {host}:{port} as {user}: {_reason(exc)}", False
    if value != 2:
        return False, f"{where} as {user}: 1+1 = {value!r}, not 2", True
    detail = ""
    if context is not None:
        verified = "chain verified" if context.verify_mode == ssl.CERT_REQUIRED \
            else "chain NOT verified"
        detail = f" ({tls}, {verified})"
    return True, f"{where} as {user}: 1+1 = {value:g}{detail}", False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (ConnectionError, EOFError)) or str(exc) == "":
        return f"connection closed ({type(exc).__name__})"
    return str(exc)


def _string(text: str) -> bytes:
    # DT_STRING: NUL-terminated, padded to 4 bytes (Rserve reads it as a C string).
    data = text.encode() + b"\0"
    data += b"\0" * (-len(data) % 4)
    return _param_header(DT_STRING, len(data)) + data


def _param_header(kind: int, length: int) -> bytes:
    if length > 0xFFFFFF:
        return struct.pack("<II", kind | DT_LARGE | (length & 0xFFFFFF) << 8, length >> 24)
    return struct.pack("<I", kind | length << 8)


def _header(data: bytes, at: int) -> tuple[int, int, int]:
    """(type with flags, length, offset of the content) of the header at `at`."""
    if len(data) < at + 4:
        raise QapError("truncated QAP message")
    word = struct.unpack_from("<I", data, at)[0]
    kind, length = word & 0xFF, word >> 8
    if kind & XT_LARGE:  # same bit as DT_LARGE: a second word holds the high 32 bits
        length |= struct.unpack_from("<I", data, at + 4)[0] << 24
        return kind & ~XT_LARGE, length, at + 8
    return kind, length, at + 4


def _sexp(data: bytes) -> Any:
    kind, length, at = _header(data, 0)
    end = at + length
    if kind & XT_HAS_ATTR:  # attributes (names, dim, ...) come first: skipped
        _akind, alength, aat = _header(data, at)
        at = aat + alength
        kind &= ~XT_HAS_ATTR
    body = data[at:end]
    if kind == XT_NULL:
        return None
    if kind == XT_ARRAY_DOUBLE:
        count = len(body) // 8
        values: list[Any] = [None if bits == _NA_REAL_BITS else value for bits, value in zip(
            struct.unpack(f"<{count}Q", body), struct.unpack(f"<{count}d", body), strict=True)]
    elif kind == XT_ARRAY_INT:
        values = [None if v == _NA_INT else v
                  for v in struct.unpack(f"<{len(body) // 4}i", body)]
    elif kind == XT_ARRAY_BOOL:
        count = struct.unpack_from("<I", body)[0]
        values = [None if b == 2 else bool(b) for b in body[4:4 + count]]
    elif kind in (XT_ARRAY_STR, XT_STR, XT_SYMNAME):
        parts = body.rstrip(b"\x01").split(b"\0")[:-1] if kind == XT_ARRAY_STR \
            else [body.split(b"\0")[0]]
        values = [None if p == b"\xff" else p.decode() for p in parts]
    else:
        raise QapError(f"cannot decode a SEXP of type {kind}")
    return values[0] if len(values) == 1 else values


def _recv(sock: socket.socket, count: int) -> bytes:
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError(f"connection closed after {count - left} of {count} bytes")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


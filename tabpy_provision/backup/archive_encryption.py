"""How an archive (a TabPy host's backup, the controller's state) is encrypted, in chunks: the
controller never holds a whole archive in memory. Pure: no pyinfra import.

    MAGIC | 4-byte header length | header (JSON) | ciphertext

The key comes from a passphrase (a secret reference) through scrypt with a per-archive salt.

Format 2 (MAGIC `TABPYBK2`): the plaintext is cut into segments of 1 MiB (the last one shorter,
possibly empty), each sealed with AES-256-GCM on its own (the STREAM construction):

    nonce           = the archive's random 8-byte prefix | segment index (4 bytes, big-endian)
    associated data = MAGIC | header length | header | segment index (8 bytes) | last (1 byte)

so each segment is authenticated before a byte of it is used; a change to the header or to any
segment, a dropped, repeated or reordered segment, a truncation (the cut-off segment was not
sealed as the last one) and anything appended (the real last segment is then not the last) all
fail authentication.

Format 1 (MAGIC `TABPYBK1`, written before): one AES-256-GCM ciphertext of the whole plaintext,
the header as associated data. Still read, in chunks; its plaintext is only whole once the tag
at its end checked (the reader must not use it before the iterator ended).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tabpy_provision.settings.errors import ProvisionError

MAGIC = b"TABPYBK2"
MAGIC_FORMAT_1 = b"TABPYBK1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SEGMENT = 1 << 20
TAG = 16
#: A header is a few hundred bytes; a longer one is damage, not something to read.
HEADER_MAX = 1 << 16
AUTHENTICATION_FAILED = ("authentication failed: wrong key, or the archive was altered or "
                         "truncated")


class ArchiveError(ProvisionError):
    """An archive that must not be restored; the message says why in one line."""


@dataclass(frozen=True)
class Header:
    format: int
    fields: dict
    sealed: bytes  # MAGIC | length | JSON, as read: authenticated with the ciphertext


def _key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, **SCRYPT).derive(passphrase.encode())


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _associated(sealed: bytes, index: int, last: bool) -> bytes:
    return sealed + struct.pack(">QB", index, last)


def encrypt(plaintext: Iterable[bytes], out: BinaryIO, passphrase: str, **fields) -> None:
    """Write `plaintext` (chunks of any size) to `out` as a format 2 archive whose header
    holds `fields` (host, created, ...) besides what decryption needs."""
    salt, prefix = os.urandom(16), os.urandom(8)
    header = json.dumps({
        **fields, "format": 2, "kdf": "scrypt", "kdf_params": SCRYPT,
        "salt": base64.b64encode(salt).decode(), "nonce_prefix": base64.b64encode(prefix).decode(),
        "segment_size": SEGMENT}, sort_keys=True).encode()
    sealed = MAGIC + struct.pack(">I", len(header)) + header
    out.write(sealed)
    aead, index, pending = AESGCM(_key(passphrase, salt)), 0, bytearray()
    for chunk in plaintext:
        pending += chunk
        while len(pending) > SEGMENT:  # more follows: not the last segment
            out.write(aead.encrypt(_nonce(prefix, index), bytes(pending[:SEGMENT]),
                                   _associated(sealed, index, False)))
            del pending[:SEGMENT]
            index += 1
            if index >= 2**32:
                raise ArchiveError("too large to encrypt (over 2^32 segments)")
    out.write(aead.encrypt(_nonce(prefix, index), bytes(pending), _associated(sealed, index, True)))


def read_header(archive: BinaryIO) -> Header:
    """The header at the start of `archive`, checked before any key is derived from it."""
    magic = archive.read(len(MAGIC))
    if magic not in (MAGIC, MAGIC_FORMAT_1):
        raise ArchiveError("not a tabpy-provision backup (bad magic)")
    try:
        (length,) = struct.unpack(">I", archive.read(4))
        raw = archive.read(length) if length <= HEADER_MAX else b""
        fields = json.loads(raw)
        params = {k: int(fields["kdf_params"][k]) for k in ("n", "r", "p")}
        base64.b64decode(fields["salt"], validate=True)
    except (ValueError, KeyError, TypeError, struct.error):
        raise ArchiveError("damaged header (truncated or altered)") from None
    if params != SCRYPT:  # a crafted header must not make scrypt exhaust memory or time
        raise ArchiveError(f"unsupported key derivation parameters {params} (this version "
                           f"writes and reads {SCRYPT})")
    header = Header(1 if magic == MAGIC_FORMAT_1 else 2, fields,
                    magic + struct.pack(">I", length) + raw)
    nonce = fields.get("nonce" if header.format == 1 else "nonce_prefix", "")
    try:
        size = len(base64.b64decode(nonce, validate=True))
    except (ValueError, TypeError):
        size = 0
    if size != (12 if header.format == 1 else 8) or (
            header.format == 2 and fields.get("segment_size") != SEGMENT):
        raise ArchiveError("damaged header (truncated or altered)")
    return header


def decrypt(archive: BinaryIO, header: Header, passphrase: str) -> Iterator[bytes]:
    """The plaintext of `archive` (read just past its header), in chunks. An ArchiveError
    raised by the iterator, up to its last step, means none of it may be used."""
    key = _key(passphrase, base64.b64decode(header.fields["salt"]))
    if header.format == 1:
        return _format_1(archive, header, key)
    return _format_2(archive, header, key)


def _format_2(archive: BinaryIO, header: Header, key: bytes) -> Iterator[bytes]:
    aead, prefix = AESGCM(key), base64.b64decode(header.fields["nonce_prefix"])
    index, sealed = 0, _read_full(archive, SEGMENT + TAG)
    while True:
        following = _read_full(archive, SEGMENT + TAG)
        last = not following
        try:
            plain = aead.decrypt(_nonce(prefix, index), sealed,
                                 _associated(header.sealed, index, last))
        except (InvalidTag, ValueError, OverflowError, struct.error):
            raise ArchiveError(AUTHENTICATION_FAILED) from None
        yield plain
        if last:
            return
        sealed, index = following, index + 1


def _format_1(archive: BinaryIO, header: Header, key: bytes) -> Iterator[bytes]:
    start = len(header.sealed)
    end = archive.seek(0, os.SEEK_END)
    if end - start < TAG:
        raise ArchiveError(AUTHENTICATION_FAILED)
    archive.seek(end - TAG)
    tag = archive.read(TAG)
    archive.seek(start)
    decryptor = Cipher(algorithms.AES(key),
                       modes.GCM(base64.b64decode(header.fields["nonce"]), tag)).decryptor()
    decryptor.authenticate_additional_data(header.sealed)
    remaining = end - TAG - start
    while remaining:
        chunk = archive.read(min(SEGMENT, remaining))
        if not chunk:
            raise ArchiveError(AUTHENTICATION_FAILED)
        remaining -= len(chunk)
        yield decryptor.update(chunk)
    try:
        decryptor.finalize()
    except InvalidTag:
        raise ArchiveError(AUTHENTICATION_FAILED) from None


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end of `stream`."""
    data = stream.read(size)
    while data and len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data

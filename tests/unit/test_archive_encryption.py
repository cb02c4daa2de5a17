"""Format 2's segmented encryption: whatever the size, the plaintext comes back whole, and every
cut, reordering, repetition or addition of segments is refused."""

import hashlib
import io
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabpy_provision.backup import archive_encryption as ae

KEY = "correct horse battery staple"
SEALED = ae.SEGMENT + ae.TAG
SIZES = st.sampled_from([0, 1, ae.SEGMENT - 1, ae.SEGMENT, ae.SEGMENT + 1, 2 * ae.SEGMENT,
                         2 * ae.SEGMENT + 17]) | st.integers(0, 3 * ae.SEGMENT)


@pytest.fixture(scope="module")
def fast_keys():
    """scrypt (0.1 s a key) swapped for a hash in the generated tests: what they check is the
    segments; the real derivation is checked below (wrong key)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ae, "_key", lambda passphrase, salt: hashlib.sha256(
            salt + passphrase.encode()).digest())
        yield


def encrypted(plaintext: bytes, chunk: int = 65536) -> bytes:
    out = io.BytesIO()
    ae.encrypt((plaintext[i:i + chunk] for i in range(0, len(plaintext), chunk)), out, KEY,
               host="h")
    return out.getvalue()


def decrypted(archive: bytes, key: str = KEY) -> bytes:
    stream = io.BytesIO(archive)
    header = ae.read_header(stream)
    return b"".join(ae.decrypt(stream, header, key))


def split(archive: bytes) -> tuple[bytes, list[bytes]]:
    """The sealed header and the segments of a format 2 archive."""
    (length,) = struct.unpack(">I", archive[8:12])
    head, body = archive[:12 + length], archive[12 + length:]
    return head, [body[i:i + SEALED] for i in range(0, len(body), SEALED)]


@settings(max_examples=25, deadline=None)
@given(size=SIZES, chunk=st.integers(1, 3 * ae.SEGMENT))
def test_any_plaintext_comes_back_whole_in_segments_of_one_mib(fast_keys, size, chunk):
    plaintext = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    archive = encrypted(plaintext, chunk)
    head, segments = split(archive)
    assert len(segments) == size // ae.SEGMENT + (1 if size % ae.SEGMENT or not size else 0)
    assert all(len(s) == SEALED for s in segments[:-1])
    assert decrypted(archive) == plaintext


@settings(max_examples=40, deadline=None)
@given(size=SIZES, data=st.data())
def test_every_truncation_is_refused(fast_keys, size, data):
    archive = encrypted(b"\x00" * size)
    head, segments = split(archive)
    # at a segment boundary (the classic attack on naive chunking), or anywhere
    boundary = len(head) + SEALED * data.draw(st.integers(0, len(segments) - 1))
    anywhere = data.draw(st.integers(len(head), len(archive) - 1))
    for cut in (boundary, anywhere):
        with pytest.raises(ae.ArchiveError, match="authentication failed"):
            decrypted(archive[:cut])


def test_reordered_repeated_dropped_or_appended_segments_are_refused(fast_keys):
    archive = encrypted(b"".join(bytes([i]) * ae.SEGMENT for i in range(3)) + b"end")
    head, s = split(archive)
    assert len(s) == 4
    other_head, other = split(encrypted(b"another archive, same key"))
    for forged in ([s[1], s[0], s[2], s[3]], [s[0], s[0], s[1], s[2], s[3]],
                   [s[0], s[2], s[3]], [s[0], s[1], s[2]], [*s, s[3]], [*s, other[0]],
                   [s[0], s[1], s[2], other[0]]):
        with pytest.raises(ae.ArchiveError, match="authentication failed"):
            decrypted(head + b"".join(forged))
    with pytest.raises(ae.ArchiveError, match="authentication failed"):
        decrypted(other_head + b"".join(s))  # another header (salt, nonce prefix)


def test_the_header_is_authenticated_and_checked_before_deriving_a_key():
    archive = encrypted(b"payload")
    head, segments = split(archive)
    header = json.loads(head[12:])
    for field, value in (("host", "other"), ("created", "2000-01-01T00:00:00Z")):
        changed = json.dumps({**header, field: value}, sort_keys=True).encode()
        with pytest.raises(ae.ArchiveError, match="authentication failed"):
            decrypted(ae.MAGIC + struct.pack(">I", len(changed)) + changed + segments[0])
    for field, value, message in (
            ("kdf_params", {"n": 2**30, "r": 8, "p": 1}, "unsupported key derivation"),
            ("segment_size", 1 << 30, "damaged header"),
            ("nonce_prefix", "AAAA", "damaged header")):
        changed = json.dumps({**header, field: value}).encode()
        with pytest.raises(ae.ArchiveError, match=message):
            decrypted(ae.MAGIC + struct.pack(">I", len(changed)) + changed + segments[0])
    with pytest.raises(ae.ArchiveError, match="damaged header"):
        decrypted(ae.MAGIC + struct.pack(">I", ae.HEADER_MAX + 1) + b"{}")
    with pytest.raises(ae.ArchiveError, match="bad magic"):
        decrypted(b"PK\x03\x04" + archive[4:])
    with pytest.raises(ae.ArchiveError, match="authentication failed"):
        decrypted(archive, "wrong horse battery staple")

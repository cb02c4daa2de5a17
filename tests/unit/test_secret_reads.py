"""Issue 27: every secret read is bounded and a secret is exactly one line, whatever its source.

Generated over every character str.splitlines() breaks on (found by enumerating all of
Unicode, so a new one in a later Python is covered), at every position of a 24-character
passphrase, through each source: env:, file:, cmd:, vault:, a generated password's file and a
literal."""

from __future__ import annotations

import pytest

from tabpy_provision.settings.secret_refs import FileSecretStore, SecretError, resolve
from tests.unit.special_files import special_file
from tests.unit.test_secret_refs import WRITTEN_AT_ONCE

PASSPHRASE = "correct-horse-battery-42"  # 24 characters
#: Every character Python's splitlines ends a line at (\n, \r, \v, \f, \x1c-\x1e, \x85,
#: U+2028, U+2029 today).
LINE_BREAKS = [chr(code) for code in range(0x110000) if len(f"a{chr(code)}b".splitlines()) > 1]
#: The breaks that are not the two ways a line may end (\n, \r\n).
FOREIGN_BREAKS = [char for char in LINE_BREAKS if char != "\n"]
ALL_POSITIONS = range(len(PASSPHRASE) + 1)
SOME_POSITIONS = (0, 1, 12, 23, 24)  # for the sources that start a process or a request


def test_the_enumeration_found_the_known_breaks():
    assert {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
            "\u2029"} <= set(LINE_BREAKS)


class Sources:
    """A secret's text put where each kind of reference reads it."""

    def __init__(self, tmp_path, monkeypatch, vault=None):
        self.tmp_path, self.monkeypatch, self.vault = tmp_path, monkeypatch, vault
        self.store = FileSecretStore(tmp_path / "secrets" / "tabpy_users", WRITTEN_AT_ONCE)

    def env(self, text: str) -> str:
        self.monkeypatch.setenv("TABPY_READS_SECRET", text)
        return "env:TABPY_READS_SECRET"

    def file(self, data: bytes) -> str:
        path = self.tmp_path / "secret"
        path.write_bytes(data)
        path.chmod(0o600)
        return f"file:{path}"

    def cmd(self, data: bytes) -> str:
        return f"cmd:cat {self.file(data)[len('file:'):]}"

    def generated(self, data: bytes) -> str:
        self.store.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.store.root / "alice"
        path.write_bytes(data)
        path.chmod(0o600)
        return "generate"

    def vault_key(self, text: str) -> str:
        self.vault.secrets["secret"]["tabpy/alice"] = {"password": text}
        return "vault:secret/tabpy/alice#password"

    def resolve(self, reference: str) -> str:
        return resolve(reference, store=self.store, store_key="alice", allow_plaintext=True)


@pytest.fixture
def sources(tmp_path, monkeypatch):
    return Sources(tmp_path, monkeypatch)


@pytest.fixture
def vault_sources(tmp_path, monkeypatch):
    from tests.standins.vault_kv_standin import VaultKvStandin

    with VaultKvStandin("s.good-token", {"secret": {}}) as standin:
        monkeypatch.setenv("VAULT_ADDR", standin.address)
        monkeypatch.setenv("VAULT_TOKEN", "s.good-token")
        yield Sources(tmp_path, monkeypatch, standin)


def refused_without_value(sources: Sources, reference: str, value: str) -> str:
    with pytest.raises(SecretError) as error:
        sources.resolve(reference)
    message = str(error.value)
    assert "\n" not in message and PASSPHRASE[:6] not in message and value not in message
    return message


def with_break(char: str, position: int) -> str:
    return PASSPHRASE[:position] + char + PASSPHRASE[position:]


@pytest.mark.parametrize("char", FOREIGN_BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_foreign_line_break_in_the_first_line_is_refused_not_cut(sources, char):
    """Before: file:, cmd: and a generated password's file were cut at the break (a
    24-character passphrase resolved to its first 12 at U+2028); env: and literals kept it."""
    for position in ALL_POSITIONS:
        line = with_break(char, position)
        data = f"{line}\n".encode()
        for reference in (sources.file(data), sources.generated(data)):
            if line.endswith("\r"):  # \r\n: the one other way a line ends
                assert sources.resolve(reference) == PASSPHRASE
            else:
                refused_without_value(sources, reference, line)
        for reference in (sources.env(line), line):
            refused_without_value(sources, reference, line)
    for position in SOME_POSITIONS[:-1]:
        line = with_break(char, position)
        refused_without_value(sources, sources.cmd(f"{line}\nsecond line\n".encode()), line)


@pytest.mark.parametrize("char", LINE_BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_line_break_in_a_vault_value_is_refused(vault_sources, char):
    for position in SOME_POSITIONS:
        line = with_break(char, position)
        message = refused_without_value(vault_sources, vault_sources.vault_key(line), line)
        assert "vault:secret/tabpy/alice#password" in message


@pytest.mark.parametrize("char", LINE_BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_line_break_in_an_environment_variable_or_a_literal_is_refused(sources, char):
    """Their value is the whole string: no first line to take."""
    for position in ALL_POSITIONS:
        value = with_break(char, position)
        assert "TABPY_READS_SECRET" in refused_without_value(sources, sources.env(value), value)
        assert "(literal)" in refused_without_value(sources, value, value)


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_only_lf_and_crlf_end_the_first_line(sources, ending):
    for rest in ("", "second line\n", "second\u2028line\r\n", "\x0c"):
        data = f"{PASSPHRASE}{ending}{rest}".encode()
        for reference in (sources.file(data), sources.cmd(data), sources.generated(data)):
            assert sources.resolve(reference) == PASSPHRASE
    assert sources.resolve(sources.file(PASSPHRASE.encode())) == PASSPHRASE  # no newline


def test_the_same_value_without_a_break_resolves_everywhere(vault_sources):
    data = f"{PASSPHRASE}\n".encode()
    for reference in (vault_sources.file(data), vault_sources.cmd(data),
                      vault_sources.generated(data), vault_sources.env(PASSPHRASE),
                      vault_sources.vault_key(PASSPHRASE), PASSPHRASE):
        assert vault_sources.resolve(reference) == PASSPHRASE


# --- file: and generated passwords' files: regular files of at most 64 KiB --------------------

CAP = 64 * 1024


def resolves_within(sources: Sources, reference: str, seconds: float):
    """resolve() in a thread: (finished, error). A FIFO blocked the old read forever."""
    import threading

    outcome: list = []

    def run():
        try:
            outcome.append(sources.resolve(reference))
        except SecretError as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(outcome), outcome[0] if outcome else None


@pytest.mark.parametrize("kind", ["FIFO", "folder", "socket", "character device"])
def test_a_secret_file_that_is_not_a_regular_file_is_refused_at_once(sources, tmp_path, kind):
    import os

    holders = []
    for reference, path in ((f"file:{tmp_path / 'special'}", tmp_path / "special"),
                            ("generate", sources.store.root / "alice")):
        path.parent.mkdir(parents=True, exist_ok=True)
        holders.append(special_file(kind, path))
        finished, error = resolves_within(sources, reference, 5)
        if not finished and kind == "FIFO":  # let the old code's blocked read end
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        assert finished, f"{reference}: still reading a {kind} after 5 s"
        assert isinstance(error, SecretError)
        assert f"not a regular file (a {kind})" in str(error) and "\n" not in str(error)
    for holder in filter(None, holders):
        holder.close()


def test_a_symlink_to_a_private_regular_file_is_followed(sources, tmp_path):
    target = tmp_path / "real"
    target.write_text(f"{PASSPHRASE}\n")
    target.chmod(0o600)
    (tmp_path / "link").symlink_to(target)
    assert sources.resolve(f"file:{tmp_path / 'link'}") == PASSPHRASE


def sizes():
    """Sizes around the cap and far above it (fixed seed: the same every run)."""
    import random

    draw = random.Random(27)
    return sorted({1, CAP - 1, CAP, CAP + 1, 2 * CAP, 16 << 20,
                   *(draw.randrange(2, CAP) for _ in range(20)),
                   *(draw.randrange(CAP + 1, 4 << 20) for _ in range(20))})


def test_a_secret_file_larger_than_64_kib_is_refused_naming_it(sources, tmp_path):
    """Before: read whole (a 1 GiB file: 3 GiB resident to return 13 characters)."""
    for size in sizes():
        data = f"{PASSPHRASE}\n".encode().ljust(size, b"x")[:size] if size > 25 else b"p" * size
        for reference in (sources.file(data), sources.generated(data)):
            if size <= CAP:
                assert sources.resolve(reference) == data.split(b"\n")[0].decode()
                continue
            message = refused_without_value(sources, reference, PASSPHRASE)
            assert "larger than 64 KiB" in message, (size, message)
            assert str(tmp_path) in message


def test_a_large_sparse_file_is_refused_after_reading_only_the_cap(sources, tmp_path):
    import tracemalloc

    path = tmp_path / "huge"
    with open(path, "wb") as handle:
        handle.write(f"{PASSPHRASE}\n".encode())
        handle.truncate(1 << 30)  # 1 GiB, sparse
    path.chmod(0o600)
    tracemalloc.start()
    try:
        message = refused_without_value(sources, f"file:{path}", PASSPHRASE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "larger than 64 KiB" in message
    assert peak < 4 * CAP, f"{peak} bytes allocated to refuse it"


# --- cmd: its output bounded like a file, its time bounded even when a child holds the pipe --


def test_a_command_giving_more_than_64_kib_is_refused_naming_it(sources, tmp_path):
    source = tmp_path / "output"
    source.write_bytes(f"{PASSPHRASE}\n".encode().ljust(16 << 20, b"x"))
    for size in sizes():
        if size <= 25:
            continue
        reference = f"cmd:head -c {size} {source}"
        if size <= CAP:
            assert sources.resolve(reference) == PASSPHRASE
        else:
            message = refused_without_value(sources, reference, PASSPHRASE)
            assert message == f"command `head -c {size} {source}`: output larger than 64 KiB", \
                size


def alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_command_that_never_stops_writing_is_killed_at_the_cap(sources, tmp_path):
    """100 KB/s for ever: before, read until the 60 s timeout (and a faster writer filled the
    controller's memory first)."""
    pid_file = tmp_path / "pid"
    reference = (f"cmd:echo $$ > {pid_file}; "
                 "while :; do printf '%01000d\\n' 0; sleep 0.01; done")
    finished, error = resolves_within(sources, reference, 10)
    pid = int(pid_file.read_text())
    try:
        assert finished, "still reading after 10 s"
        assert str(error).endswith(": output larger than 64 KiB")
        assert not alive(pid)
    finally:
        if alive(pid):
            import os
            import signal

            os.kill(pid, signal.SIGTERM)


def test_the_timeout_holds_when_a_child_keeps_the_output_open(sources, tmp_path, monkeypatch):
    """The shell is killed at the timeout, but a background child still held its stdout:
    before, the read then waited for that child for ever."""
    import os
    import signal

    from tabpy_provision.settings import secret_refs

    monkeypatch.setattr(secret_refs, "COMMAND_TIMEOUT", 1)
    pid_file = tmp_path / "child"
    reference = f"cmd:sleep 1000 & echo $! > {pid_file}; exec sleep 1000"
    finished, error = resolves_within(sources, reference, 8)
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert finished, "still waiting after 8 s"
    assert str(error) == f"command `{reference[4:]}` did not finish within 1 s"

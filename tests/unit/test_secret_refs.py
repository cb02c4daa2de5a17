import os
import stat
from pathlib import Path

import pytest

from tabpy_provision.controller.files import Staged
from tabpy_provision.settings.secret_refs import (
    GENERATED_LENGTH,
    FileSecretStore,
    SecretError,
    describe,
    generate_password,
    resolve,
)


class WrittenAtOnce(Staged):
    """The controller files of a run whose changes are applied as soon as they are made."""

    def write_private(self, path, data, what):
        super().write_private(path, data, what)
        self.apply()


WRITTEN_AT_ONCE = WrittenAtOnce()


@pytest.fixture
def store(tmp_path):
    return FileSecretStore(tmp_path / "secrets", WRITTEN_AT_ONCE)


def _resolve(reference, store, allow_plaintext=False):
    return resolve(reference, store=store, store_key="alice", allow_plaintext=allow_plaintext)


def test_env(store, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "from-env")
    assert _resolve("env:TABPY_TEST_PW", store) == "from-env"
    monkeypatch.delenv("TABPY_TEST_PW")
    with pytest.raises(SecretError, match="TABPY_TEST_PW is not set"):
        _resolve("env:TABPY_TEST_PW", store)


def test_file_first_line_and_private_only(store, tmp_path):
    path = tmp_path / "pw"
    path.write_text("first-line\nsecond\n")
    path.chmod(0o600)
    assert _resolve(f"file:{path}", store) == "first-line"
    path.chmod(0o640)
    with pytest.raises(SecretError, match="readable by group or others"):
        _resolve(f"file:{path}", store)
    with pytest.raises(SecretError, match="No such file"):
        _resolve(f"file:{tmp_path}/missing", store)


def test_cmd(store):
    assert _resolve("cmd:printf 'from-cmd\\nignored'", store) == "from-cmd"
    with pytest.raises(SecretError, match="exited 3"):
        _resolve("cmd:exit 3", store)


def test_generate_is_stored_private_and_reused(store):
    first = _resolve("generate", store)
    assert first == _resolve("generate", store)
    path = store.path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == first + "\n"


def test_plaintext_needs_the_flag_and_unknown_scheme_is_refused(store):
    with pytest.raises(SecretError, match="plaintext secret refused"):
        _resolve("hunter2", store)
    assert _resolve("hunter2", store, allow_plaintext=True) == "hunter2"
    with pytest.raises(SecretError, match="unknown secret reference scheme 'vualt'"):
        _resolve("vualt:secret/tabpy#pw", store)


def test_describe_never_shows_a_literal():
    assert describe("env:X") == "env:X"
    assert describe("generate") == "generate"
    assert describe("hunter2") == "(literal)"


def test_generated_passwords_never_hold_colon_or_whitespace():
    draws = [generate_password() for _ in range(10_000)]
    assert all(len(p) >= 24 and len(p) == GENERATED_LENGTH for p in draws)
    assert not any(":" in p or any(c.isspace() for c in p) for p in draws)
    assert len(set(draws)) == len(draws)


def test_errors_do_not_reveal_values(store, tmp_path, monkeypatch):
    path = tmp_path / "pw"
    path.write_text("top-secret-value\n")
    os.chmod(path, 0o644)
    with pytest.raises(SecretError) as error:
        _resolve(f"file:{path}", store)
    assert "top-secret-value" not in str(error.value)


# --- Vault KV v2 through hvac, against the stand-in (no Vault server can run here) -----------

@pytest.fixture
def vault(monkeypatch):
    from tests.standins.vault_kv_standin import VaultKvStandin

    with VaultKvStandin("s.good-token", {"secret": {"tabpy/alice": {"password": "from-vault"}}}
                        ) as standin:
        monkeypatch.setenv("VAULT_ADDR", standin.address)
        monkeypatch.setenv("VAULT_TOKEN", "s.good-token")
        yield standin


def test_vault_reads_a_kv2_key(store, vault):
    assert _resolve("vault:secret/tabpy/alice#password", store) == "from-vault"
    assert vault.requests == 1


@pytest.mark.parametrize(("reference", "message"), [
    ("vault:secret/tabpy/bob#password", "vault:secret/tabpy/bob: no such secret"),
    ("vault:secret/tabpy/alice#pin", "the secret has no key 'pin'"),
    ("vault:secret#password", "expected vault:MOUNT/PATH#KEY"),
])
def test_vault_errors_name_the_reference(store, vault, reference, message):
    with pytest.raises(SecretError, match=message):
        _resolve(reference, store)


def test_vault_wrong_token_and_unreachable(store, vault, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.wrong")
    with pytest.raises(SecretError, match="permission denied"):
        _resolve("vault:secret/tabpy/alice#password", store)
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(SecretError, match="Vault at http://127.0.0.1:9 failed: ConnectionError"):
        _resolve("vault:secret/tabpy/alice#password", store)
    monkeypatch.delenv("VAULT_ADDR")
    with pytest.raises(SecretError, match="VAULT_ADDR and VAULT_TOKEN must be set"):
        _resolve("vault:secret/tabpy/alice#password", store)


def test_rotation_is_pending_until_promoted(store):
    current = _resolve("generate", store)
    assert not store.has_pending("alice")
    upcoming = store.pending("alice")
    assert upcoming != current
    assert store.pending("alice") == upcoming  # a retried rotation reuses its candidate
    assert _resolve("generate", store) == current  # a plain deploy still uses the old one
    store.promote("alice")
    assert _resolve("generate", store) == upcoming
    assert store.path("alice", "previous").read_text() == current + "\n"
    assert stat.S_IMODE(store.path("alice").stat().st_mode) == 0o600
    assert not store.has_pending("alice")


def test_vault_store_generates_reuses_and_rotates(vault):
    from tabpy_provision.settings.secret_refs import VaultSecretStore, secret_store

    files = Staged()
    store = secret_store(Path("/unused"), "secret/tabpy-provision", "tabpy_users", files)
    assert store == VaultSecretStore("secret", "tabpy-provision/tabpy_users", Staged())
    assert not store.exists("alice")
    first = store.get_or_create("alice")
    assert store.get_or_create("alice") == first
    # Staged: Vault is written by a real run only.
    assert "tabpy-provision/tabpy_users/alice" not in vault.secrets["secret"]
    assert files.changes() == [
        "generate a password in vault:secret/tabpy-provision/tabpy_users/alice"]
    files.apply()
    assert vault.secrets["secret"]["tabpy-provision/tabpy_users/alice"] == {"password": first}
    upcoming = store.pending("alice")
    assert store.has_pending("alice") and store.pending("alice") == upcoming
    assert store.get_or_create("alice") == first
    files.apply()
    store.promote("alice")
    assert vault.secrets["secret"]["tabpy-provision/tabpy_users/alice"] == {
        "password": upcoming, "previous": first}
    assert store.location("alice") == "vault:secret/tabpy-provision/tabpy_users/alice"
    assert vault.versions[("secret", "tabpy-provision/tabpy_users/alice")] == 3


@pytest.mark.parametrize("value, word", [("", "empty"), ("short", "too short")])
def test_a_passphrase_must_be_long_enough(value, word):
    from tabpy_provision.settings.secret_refs import passphrase_problem

    assert passphrase_problem(value).startswith(word)
    assert passphrase_problem("twelve chars") is None


def test_a_secret_that_is_not_utf8_is_one_line(tmp_path, store):
    secret = tmp_path / "secret"
    secret.write_bytes(b"\xff\xfe")
    secret.chmod(0o600)
    with pytest.raises(SecretError, match=f"file {secret}: not UTF-8 text"):
        _resolve(f"file:{secret}", store)
    with pytest.raises(SecretError, match="command `printf '\\\\377'`: not UTF-8 text"):
        _resolve("cmd:printf '\\377'", store)

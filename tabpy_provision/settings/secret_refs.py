"""Secret references -> values, resolved on the controller, never logged.

A reference is one of:
  env:VAR        the environment variable VAR
  file:/path     the first line of a file readable by its owner only
  cmd:COMMAND    the first line of COMMAND's stdout (e.g. `cmd:pass show tabpy/alice`)
  vault:MOUNT/PATH#KEY
                 a key of a HashiCorp Vault KV v2 secret (needs `hvac`; VAULT_ADDR and
                 VAULT_TOKEN from the environment)
  generate       a strong random password kept in the secret store (reused on reruns); a new
                 one is staged in the run's controller files, written only by a real run
Anything else is a literal, refused unless the inventory sets allow_plaintext_secrets.
Error messages name the reference, never a value.
"""

from __future__ import annotations

import os
import secrets
import selectors
import stat
import string
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tabpy_provision.controller.files import (
    TEMPORARY_PREFIX,
    ControllerFileError,
    Staged,
    read_regular,
)
from tabpy_provision.settings.errors import ProvisionError

# No ':' (basic auth splits on it) and no whitespace (refused by TabPy's file format).
GENERATED_ALPHABET = string.ascii_letters + string.digits + "-_.~!@%^*+="
GENERATED_LENGTH = 32
SCHEMES = ("env", "file", "cmd", "vault")
#: The most a secret's file or command may give: a secret is one line, and a 1 GiB file read
#: whole once took 3 GiB to return 13 characters.
MAX_SECRET_BYTES = 64 * 1024
#: Seconds a cmd: reference may take (a password manager asking for its passphrase included).
COMMAND_TIMEOUT = 60


class SecretError(ProvisionError):
    """A reference that cannot be resolved; the message names it, never a value."""


#: Between a key and its rotation slot (`alice~pending`): no user name holds it
#: (passwords.user_name_problem), so no user's file is another's slot, as `alice.pending` was.
#: Temporary files start with '.' (controller/files.py), which no user name may either.
SLOT_MARK = "~"
SLOTS = ("pending", "previous")
#: In a folder of this layout (written with its first secret): file names alone cannot tell
#: user `alice.pending` from a slot of an earlier version, so only a folder without it has
#: earlier slots to move.
LAYOUT_FILE = f"{SLOT_MARK}layout"
LAYOUT = b"rotation slots: KEY~pending, KEY~previous (tabpy-provision)\n"


@dataclass(frozen=True)
class FileSecretStore:
    """Generated secrets as 0600 files in a 0700 folder, one file per key (pki_dir's rule:
    a more open file or folder is tightened by the run).

    Rotation is two-phase: `pending(key)` makes (once) the next value; `promote(key)` makes it
    current once every host took it, keeping the old one as previous. Until then the current
    value stays what a plain deploy uses. VaultSecretStore behaves the same.
    """

    root: Path
    files: Staged = field(compare=False, repr=False)

    def path(self, key: str, slot: str | None = None) -> Path:
        """The file of `key`'s current value, or of one of its SLOTS."""
        if not _is_key(key):
            raise SecretError(f"{key!r} cannot name a generated secret")
        return self.root / (f"{key}{SLOT_MARK}{slot}" if slot else key)

    def location(self, key: str) -> str:
        return str(self.path(key))

    @property
    def where(self) -> str:
        """Where the keys are (for messages)."""
        return str(self.root)

    def exists(self, key: str) -> bool:
        return self.files.exists(self.path(key))

    def get_or_create(self, key: str) -> str:
        return self._read_or_create(self.path(key))

    def pending(self, key: str) -> str:
        return self._read_or_create(self.path(key, "pending"))

    def has_pending(self, key: str) -> bool:
        return self.files.exists(self.path(key, "pending"))

    def promote(self, key: str) -> None:
        current = self.path(key)
        if current.exists():
            os.replace(current, self.path(key, "previous"))
        os.replace(self.path(key, "pending"), current)

    def hold_private(self) -> None:
        """The folders held 0700 as pki_dir's are (staged, like every change of a run)."""
        self.files.private_folders(self.root.parent, self.root)

    def move_earlier_slots(self) -> None:
        """Earlier versions kept alice's slots as `alice.pending` and `alice.previous`, names
        a user may have: in a folder of theirs (no LAYOUT_FILE), each moves to its slot when
        `alice` exists and the slot does not (staged: a real run moves them and marks the
        layout, a rerun finds nothing). Current values never move."""
        if self.files.exists(self.root / LAYOUT_FILE):
            return
        for slot in SLOTS:
            for earlier in self.files.glob(self.root, f"*.{slot}"):
                key = earlier.name.removesuffix(f".{slot}")
                if not _is_key(key) or not self.exists(key) or \
                        self.files.exists(self.path(key, slot)):
                    continue
                try:
                    data = self.files.read(earlier, MAX_SECRET_BYTES)
                except ControllerFileError:  # not a slot we wrote: left for a user to read
                    continue
                what = f"move {earlier} to {self.path(key, slot)} (an earlier version's name)"
                self._write(self.path(key, slot), data, what)
                self.files.remove(earlier, what)

    def _read_or_create(self, path: Path) -> str:
        try:
            data = self.files.read(path, MAX_SECRET_BYTES)
        except ControllerFileError as error:
            raise SecretError(str(error)) from None
        if data is not None:
            self.files.tighten(path)
            return _first_line(data, str(path))
        value = generate_password()
        self._write(path, f"{value}\n".encode(), f"generate a password in {path}")
        return value

    def _write(self, path: Path, data: bytes, what: str) -> None:
        """Staged, with the layout's mark when the folder has none yet."""
        if not self.files.exists(self.root / LAYOUT_FILE):
            self.files.write_private(self.root / LAYOUT_FILE, LAYOUT, what)
        self.files.write_private(path, data, what)


def _is_key(key: str) -> bool:
    """A name no slot and no temporary file can have: no SLOT_MARK, no leading '.', no '/'."""
    return bool(key) and SLOT_MARK not in key and "/" not in key and \
        not key.startswith(TEMPORARY_PREFIX)


@dataclass(frozen=True)
class VaultSecretStore:
    """Generated secrets in Vault KV v2: one secret per key under `mount/prefix`, with the
    fields `password`, `pending` (during a rotation) and `previous`; Vault keeps the versions."""

    mount: str
    prefix: str
    files: Staged = field(compare=False, repr=False)

    def location(self, key: str) -> str:
        return f"vault:{self.mount}/{self.prefix}/{key}"

    @property
    def where(self) -> str:
        """Where the keys are (for messages)."""
        return f"vault:{self.mount}/{self.prefix}"

    def exists(self, key: str) -> bool:
        return "password" in self._read(key)

    def get_or_create(self, key: str) -> str:
        data = self._read(key)
        if "password" not in data:
            data = self._write(key, {**data, "password": generate_password()})
        return _one_line(data["password"], self.location(key))

    def pending(self, key: str) -> str:
        data = self._read(key)
        if "pending" not in data:
            data = self._write(key, {**data, "pending": generate_password()})
        return _one_line(data["pending"], self.location(key))

    def has_pending(self, key: str) -> bool:
        return "pending" in self._read(key)

    def _read(self, key: str) -> dict:
        staged = self.files.values.get(self.location(key))
        if staged is not None:
            return staged
        return _vault_call(self.location(key), lambda client, hvac: _kv_data(
            client, hvac, self.mount, f"{self.prefix}/{key}", missing_ok=True))

    def _write(self, key: str, data: dict) -> dict:
        """Staged: Vault is written when the run applies its controller changes."""
        location = self.location(key)
        self.files.values[location] = data
        self.files.action(f"generate a password in {location}", lambda: _vault_call(
            location, lambda client, hvac: client.secrets.kv.v2.create_or_update_secret(
                path=f"{self.prefix}/{key}", secret=data, mount_point=self.mount)))
        return data

    def promote(self, key: str) -> None:
        data = self._read(key)
        previous = {"previous": data["password"]} if "password" in data else {}
        self._write(key, {"password": data["pending"], **previous})
        self.files.apply()


SecretStore = FileSecretStore | VaultSecretStore


def secret_store(secrets_dir: Path, vault_path: str | None, scope: str,
                 files: Staged) -> SecretStore:
    """Where generated secrets of `scope` (e.g. tabpy_users) live: Vault when configured.
    New ones are staged in `files`."""
    if vault_path:
        mount, _, prefix = vault_path.strip("/").partition("/")
        return VaultSecretStore(mount, f"{prefix}/{scope}" if prefix else scope, files)
    store = FileSecretStore(secrets_dir / scope, files)
    store.hold_private()
    store.move_earlier_slots()
    return store


#: Shortest passphrase that may encrypt an archive (backups, the controller's state).
MIN_PASSPHRASE = 12


def passphrase_problem(value: str) -> str | None:
    """Why a resolved passphrase cannot encrypt anything (empty, `env:` of an empty variable,
    `cmd:true`, trivially short), or None. Never includes the value."""
    if len(value) < MIN_PASSPHRASE:
        return f"{'empty' if not value else 'too short'}: a passphrase needs at least " \
               f"{MIN_PASSPHRASE} characters"
    return None


def generate_password(length: int = GENERATED_LENGTH) -> str:
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(length))


def resolve(reference: object, *, store: SecretStore, store_key: str,
            allow_plaintext: bool) -> str:
    if not isinstance(reference, str) or not reference:
        raise SecretError("secret reference must be a non-empty string")
    if reference == "generate":
        return store.get_or_create(store_key)
    scheme, sep, rest = reference.partition(":")
    if sep and scheme == "env":
        if rest not in os.environ:
            raise SecretError(f"environment variable {rest} is not set")
        return _one_line(os.environ[rest], f"environment variable {rest}")
    if sep and scheme == "file":
        return _read_private_file(Path(rest))
    if sep and scheme == "cmd":
        return _run_command(rest)
    if sep and scheme == "vault":
        return _read_vault(rest)
    if sep and scheme.isidentifier() and scheme.islower() and len(scheme) <= 10:
        raise SecretError(f"unknown secret reference scheme {scheme!r} "
                          f"(use env:, file:, cmd:, vault: or generate)")
    if not allow_plaintext:
        raise SecretError("plaintext secret refused (use env:, file:, cmd:, vault: or generate, "
                          "or set allow_plaintext_secrets)")
    return _one_line(reference, "(literal)")


def describe(reference: object) -> str:
    """How to name a reference in messages without revealing a literal."""
    if isinstance(reference, str) and (reference == "generate" or reference.partition(":")[0]
                                       in SCHEMES):
        return reference
    return "(literal)"


def _first_line(data: bytes, source: str) -> str:
    """The first line of a secret's bytes, ended by \\n or \\r\\n only; not UTF-8 is a
    one-line error naming the source."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SecretError(f"{source}: not UTF-8 text") from None
    return _one_line(text.partition("\n")[0].removesuffix("\r"), source)


def _one_line(text: str, source: str) -> str:
    """`text` unless it holds a line break of any kind str.splitlines knows (\\r, \\v,
    \\x1c, U+2028...): refused, not cut, as cutting silently shortened passphrases."""
    if text.splitlines() in ([], [text]):
        return text
    char = next(char for char in text if len(f"{char}x".splitlines()) > 1)
    raise SecretError(f"{source}: holds a line break (U+{ord(char):04X}): a secret is one "
                      "line, which only \\n or \\r\\n may end in a file or a command's output")


def _read_private_file(path: Path) -> str:
    try:
        data, mode = read_regular(path, MAX_SECRET_BYTES)
    except OSError as error:
        raise SecretError(f"file {path}: {error.strerror}") from None
    except ControllerFileError as error:
        raise SecretError(f"file {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"file {path} is readable by group or others (chmod 600 it)")
    return _first_line(data, f"file {path}")


def _run_command(command: str) -> str:
    """The first line of COMMAND's stdout, read as it comes. More than MAX_SECRET_BYTES, or
    more than COMMAND_TIMEOUT seconds, kills the shell and stops reading: a child it left
    holding the output cannot make the run wait (it gets SIGPIPE). Its stderr is not kept."""
    source = f"command `{command}`"
    deadline = time.monotonic() + COMMAND_TIMEOUT
    process = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    try:
        output = _read_until(process.stdout, deadline, source)
        process.wait(max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        raise SecretError(f"{source} did not finish within {COMMAND_TIMEOUT} s") from None
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise SecretError(f"{source} exited {process.returncode}")
    return _first_line(output, source)


def _read_until(pipe, deadline: float, source: str) -> bytes:
    """Everything `pipe` gives up to its end, refused past MAX_SECRET_BYTES or `deadline`."""
    output = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SecretError(f"{source} did not finish within {COMMAND_TIMEOUT} s")
            if not selector.select(left):
                continue
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                return bytes(output)
            output += chunk
            if len(output) > MAX_SECRET_BYTES:
                raise SecretError(f"{source}: output larger than {MAX_SECRET_BYTES // 1024} KiB")


def _read_vault(reference: str) -> str:
    """`mount/path#key` from Vault KV v2, with VAULT_ADDR and VAULT_TOKEN from the environment."""
    location, sep, key = reference.partition("#")
    mount, slash, path = location.partition("/")
    if not (sep and slash and mount and path and key):
        raise SecretError(f"vault:{reference}: expected vault:MOUNT/PATH#KEY")
    data = _vault_call(f"vault:{location}",
                       lambda client, hvac: _kv_data(client, hvac, mount, path, missing_ok=False))
    if key not in data:
        raise SecretError(f"vault:{location}: the secret has no key {key!r}")
    return _one_line(str(data[key]), f"vault:{reference}")


def _kv_data(client, hvac, mount: str, path: str, *, missing_ok: bool) -> dict:
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True)
    except hvac.exceptions.InvalidPath:
        if missing_ok:
            return {}
        raise SecretError(f"vault:{mount}/{path}: no such secret") from None
    return response.get("data", {}).get("data", {})


def _vault_call(location: str, call):
    """Run `call(client, hvac)` against VAULT_ADDR with VAULT_TOKEN; errors name `location`."""
    try:
        import hvac
        import hvac.exceptions
        import requests
    except ImportError:
        raise SecretError("vault: references need hvac (pip install hvac)") from None
    address = os.environ.get("VAULT_ADDR")
    if not address or "VAULT_TOKEN" not in os.environ:
        raise SecretError("vault: VAULT_ADDR and VAULT_TOKEN must be set")
    client = hvac.Client(url=address, token=os.environ["VAULT_TOKEN"], timeout=10)
    try:
        return call(client, hvac)
    except hvac.exceptions.Forbidden:
        raise SecretError(f"{location}: permission denied for this token") from None
    except (hvac.exceptions.VaultError, requests.RequestException) as error:
        raise SecretError(f"{location}: Vault at {address} failed: "
                          f"{type(error).__name__}") from None


def resolve_users(host: str, field: str, declared: Mapping[str, object], store: SecretStore,
                  rotating: frozenset[str], allow_plaintext: bool,
                  password_problem: Callable[[str], str | None], problems: list[str],
                  notes: list[str], key: Callable[[str], str] = str.lower) -> dict[str, str]:
    """Passwords of the declared users of `field` (names already checked), from their
    references; `key`: a user's name in the store (and in `rotating`); `password_problem`:
    why the service could not take a password (never naming it)."""
    users = {}
    for user, reference in declared.items():
        store_key = key(user)
        try:
            if store_key in rotating:
                state = "pending" if store.has_pending(store_key) else "new"
                password = store.pending(store_key)
                notes.append(f"{field}.{user}: rotating to the {state} password "
                             f"(pending in {store.location(store_key)})")
            else:
                password = resolve(reference, store=store, store_key=store_key,
                                   allow_plaintext=allow_plaintext)
        except SecretError as error:
            problems.append(f"{host}: {field}.{user} ({describe(reference)}): {error}")
            continue
        problem = password_problem(password)
        if problem:
            problems.append(f"{host}: {field}.{user} ({describe(reference)}): {problem}")
            continue
        users[user] = password
    return users

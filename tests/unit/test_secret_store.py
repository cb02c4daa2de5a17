"""Issue 27: generated secrets held to pki_dir's modes, and kept where no user name reaches a
rotation slot or a temporary file. Names generated with a fixed seed from the user-name
alphabet, and built to aim at the slots (`alice.pending`, `alice.previous`, `svc.tmp`)."""

from __future__ import annotations

import random
import stat

import pytest

from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.backup import archive_members
from tabpy_provision.controller.files import Staged
from tabpy_provision.controller.state_archive import pack_state
from tabpy_provision.server import passwords
from tabpy_provision.settings.secret_refs import resolve, secret_store

USER_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-"
#: What earlier versions (and an interrupted write) appended to a key's file name.
AIMED_SUFFIXES = (".pending", ".previous", ".tmp", ".PENDING", ".pending.tmp", "~pending",
                  "~previous", ".new", "-pending", ".previous.previous")


def user_names(count: int, seed: int = 27) -> list[str]:
    """Valid TabPy user names: random ones, and each with the suffixes that aim at a slot."""
    draw = random.Random(seed)
    names = {"alice", "svc", "a", "tableau"}
    while len(names) < count:
        name = "".join(draw.choice(USER_CHARACTERS) for _ in range(draw.randint(1, 20)))
        if passwords.user_name_problem(name) is None:
            names.add(name)
    aimed = {f"{name}{suffix}" for name in names for suffix in AIMED_SUFFIXES}
    return sorted(names | {n for n in aimed if passwords.user_name_problem(n) is None})


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def store_of(secrets_dir, files):
    return secret_store(secrets_dir, None, "tabpy_users", files)


def generated(store, user: str) -> str:
    return resolve("generate", store=store, store_key=user.lower(), allow_plaintext=False)


def test_no_user_reads_or_overwrites_another_users_rotation(tmp_path):
    """Before: user `alice.pending` took alice's pending password as its own, and alice's
    promotion replaced user `alice.previous`'s password with alice's old one."""
    names = user_names(20)
    keys = sorted({name.lower() for name in names})
    files = Staged()
    store = store_of(tmp_path / "secrets", files)
    current = {key: generated(store, key) for key in keys}
    files.apply()
    rotating = [key for key in keys if "." not in key and "~" not in key]
    pending = {key: store.pending(key) for key in rotating}
    files.apply()
    store = store_of(tmp_path / "secrets", Staged())
    for key in keys:
        assert generated(store, key) == current[key], key
        if key not in pending:
            assert not store.has_pending(key), key
    for key in rotating:
        store.promote(key)
    store = store_of(tmp_path / "secrets", Staged())
    for key in keys:
        assert generated(store, key) == pending.get(key, current[key]), key
    values = list(current.values()) + list(pending.values())
    assert len(set(values)) == len(values)


def test_no_slot_or_temporary_file_has_a_user_name(tmp_path):
    """Every file the store keeps or writes besides users' own: never a valid user name."""
    files = Staged()
    store = store_of(tmp_path / "secrets", files)
    for key in ("alice", "svc", "a.b"):
        generated(store, key)
        store.pending(key)
    files.apply()
    for key in ("alice", "svc", "a.b"):
        store.promote(key)
    others = sorted(path.name for path in (tmp_path / "secrets" / "tabpy_users").iterdir()
                    if path.name not in ("alice", "svc", "a.b"))
    assert others == ["a.b~previous", "alice~previous", "svc~previous", "~layout"]
    for name in others:
        assert passwords.user_name_problem(name) is not None, name


def test_a_user_named_like_a_temporary_file_is_in_the_state_archive(tmp_path):
    """Before: `svc.tmp` (and any name with a .tmp part) was left out as an interrupted
    write's leftover; now only the names those writes use (a leading '.') are."""
    secrets = tmp_path / "secrets"
    names = [name for name in user_names(60, seed=28) if ".tmp" in name.lower()]
    assert "svc.tmp" in names and len(names) > 20
    files = Staged()
    store = store_of(secrets, files)
    for name in names:
        generated(store, name)
    files.apply()
    (secrets / "tabpy_users" / ".alice.0123456789ab.tmp").write_bytes(b"half\n")
    (secrets / ".tabpy_users-k2j4h1").mkdir()
    (secrets / ".tabpy_users-k2j4h1" / "alice").write_bytes(b"half\n")
    archive = tmp_path / "state.tabpy-controller"
    pack_state({"secrets_dir.0": secrets}, "correct horse battery staple", archive,
               environment="lab")
    (tmp_path / "opened").mkdir(mode=0o700)
    kept = [member.path for member in backup_archive.open_archive(
        archive, "correct horse battery staple", tmp_path / "opened").members
        if member.type == archive_members.FILE]
    assert sorted(kept) == sorted([f"/secrets_dir.0/tabpy_users/{name.lower()}"
                                   for name in names] + ["/secrets_dir.0/tabpy_users/~layout"])


FOLDER_MODES = (0o755, 0o750, 0o711, 0o777, 0o2775, 0o1777, 0o500, 0o700)
FILE_MODES = (0o644, 0o640, 0o604, 0o666, 0o400, 0o660, 0o600)


@pytest.mark.parametrize("folder_mode", FOLDER_MODES, ids=oct)
def test_secrets_dir_is_held_to_pki_dirs_modes(tmp_path, folder_mode):
    """The rule of pki_dir (Staged.private_folders and Staged.tighten: staged, applied by a
    real run, said in the same words), now for secrets_dir, its scope folders and files."""
    secrets = tmp_path / "secrets"
    files = Staged()
    store = store_of(secrets, files)
    users = [f"user{number}" for number in range(len(FILE_MODES))]
    values = {user: generated(store, user) for user in users}
    files.apply()
    for user, file_mode in zip(users, FILE_MODES, strict=True):
        (secrets / "tabpy_users" / user).chmod(file_mode)
    for folder in (secrets, secrets / "tabpy_users"):
        folder.chmod(folder_mode)
    files = Staged()
    store = store_of(secrets, files)
    assert {user: generated(store, user) for user in users} == values
    opened = [f"make {secrets / 'tabpy_users' / user} private (0600)"
              for user, file_mode in zip(users, FILE_MODES, strict=True) if file_mode != 0o600]
    folders = [f"make {folder} private (0700)" for folder in (secrets, secrets / "tabpy_users")
               if folder_mode != 0o700]
    assert sorted(files.changes()) == sorted(folders + opened)
    files.apply()
    assert mode(secrets) == mode(secrets / "tabpy_users") == 0o700
    assert {mode(secrets / "tabpy_users" / user) for user in users} == {0o600}
    again = Staged()
    assert {user: generated(store_of(secrets, again), user) for user in users} == values
    assert again.changes() == []


def test_the_slots_of_earlier_versions_are_moved_once(tmp_path):
    """Earlier versions kept alice's slots as `alice.pending` and `alice.previous`: a name user
    `alice.pending` could have. Moved where no user name reaches when alice's own file exists
    (staged: a real run moves them, a rerun finds nothing to do); the current passwords stay
    where they are, so a rerun changes nothing for their users."""
    users = tmp_path / "secrets" / "tabpy_users"
    users.mkdir(parents=True, mode=0o700)
    (tmp_path / "secrets").chmod(0o700)
    legacy = {"alice": "current-alice-1234", "alice.pending": "pending-alice-1234",
              "alice.previous": "previous-alice-1234", "bob": "current-bob-12345",
              "bob.previous": "previous-bob-12345", "carol.pending": "carols-own-123456"}
    for name, value in legacy.items():
        (users / name).write_text(f"{value}\n")
        (users / name).chmod(0o600)
    files = Staged()
    store = store_of(tmp_path / "secrets", files)
    assert generated(store, "alice") == "current-alice-1234"
    assert store.has_pending("alice") and store.pending("alice") == "pending-alice-1234"
    assert not store.has_pending("bob")
    assert generated(store, "carol.pending") == "carols-own-123456"  # no user carol
    changes = files.changes()
    assert len(changes) == 3 and all(change.startswith("move ") for change in changes)
    files.apply()
    assert sorted(path.name for path in users.iterdir()) == [
        "alice", "alice~pending", "alice~previous", "bob", "bob~previous", "carol.pending",
        "~layout"]
    again = Staged()
    store = store_of(tmp_path / "secrets", again)
    assert generated(store, "alice") == "current-alice-1234"
    assert generated(store, "bob") == "current-bob-12345"
    assert store.pending("alice") == "pending-alice-1234"
    assert again.changes() == []
    store.promote("alice")
    assert (users / "alice~previous").read_text() == "current-alice-1234\n"
    assert generated(store, "alice") == "pending-alice-1234"


def test_a_folder_of_this_layout_keeps_a_user_named_like_an_earlier_slot(tmp_path):
    """Users `x` and `x.pending` in a folder this version wrote: nothing moves, ever."""
    files = Staged()
    store = store_of(tmp_path / "secrets", files)
    first = {user: generated(store, user) for user in ("x", "x.pending", "x.previous")}
    files.apply()
    again = Staged()
    store = store_of(tmp_path / "secrets", again)
    assert {user: generated(store, user) for user in first} == first
    assert not store.has_pending("x") and again.changes() == []


@pytest.mark.parametrize("user", ["a~pending", ".hidden", "a/b", "~layout"])
def test_a_name_the_store_refuses_is_left_to_the_plans_problem_lines(tmp_path, user):
    """The preflight reads which generated users have a password before planning; a name no
    store file may have is the plan's one-line problem there, not an exception."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    from tabpy_provision.run.preflight import _identity_before

    assert passwords.user_name_problem(user) is not None
    path = tmp_path / "inventory.py"
    path.write_text(f"tabpy_servers = [('tabpy1.lab.test', {{'tabpy_users': {{{user!r}: "
                    f"'generate'}}, 'secrets_dir': {str(tmp_path / 's')!r}}})]\n")
    state = State()
    with ctx_state.use(state):
        state.inventory = make_inventory(str(path))
        assert _identity_before(state, Staged()) == {}

import logging
import re
import stat
from types import SimpleNamespace

import pytest

from tabpy_provision import pki
from tabpy_provision.controller import files as controller_files
from tabpy_provision.controller.files import Staged
from tabpy_provision.server.plan import plan_tabpy_server


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_staged_writes_are_read_back_and_written_only_by_apply(tmp_path):
    files = Staged()
    key = tmp_path / "state" / "ca" / "root.key"
    files.write_private(key, b"k", "create a CA")
    files.write_private(tmp_path / "state" / "ca" / "root.crt", b"c", "create a CA")
    assert files.read(key) == b"k" and files.exists(key) and files.exists(tmp_path / "state")
    assert files.glob(tmp_path / "state" / "ca", "*.key") == [key]
    assert not (tmp_path / "state").exists()
    assert files.changes() == ["create a CA"]
    assert files.apply() == ["created a CA"]
    assert key.read_bytes() == b"k" and mode(key) == 0o600
    assert mode(tmp_path / "state") == 0o700 and mode(tmp_path / "state" / "ca") == 0o700
    assert files.changes() == [] and files.apply() == []


def test_a_new_folder_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    files = Staged()
    for name in ("a", "b", "c"):
        files.write_private(tmp_path / "new" / name, name.encode(), "create")
    real = controller_files.write_private
    written = []

    def crash_on_the_third(path, data):
        written.append(path)
        if len(written) == 3:
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(controller_files, "write_private", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        files.apply()
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the folder built aside is gone too


def test_removals_and_loose_modes_are_staged(tmp_path):
    loose = tmp_path / "loose.key"
    loose.write_bytes(b"x")
    loose.chmod(0o644)
    gone = tmp_path / "gone.pem"
    gone.write_bytes(b"y")
    files = Staged()
    files.tighten(loose)
    files.remove(gone, "remove gone.pem")
    assert not files.exists(gone) and gone.exists() and mode(loose) == 0o644
    files.apply()
    assert not gone.exists() and mode(loose) == 0o600


def test_planning_a_new_environment_writes_nothing(tmp_path):
    data = {"tabpy_users": {"alice": "generate"}, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets")}
    files = Staged()
    first = plan_tabpy_server("tabpy1.example.com", data, files=files)
    second = plan_tabpy_server("tabpy2.example.com", data, files=files)
    assert list(tmp_path.iterdir()) == []
    # One CA for the whole run: the second host's leaf chains to the first one's root.
    assert first.tls.ca_pem == second.tls.ca_pem
    assert files.changes() == [
        f"generate a password in {tmp_path}/secrets/tabpy_users/alice",
        f"create a new private CA in {tmp_path}/pki/ca",
        "issue a certificate for tabpy1.example.com (new)",
        "issue a certificate for tabpy2.example.com (new)",
    ]
    files.apply()
    again = plan_tabpy_server("tabpy1.example.com", data)
    assert again.tls.chain_pem == first.tls.chain_pem
    assert again.passwords == first.passwords
    assert pki.load_ca(tmp_path / "pki").root_pem == first.tls.ca_pem



class RecordingHost:
    """The part of a pyinfra Host the controller's apply step logs through."""

    def __init__(self) -> None:
        self.logged: list[str] = []

    def log_styled(self, line, **style):
        self.logged.append(line)

def test_the_runs_first_operation_applies_the_staging_once(tmp_path):
    from pyinfra.api import FunctionCommand

    from tabpy_provision.run.preflight import _apply_staged, controller_prepared

    files = Staged()
    assert list(controller_prepared._inner(files=files)) == []  # nothing staged: no change
    files.write_private(tmp_path / "secrets" / "alice", b"pw\n", "generate a password")
    (command,) = controller_prepared._inner(files=files)
    assert isinstance(command, FunctionCommand) and not (tmp_path / "secrets").exists()

    host = RecordingHost()
    assert _apply_staged(SimpleNamespace(), host, files)
    assert (tmp_path / "secrets" / "alice").read_bytes() == b"pw\n"
    assert host.logged == ["controller: generated a password"]
    assert list(controller_prepared._inner(files=files)) == []


#: A line saying a controller write happened.
PAST_WRITE = re.compile(r"\b(created|generated|issued|re-issued|renewed|rewritten|wrote|written|"
                        r"built|stored|removed|ordered)\b")


def test_a_preview_claims_no_write_and_the_apply_says_each_one_done(tmp_path, caplog):
    from tabpy_provision.run.preflight import Preflight, _apply_staged, say_plan

    data = {"tabpy_users": {"alice": "generate"}, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets")}
    files = Staged()
    plans = {host: plan_tabpy_server(host, data, files=files)
             for host in ("tabpy1.example.com", "tabpy2.example.com")}
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        say_plan(Preflight(plans=plans), files)
    preview = [record.getMessage() for record in caplog.records]
    assert preview == [f"    [controller] would {what}" for what in files.changes()]
    assert len(preview) == 4 and not any(PAST_WRITE.search(line) for line in preview)

    host = RecordingHost()
    _apply_staged(SimpleNamespace(), host, files)
    assert host.logged == [
        f"controller: generated a password in {tmp_path}/secrets/tabpy_users/alice",
        f"controller: created a new private CA in {tmp_path}/pki/ca",
        "controller: issued a certificate for tabpy1.example.com (new)",
        "controller: issued a certificate for tabpy2.example.com (new)"]
    assert (tmp_path / "secrets" / "tabpy_users" / "alice").exists()


def test_every_folder_a_private_write_creates_is_private(tmp_path):
    with controller_files.private_output(tmp_path / "backups" / "lab" / "tabpy1" / "x") as out:
        out.write(b"data")
    assert mode(tmp_path / "backups" / "lab" / "tabpy1" / "x") == 0o600
    for folder in ("backups", "backups/lab", "backups/lab/tabpy1"):
        assert mode(tmp_path / folder) == 0o700, folder
    files = Staged()
    files.write_private(tmp_path / "secrets" / "lab" / "tabpy_users" / "alice", b"pw", "gen")
    files.apply()
    for folder in ("secrets", "secrets/lab", "secrets/lab/tabpy_users"):
        assert mode(tmp_path / folder) == 0o700, folder


@pytest.mark.parametrize("kind", ["FIFO", "folder", "socket", "character device"])
def test_a_controller_file_that_is_not_a_regular_file_is_refused_unread(tmp_path, kind):
    """A FIFO at a key's path blocked planning forever; /dev/zero was read until memory ran
    out. The refusal is one line naming the path."""
    import os
    import threading

    from tests.unit.special_files import special_file

    path = tmp_path / "ca" / "intermediate.key"
    path.parent.mkdir()
    holder = special_file(kind, path)
    outcome = []

    def read():
        try:
            outcome.append(Staged().read(path))
        except controller_files.ControllerFileError as error:
            outcome.append(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    if not outcome and kind == "FIFO":
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    if holder:
        holder.close()
    assert outcome, f"still reading a {kind} after 5 s"
    assert str(outcome[0]) == f"{path}: not a regular file (a {kind})"


def folder_modes():
    """Modes of a folder the controller may write into: /tmp's 1777, setgid team folders,
    0755 home folders... every combination of the special bits with common permissions."""
    import itertools

    specials = (0, 0o1000, 0o2000, 0o3000)
    permissions = (0o700, 0o711, 0o750, 0o755, 0o770, 0o775, 0o777)
    return [special | permission for special, permission in
            itertools.product(specials, permissions)]


@pytest.mark.parametrize("writer", ["write_private", "archive", "staged_file", "staged_folder"])
def test_writing_never_changes_the_mode_of_an_existing_folder(tmp_path, writer):
    """`controller_state backup --out /tmp/x` as root made /tmp 0700: only the folders a
    write creates are 0700."""
    from tabpy_provision.backup import archive as backup_archive

    for number, folder_mode in enumerate(folder_modes()):
        folder = tmp_path / f"folder{number}"
        folder.mkdir()
        folder.chmod(folder_mode)
        target = folder / "new" / "deeper" / "file" if writer in ("staged_folder", "archive") \
            else folder / "file"
        if writer == "write_private":
            controller_files.write_private(target, b"x")
        elif writer == "archive":  # backup_dir: folder/new (the project's own, created 0700)
            backup_archive.hold_private(folder / "new", target)
            with controller_files.private_output(target) as out:
                out.write(b"x")
        else:
            files = Staged()
            files.write_private(target, b"x", "write")
            files.apply()
        assert mode(folder) == folder_mode, f"{folder_mode:o} became {mode(folder):o}"
        assert mode(target) == 0o600 and target.read_bytes() == b"x"
        for created in target.parents:
            if created == folder:
                break
            assert mode(created) == 0o700


def test_a_private_output_that_fails_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "backups" / "archive"
    with controller_files.private_output(target) as out:
        out.write(b"old")
    with pytest.raises(RuntimeError), controller_files.private_output(target) as out:
        out.write(b"half of the new")
        out.flush()
        assert tmp_path.joinpath("backups", out.name).read_bytes() == b"half of the new"
        raise RuntimeError("the proof failed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["archive"]

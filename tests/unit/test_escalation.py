"""Acting as root through sudo: the commands that carry a file's bytes (run for real by `sh`),
what the probe's answers mean, and a sudo password that only ever travels on stdin."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyinfra.api import StringCommand
from pyinfra.connectors.util import make_unix_command

from tabpy_provision.run import escalation
from tabpy_provision.run import hosts as connection
from tabpy_provision.run.remote import SUDO_PASSWORD_KEY


def sh(command: str, data: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], input=data, capture_output=True, check=False)


@settings(max_examples=40, deadline=None)
@given(content=st.binary(max_size=4096), name=st.text(
    st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20).filter(
        lambda name: name not in (".", "..")))
def test_written_bytes_are_exact_whatever_the_content_and_name(tmp_path_factory, content, name):
    folder = tmp_path_factory.mktemp("w")
    path = str(folder / name)
    done = sh(escalation.write_command(path, len(content), mode="0640"), content)
    assert done.returncode == 0, done.stderr
    with open(path, "rb") as handle:
        assert handle.read() == content
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert os.listdir(folder) == [name]  # no temp file left
    assert sh(escalation.read_command(path)).stdout == content


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "passwords"
    path.write_bytes(b"old")
    done = sh(escalation.write_command(str(path), 3, owner="no-such-user-here"), b"new")
    assert done.returncode != 0
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["passwords"]


def test_a_stream_cut_short_never_reaches_the_file():
    """The controller killed mid-transfer: the pipe simply ends, as if all was sent."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "haproxy.cfg"
        path.write_bytes(b"old")
        done = sh(escalation.write_command(str(path), 10), b"new, but")
        assert done.returncode != 0
        assert path.read_bytes() == b"old" and os.listdir(folder) == ["haproxy.cfg"]


def test_a_hangup_mid_transfer_leaves_no_temp_file(tmp_path):
    """A hangup of the whole session (as when its terminal goes) rather than a cut pipe."""
    path = tmp_path / "key.pem"
    process = subprocess.Popen(["sh", "-c", escalation.write_command(str(path), 100)],
                               stdin=subprocess.PIPE, start_new_session=True,
                               preexec_fn=_as_sshd_starts_it)
    process.stdin.write(b"part")
    process.stdin.flush()
    for _ in range(500):  # until the temp file holds what was sent: the transfer is under way
        if any(p.name.startswith(".tabpy-provision.") and p.stat().st_size == 4
               for p in tmp_path.iterdir()):
            break
        subprocess.run(["sleep", "0.01"], check=True)
    os.killpg(process.pid, signal.SIGHUP)
    # Watched through /proc, not wait(): the suite's gevent may reap children on its own.
    ended = time.monotonic() + 10
    while not _ended(process.pid) and time.monotonic() < ended:
        subprocess.run(["sleep", "0.01"], check=True)
    assert _ended(process.pid), _signal_state(process.pid)
    assert os.listdir(tmp_path) == []


def _as_sshd_starts_it() -> None:
    """The shell's signals as on a host: none blocked or ignored. The suite's process may
    carry others (nohup ignores SIGHUP; an event loop may block signals), which children
    inherit."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _signal_state(pid: int) -> str:
    """What a process that did not end shows of its state and signals, for the failure."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return "gone"
    return "; ".join(line for line in status if line.startswith(("State", "Sig", "Shd")))


def _ended(pid: int) -> bool:
    """The process is gone or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_temp_file_is_private_while_it_fills(tmp_path):
    # the content is read from a fifo we hold open: the temp file exists, partly written
    path = tmp_path / "key.pem"
    script = escalation.write_command(str(path), len(b"partial rest"), mode="0644")
    process = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE)
    process.stdin.write(b"partial")
    process.stdin.flush()
    for _ in range(200):
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".tabpy-provision.")]
        if temps and temps[0].stat().st_size:
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert temps and oct(temps[0].stat().st_mode & 0o777) == "0o600"
    assert not path.exists()
    process.stdin.write(b" rest")
    process.stdin.close()
    assert process.wait(timeout=10) == 0
    assert path.read_bytes() == b"partial rest"
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_as_root_wraps_a_command_for_sudo_without_changing_it():
    command = "echo 'a b' \"$HOME\"; printf '%s' x"
    assert escalation.as_root(command, sudo=False) == command
    wrapped = escalation.as_root(command, sudo=True)
    assert wrapped.startswith("sudo -n -H -- sh -c ")
    # sudo's own argument handling aside, the shell sees the command unchanged
    assert sh(wrapped.removeprefix("sudo -n -H -- ")).stdout == sh(command).stdout
    assert escalation.as_root("true", sudo=True, password=True).startswith(
        "sudo -S -k -p '' -H -- sh -c")
    assert escalation.sudo_prefix(password=True, user="svc tabpy") == \
        "sudo -S -k -p '' -H -u 'svc tabpy' --"
    assert escalation.sudo_prefix(password=False) == "sudo -n -H --"


@pytest.mark.parametrize(("output", "sudo", "given", "expected"), [
    (["root 0"], False, False, None),
    (["deploy 0 "], True, False, None),
    (["deploy 1 sudo: a password is required"], True, True, escalation.PASSWORD),
    (["deploy 1 sudo-rs: interactive authentication is required"], True, True,
     escalation.PASSWORD),
    (["deploy 1 sudo: a password is required"], True, False,
     "h: sudo_password: sudo asks deploy for a password and none is given"),
    (["deploy 0 "], False, False, "h: _sudo: signs in as deploy, not root, and _sudo is not set"),
    (["deploy 1 deploy is not in the sudoers file."], True, False,
     "h: _sudo: sudo does not let deploy act as root: deploy is not in the sudoers file."),
    (["deploy 127 sh: 1: sudo: not found"], True, False,
     "h: _sudo: sudo does not let deploy act as root: sh: 1: sudo: not found"),
    ([], True, False, "h: ssh_user: could not tell who the deploy signs in as"),
])
def test_what_the_probe_says(output, sudo, given, expected):
    problem = escalation.probe_problem("h", sudo, output, password_given=given)
    if expected is None or expected == escalation.PASSWORD:
        assert problem == expected
    else:
        assert problem.startswith(expected)


def test_the_probe_runs_as_is_in_sh_and_never_shows_sudos_own_prompt_line():
    lines = sh(escalation.PROBE).stdout.decode().splitlines()
    assert len(lines) == 1 and lines[0].split()[0] == subprocess.run(
        ["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    assert "sudo: a password is required" not in [line.strip() for line in lines]


def test_a_kept_sudo_password_goes_on_stdin_and_never_into_the_command():
    seen = {}

    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        seen.update(arguments, command=command)
        return True, None

    patched = connection._sudo_reading_password(run_shell_command)
    host = SimpleNamespace(connector_data={SUDO_PASSWORD_KEY: "s3cret pass"})
    connector = SimpleNamespace(host=host)
    patched(connector, StringCommand("cat > /etc/x"), _sudo=True, _stdin=["line one"],
            _env={"A": "b"})
    assert seen["_sudo"] is False and seen["_stdin"] == ["s3cret pass", "line one"]
    raw = make_unix_command(seen["command"], **{k: v for k, v in seen.items()
                                                 if k in ("_sudo", "_env",
                                                          "_shell_executable")}).get_raw_value()
    assert raw == "sudo -S -k -p '' -H -- sh -c 'export A=b && cat > /etc/x'"
    assert "s3cret" not in raw


def test_without_a_kept_password_commands_pass_unchanged():
    seen = {}

    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        seen.update(arguments)
        return True, None

    patched = connection._sudo_reading_password(run_shell_command)
    patched(SimpleNamespace(host=SimpleNamespace(connector_data={})), StringCommand("id"),
            _sudo=True)
    assert seen == {"_sudo": True}

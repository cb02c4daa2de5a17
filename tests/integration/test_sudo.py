"""The whole lab site deployed as fleets that forbid root over SSH do it: every host refuses
root's SSH login (`python -m lab root-login off`) and inventory/lab_sudo.py signs in as
`deploy`, who escalates with sudo. Meanwhile a watcher on every host (tests/secret_watcher.py,
inotify over every writable place) records each file another user could read that held a
secret's bytes; it must record none, and it does record pyinfra's own sudo upload of one (the
control). Figures are printed as FIGURE lines (`pytest -s`)."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from lab import hosts as lab_hosts
from lab import machine, paths, sudo
from tabpy_provision.backup import archive as backup_archive
from tabpy_provision.server.plan import project_path
from tests.integration.conftest import PYINFRA, ROOT, ProcessSampler, lab, pyinfra
from tests.load import Load

pytestmark = pytest.mark.lab

SUDO_INVENTORY = "inventory/lab_sudo.py"
ALL = [h.fqdn for h in lab_hosts.LAB_HOSTS if h.name != "tabpydr"]
CLIENT = "client1.lab.test"
PASSWORD_ENV = "TABPY_LAB_SUDO_PASSWORD"
WATCHER = Path(__file__).resolve().parents[1] / "secret_watcher.py"


def as_deploy(fqdn: str, command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), "-l", sudo.DEPLOY_USER,
                           fqdn, command], capture_output=True, text=True, timeout=120,
                          check=False, **kwargs)


def generated_passwords() -> list[str]:
    return [path.read_text().strip() for path in (ROOT / "secrets/lab").rglob("*")
            if path.is_file() and path.stat().st_size < 200]


class SecretWatch:
    """tests/secret_watcher.py on each host, as root through the deploy user's sudo, from
    `with` to its end; `reports`: host -> the watcher's JSON report."""

    def __init__(self, hosts: list[str], needles: list[str], sudo_password: str | None = None):
        self.hosts, self.needles = hosts, [n for n in needles if len(n) >= 8]
        self.sudo_password = sudo_password
        self.reports: dict[str, dict] = {}

    def __enter__(self) -> SecretWatch:
        sudo_command = "sudo -S -p ''" if self.sudo_password else "sudo -n"
        command = f"{sudo_command} python3 -c {shlex.quote(WATCHER.read_text())}"
        self.processes = {fqdn: subprocess.Popen(
            ["ssh", "-F", str(paths.ssh_config_path()), "-l", sudo.DEPLOY_USER, fqdn, command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for fqdn in self.hosts}
        for process in self.processes.values():
            if self.sudo_password:
                process.stdin.write(f"{self.sudo_password}\n")
            process.stdin.write("".join(f"{n.encode().hex()}\n" for n in self.needles) + "GO\n")
            process.stdin.flush()
        for fqdn, process in self.processes.items():
            assert process.stdout.readline().strip() == "READY", (fqdn, process.stderr.read())
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)  # the last events of the run reach the watcher
        for fqdn, process in self.processes.items():
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, (fqdn, err[-2000:])
            self.reports[fqdn] = json.loads(out.strip().splitlines()[-1])

    def hits(self) -> dict[str, list]:
        return {fqdn: report["hits"] for fqdn, report in self.reports.items() if report["hits"]}

    def figures(self) -> str:
        total = {key: sum(r[key] for r in self.reports.values())
                 for key in ("watched_folders", "events", "files_seen", "readable_files_seen",
                             "overflows")}
        return (f"{len(self.reports)} hosts, {total['watched_folders']} folders watched, "
                f"{total['events']} events, {total['files_seen']} files inspected, "
                f"{total['readable_files_seen']} readable by other users, "
                f"{sum(len(h) for h in self.hits().values())} held a secret, "
                f"{total['overflows']} queue overflows")


def sudo_run(*args: str, entry: str = "deploy/site.py", env: dict | None = None):
    return pyinfra("--json", *args, inventory=SUDO_INVENTORY, entry=entry, env=env)


@pytest.fixture(scope="module")
def sudo_mode(converged):
    lab("root-login", "off")
    try:
        yield
    finally:
        lab("root-login", "on")


def test_root_is_refused_and_the_deploy_user_has_sudo(sudo_mode):
    for fqdn in ALL:
        root = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), "-o", "BatchMode=yes",
                               "-o", "ControlPath=none", fqdn, "true"],
                              capture_output=True, text=True, timeout=30, check=False)
        assert root.returncode == 255 and "Permission denied" in root.stderr, (fqdn, root)
        assert as_deploy(fqdn, "sudo -n id -u").stdout.strip() == "0", fqdn


def test_the_watcher_sees_a_secret_in_pyinfras_own_sudo_upload(sudo_mode, tmp_path):
    """The control: pyinfra's files.put with _sudo goes through /tmp/pyinfra-<sha1> with the
    umask's mode; a watcher that did not see it would prove nothing."""
    secret = f"control-{secrets.token_hex(12)}"
    source = tmp_path / "secret"
    source.write_text(secret)
    with SecretWatch([CLIENT], [secret]) as watch:
        done = subprocess.run(
            [PYINFRA, "-y", "--limit", CLIENT, SUDO_INVENTORY, "files.put", f"src={source}",
             "dest=/root/tabpy-provision-control", "mode=0600", "--sudo"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    as_deploy(CLIENT, "sudo -n rm -f /root/tabpy-provision-control")
    hits = watch.hits().get(CLIENT, [])
    print(f"\nFIGURE watcher control (pyinfra files.put --sudo): {watch.figures()}; "
          f"{[hit['path'] for hit in hits]}")
    assert any(hit["path"].startswith("/tmp/pyinfra-") and hit["found"] for hit in hits), \
        watch.reports


def test_the_whole_site_through_sudo_leaks_no_secret(sudo_mode):
    """Converge twice, rotate a user through the pool under load, back up and restore a host,
    the verification table, a --limit run: all through sudo, no secret in a readable file."""
    steps = []
    with SecretWatch(ALL, generated_passwords()) as watch:
        started = time.monotonic()
        first = sudo_run()
        assert first.returncode == 0, first.stderr[-3000:]
        second = sudo_run()
        assert second.returncode == 0, second.stderr[-3000:]
        assert second.changed() == {}, second.changed()
        steps.append(f"two runs {time.monotonic() - started:.1f} s")
        tableau = (ROOT / "secrets/lab/tabpy_users/tableau").read_text().strip()
        with Load(CLIENT, "tabpy.lab.test", "tableau", tableau, concurrency=4, seconds=300,
                  ssh_user=sudo.DEPLOY_USER) as load:
            started = time.monotonic()
            rotated = sudo_run("--data", "rotate_users=analyst", entry="deploy/rotate.py")
            assert rotated.returncode == 0, rotated.stderr[-3000:]
            steps.append(f"rotation {time.monotonic() - started:.1f} s")
        result = load.result
        assert result["failed"] == 0 and result["served"] > 20, result
        started = time.monotonic()
        backed_up = sudo_run("--limit", "tabpy1.lab.test", entry="deploy/backup.py")
        assert backed_up.returncode == 0 and "backed up to" in backed_up.output, \
            backed_up.output[-3000:]
        archive = backup_archive.archives(project_path("backups"), "lab", "tabpy1.lab.test")[-1]
        restored = sudo_run("--limit", "tabpy1.lab.test", "--data",
                            f"restore_archive={archive}", entry="deploy/restore.py")
        assert restored.returncode == 0 and "every model answering" in restored.output, \
            restored.output[-3000:]
        steps.append(f"backup and restore {time.monotonic() - started:.1f} s")
        table = subprocess.run([str(Path(PYINFRA).with_name("python")), "-m",
                                "tabpy_provision", "check", "-i", SUDO_INVENTORY], cwd=ROOT,
                               capture_output=True, text=True, timeout=300, check=False)
        assert table.returncode == 0, table.stdout + table.stderr
        limited = sudo_run("--limit", "tabpy2.lab.test")
        assert limited.returncode == 0 and limited.changed() == {}, limited.changed()
        # the rotated password is a secret too: in every readable file seen, it was looked for
        watch.needles.append((ROOT / "secrets/lab/tabpy_users/analyst").read_text().strip())
    print(f"\nFIGURE the site through sudo ({', '.join(steps)}; rotation under load: "
          f"{result['served']} served, {result['failed']} failed): watcher: {watch.figures()}")
    assert watch.hits() == {}, watch.hits()
    assert all(report["overflows"] == 0 for report in watch.reports.values()), watch.reports


def test_a_sudo_password_goes_to_sudo_on_stdin_only(sudo_mode):
    """A host whose sudo asks for a password: none given or a wrong one stops the run with one
    line (no prompt, no hang); the right one (a secret reference) deploys, and it is never on
    a command line or in a readable file."""
    root = machine.root_dir(lab_hosts.get_host(CLIENT))
    password = f"sudo-{secrets.token_hex(10)}"
    sudo.set_sudo_password(root, password)
    try:
        started = time.monotonic()
        missing = subprocess.run(
            [PYINFRA, "-y", SUDO_INVENTORY, "deploy/site.py"], cwd=ROOT, capture_output=True,
            text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV})
        assert missing.returncode == 1, missing.stdout[-2000:]
        assert f"tabpy-provision: {CLIENT}: sudo_password (env:{PASSWORD_ENV}): environment " \
            f"variable {PASSWORD_ENV} is not set" in missing.stderr, missing.stderr[-2000:]
        wrong = sudo_run(env={PASSWORD_ENV: "not-the-password"})
        assert wrong.returncode == 1
        assert f"tabpy-provision: {CLIENT}: sudo_password (env:{PASSWORD_ENV}): sudo refused " \
            "it" in wrong.stderr, wrong.stderr[-2000:]
        refused_in = time.monotonic() - started
        # a change on the host (its trust store) makes the run write through sudo
        as_deploy(CLIENT, f"echo {shlex.quote(password)} | sudo -S -p '' sh -c "
                  "'rm -f /usr/local/share/ca-certificates/tabpy-provision-*'")
        with SecretWatch([CLIENT], [password], sudo_password=password) as watch, \
                ProcessSampler([CLIENT], ssh_user=sudo.DEPLOY_USER) as sampler:
            started = time.monotonic()
            right = sudo_run(env={PASSWORD_ENV: password})
            took = time.monotonic() - started
        assert right.returncode == 0, right.stderr[-3000:]
        assert any(CLIENT in hosts for hosts in right.changed().values()), right.changed()
        # the reports read client1 through the same sudo: with the password, and without it
        # (one line in the report, no prompt)
        report = [str(Path(PYINFRA).with_name("python")), "-m", "tabpy_provision", "certs", "-i",
                  SUDO_INVENTORY]
        with_password = subprocess.run(report, cwd=ROOT, capture_output=True, text=True,
                                       timeout=300, check=False, stdin=subprocess.DEVNULL,
                                       env={**os.environ, PASSWORD_ENV: password})
        assert "sudo_password" not in with_password.stdout + with_password.stderr
        assert f"{CLIENT}" in with_password.stdout, with_password.stdout
        without = subprocess.run(report, cwd=ROOT, capture_output=True, text=True, timeout=300,
                                 check=False, stdin=subprocess.DEVNULL,
                                 env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV})
        assert without.returncode == 1
        assert f"sudo_password (env:{PASSWORD_ENV}): environment variable" in without.stdout, \
            without.stdout
    finally:
        sudo.set_sudo_password(root, None)
    print(f"\nFIGURE sudo with a password: missing and wrong refused in {refused_in:.1f} s; "
          f"deploy {took:.1f} s; {len(sampler.samples)} process samples on {CLIENT}, watcher: "
          f"{watch.figures()}")
    assert sampler.saw_canary()
    assert not [s for s in sampler.samples if password in s]
    assert watch.hits() == {}, watch.hits()

"""pyinfra side of the balancers (see pool/balancer.py): HAProxy's files and service, and draining a
TabPy process from every balancer in front of it while it restarts."""

from __future__ import annotations

import hashlib
import posixpath
import time
from collections.abc import Callable, Sequence

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import BalancerPlan, Membership
from tabpy_provision.run import remote
from tabpy_provision.run.facts import FirstLine, Sha256s
from tabpy_provision.run.operations import fail_command
from tabpy_provision.server import render

SERVICE = "haproxy.service"


def _current_cas() -> bytes | None:
    lines = host.get_fact(FileContents, path=balancer.BACKEND_CA)
    return None if lines is None else ("\n".join(lines) + "\n").encode()


@operation()
def backend_cas_widened(ca_pem: bytes | None):
    """Before a roll: the balancer also trusts the CAs its TabPy processes move to (keeping
    those they use now), so each restarted process passes its check (balancer.with_cas).
    Nothing when it trusts them already, uses the OS bundle, or is not configured yet."""
    current = _current_cas() if ca_pem is not None else None
    widened = None if current is None else balancer.with_cas(current, ca_pem)
    if widened in (None, current):
        return
    yield from _write([(balancer.BACKEND_CA, widened, "0644")])
    yield StringCommand("! systemctl is-active --quiet", SERVICE, "|| { haproxy -c -q -f",
                        balancer.CONFIG_PATH, "&&", balancer.reload_command(), "; }")


@operation()
def balancer_files(plan: BalancerPlan, keep_current_cas: Callable[[], bool] = lambda: False):
    """HAProxy's config and certificate files: only what differs is written (secrets from
    memory, never diffed); a new config replaces the old one only once `haproxy -c` accepts
    it, so a bad one never reaches a reload. When `keep_current_cas()` (a run where some
    host failed: TabPy processes may still serve the old CAs), the backend CA file keeps the
    CAs it has (balancer.with_cas) instead of being narrowed to the wanted ones."""
    current = _current_cas() if plan.backend_ca_pem is not None and host.state.is_executing \
        and keep_current_cas() else None
    files = plan.files(balancer.with_cas(current, plan.backend_ca_pem) if current else None)
    present = host.get_fact(Sha256s, paths=[path for path, *_ in files])
    changed = [(path, content, mode) for path, content, mode, _ in files
               if present.get(path) != hashlib.sha256(content).hexdigest()]
    if changed:
        yield from _write(changed)


@operation()
def keepalived_files(plan: BalancerPlan):
    """keepalived's config, replaced only once `keepalived --config-test` accepts the new one
    (keepalived runs as root: a bad config never reaches a reload)."""
    content = balancer.keepalived_config(plan).encode()
    path = balancer.KEEPALIVED_CONFIG
    if host.get_fact(Sha256s, paths=[path]).get(path) == hashlib.sha256(content).hexdigest():
        return
    yield remote.upload(content, f"{path}.new", mode="0644")
    yield StringCommand("keepalived --config-test -f", f"{path}.new", "&& mv -f",
                        f"{path}.new", path)


def _write(changed: list[tuple[str, bytes, str]]):
    """Stage each file beside its place, then move certificates in, then the config once
    `haproxy -c` accepts it."""
    yield StringCommand("install -d -m 0750 -o root -g haproxy", balancer.FILES_DIR)
    for path, content, mode in changed:
        yield remote.upload(content, f"{path}.new", mode=mode)
    config = balancer.CONFIG_PATH
    for path, _, _ in changed:  # certificates first: the new config is checked against them
        if path != config:
            yield StringCommand("mv -f", f"{path}.new", path)
    if any(path == config for path, _, _ in changed):
        yield StringCommand("haproxy -c -q -f", f"{config}.new", "&& mv -f", f"{config}.new",
                            config)


def sandbox_path(service: str) -> str:
    return f"/etc/systemd/system/{service}.d/tabpy-provision.conf"


@operation()
def service_sandboxed(service: str = SERVICE):
    """tabpy-provision's sandbox drop-in for the distribution's unit of `service`. A drop-in
    takes effect at the next start: a running service is restarted once, when it changes."""
    content = render.service_sandbox(service).encode()
    path = sandbox_path(service)
    if host.get_fact(Sha256s, paths=[path]).get(path) == hashlib.sha256(content).hexdigest():
        return
    yield StringCommand("install -d -m 0755", posixpath.dirname(path))
    yield remote.upload(content, path, mode="0644")
    yield StringCommand("systemctl daemon-reload")
    if host.get_fact(SystemdStatus, services=service).get(service):
        yield StringCommand("systemctl restart", service)


@operation()
def balancer_service(reload: Callable[[], bool], service: str = SERVICE):
    """HAProxy (or keepalived) enabled and running; reloaded (never restarted: connections
    stay) when `reload()` says its files changed."""
    running = host.get_fact(SystemdStatus, services=service).get(service)
    enabled = host.get_fact(SystemdEnabled, services=service).get(service)
    if not enabled:
        yield StringCommand("systemctl enable --quiet", service)
    if not running:
        yield StringCommand("systemctl restart", service)
    elif host.state.is_executing and reload():
        yield balancer.reload_command() if service == SERVICE else \
            StringCommand("systemctl reload", service)


@operation()
def host_balancer_stopped():
    """This host's own balancer stopped and disabled (its TabPy is one process again): only a
    balancer this project configured for the host (its config's first line says so)."""
    first = host.get_fact(FirstLine, path=balancer.CONFIG_PATH) or ""
    if first.startswith(balancer.HOST_MARKER):
        running = host.get_fact(SystemdStatus, services=SERVICE).get(SERVICE)
        enabled = host.get_fact(SystemdEnabled, services=SERVICE).get(SERVICE)
        if running or enabled:
            yield "systemctl disable --now --quiet haproxy.service"


# --- draining, used while TabPy restarts (runs inside the activation's function) -----------

def _runtime(target, *commands: str) -> tuple[bool, str]:
    ok, output = remote.run(target, balancer.runtime_command(*commands))
    return ok, "\n".join(output.stdout_lines)


def _stat(target, server: str):
    ok, text = _runtime(target, balancer.SHOW_STAT)
    return balancer.parse_stat(text).get(server) if ok else None


class Drain:
    """Take one TabPy process out of every balancer in front of it, and put it back.

    `out()`: no new request (drain), wait until its requests in flight finish (at most
    `timeout` s), then out of the pool (maint). `back()`: ready again, and wait until each
    balancer's own health check has it serving, so the next process is only drained once
    this one takes requests. A balancer outside the run (--limit) is connected to for this; one
    that does not know the process (not configured yet) or cannot be reached is skipped (its
    own health checks and retries then cover the restart)."""

    def __init__(self, host_, members: Sequence[Membership], timeout: float,
                 back_timeout: float, log: Callable[[str], None]):
        self.targets = []
        for member in members:
            target = host_ if member.balancer_host == host_.name else \
                host_.state.inventory.get_host(member.balancer_host)
            if not target.connected:
                target.connect(show_errors=False)
            if target.connected:
                self.targets.append((target, member))
            else:
                log(f"cannot reach the balancer {target.name}: not drained there")
        self.timeout, self.back_timeout, self.log = timeout, back_timeout, log
        self.drained: list = []

    def out(self) -> None:
        for target, member in self.targets:
            if _stat(target, member.server) is None:
                continue
            _runtime(target, balancer.set_state(member.server, "drain"))
            self.drained.append((target, member))
        deadline = time.monotonic() + self.timeout
        for target, member in self.drained:
            while True:
                stat = _stat(target, member.server)
                if stat is None or stat.sessions == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            _runtime(target, balancer.set_state(member.server, "maint"))
        if self.drained:
            self.log(f"drained from {', '.join(t.name for t, _ in self.drained)}")

    def back(self) -> bool:
        ok = True
        for target, member in self.drained:
            _runtime(target, balancer.set_state(member.server, "ready"))
        deadline = time.monotonic() + self.back_timeout
        for target, member in self.drained:
            while True:
                stat = _stat(target, member.server)
                if stat is not None and stat.serving:
                    break
                if time.monotonic() > deadline:
                    self.log(f"{target.name} does not see {member.server} serving "
                             f"({stat.status if stat else 'no answer'})")
                    ok = False
                    break
                time.sleep(0.2)
        self.drained = []
        return ok


@operation()
def pool_report(plan: BalancerPlan):
    """Wait (up to the time the health checks need) until HAProxy sees every TabPy process
    serving; name the ones that are not. Fails only when none serves."""
    if not host.state.is_executing:
        return
    deadline = time.monotonic() + (plan.check_rise + 2) * plan.check_interval_ms / 1000 + 10
    while True:
        _, text = _runtime(host, balancer.SHOW_STAT)
        stats = balancer.parse_stat(text)
        serving = [s.name for s in plan.servers if s.name in stats and stats[s.name].serving]
        if len(serving) == len(plan.servers) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = [f"{s.name} ({stats[s.name].status} {stats[s.name].check})" if s.name in stats
               else s.name for s in plan.servers if s.name not in serving]
    if not serving:
        yield fail_command(f"no TabPy process serves: {', '.join(missing)}")
    elif missing:
        host.log_styled(f"not serving: {', '.join(missing)}", fg="yellow")
        host.noop(f"{len(serving)} of {len(plan.servers)} TabPy processes serving")
    else:
        host.noop(f"{len(serving)} of {len(plan.servers)} TabPy processes serving")

"""The operation keeping a host's nftables table equal to its plan (rules.py)."""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.facts.systemd import SystemdEnabled

from tabpy_provision.firewall import rules
from tabpy_provision.firewall.facts import FenceLoaded
from tabpy_provision.firewall.rules import FirewallPlan
from tabpy_provision.run import remote
from tabpy_provision.run.current import run_of
from tabpy_provision.run.facts import Sha256s


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def facts_asked() -> list[tuple[type, dict]]:
    """The facts tabpy_fence asks for (read with a deploy's others: run/fact_batch.py)."""
    return [(Sha256s, {"paths": list(rules.FILES)}), (FenceLoaded, {}),
            (SystemdEnabled, {"services": rules.UNIT})]


@operation()
def tabpy_fence(plan: FirewallPlan | None):
    """The table loaded as planned and at every boot (None: removed with its unit and file).

    A new ruleset is checked by `nft -c` before it replaces the file, and loaded by a reload
    (`nft -f`: one transaction, the old table serves until the new one is in). A table lost to
    a `flush ruleset` or edited by hand is loaded again."""
    paths = list(rules.FILES)
    present = host.get_fact(Sha256s, paths=paths)
    loaded = host.get_fact(FenceLoaded)
    if plan is None:
        if present or loaded:
            yield StringCommand("systemctl disable --now --quiet", rules.UNIT, "2>/dev/null;",
                                "nft delete table inet", rules.TABLE, "2>/dev/null;",
                                "rm -f", *paths, "&& rmdir --ignore-fail-on-non-empty",
                                rules.NFTABLES_DROPIN_PATH.rsplit("/", 1)[0],
                                "2>/dev/null; systemctl daemon-reload")
        return
    unit, ruleset = rules.unit_file(), plan.ruleset()
    new_ruleset = present.get(rules.RULESET_PATH) != _sha(ruleset)
    if new_ruleset:
        old = host.get_fact(FileContents, path=rules.RULESET_PATH)
        if old and host.state.is_executing:  # the fence the running release goes with
            run_of(host.state).fences_before[host.name] = "\n".join(old) + "\n"
        yield StringCommand("install -d -m 0755 -o root -g root",
                            rules.RULESET_PATH.rsplit("/", 1)[0])
        yield remote.upload(ruleset.encode(), f"{rules.RULESET_PATH}.new", mode="0644")
        yield StringCommand("nft -c -f", f"{rules.RULESET_PATH}.new", "&& mv -f",
                            f"{rules.RULESET_PATH}.new", rules.RULESET_PATH)
    units = {rules.UNIT_PATH: unit, rules.NFTABLES_DROPIN_PATH: rules.nftables_dropin()}
    stale = [path for path, text in units.items() if present.get(path) != _sha(text)]
    for path in stale:
        yield StringCommand("install -d -m 0755 -o root -g root", path.rsplit("/", 1)[0])
        yield remote.upload(units[path].encode(), path, mode="0644")
    if stale:
        yield StringCommand("systemctl daemon-reload")
    if not host.get_fact(SystemdEnabled, services=rules.UNIT).get(rules.UNIT):
        yield StringCommand("systemctl enable --quiet", rules.UNIT)
    if new_ruleset or loaded != plan.digest:
        # nft itself when the unit runs (what its reload would run, without the control
        # process systemd sets up for a reload); a start otherwise
        yield StringCommand("if systemctl is-active --quiet", rules.UNIT, "; then nft -f",
                            rules.RULESET_PATH, "; else systemctl restart", rules.UNIT, "; fi")


def restore_fence(target) -> tuple[bool, str] | None:
    """The fence this run replaced on `target`, loaded again (checked by `nft -c` first) when
    its release is rolled back or not activated: (done, what to say), None when the fence did
    not change in this run."""
    before = run_of(target.state).fences_before.pop(target.name, None)
    if before is None:
        return None
    new = f"{rules.RULESET_PATH}.new"
    ok, _ = remote.run(target, f"cat > {new} && nft -c -f {new} && mv -f {new} "
                               f"{rules.RULESET_PATH} && nft -f {rules.RULESET_PATH}",
                       stdin=before)
    return ok, ("the fence it ran with is back" if ok else
                "its fence could NOT be put back: run tabpy-provision check and deploy again")

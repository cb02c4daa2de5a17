"""Tableau Server's pyinfra operations (the pure side is tableau/plan.py, tsm.py and rest.py):
read what tsm or the REST API holds, yield only what closes the gap, and Tableau's "Test
Connection" from the node."""

from __future__ import annotations

import grp
import os
import posixpath
import pwd
from collections.abc import Callable

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import FileContents

from tabpy_provision import tableau
from tabpy_provision.run import remote
from tabpy_provision.run.operations import fail_command
from tabpy_provision.server import verify
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.secret_refs import describe
from tabpy_provision.tableau import TableauPlan, TsmError, TsmState
from tabpy_provision.tableau import cloud as tableau_cloud
from tabpy_provision.tableau import rest as tableau_rest
from tabpy_provision.tableau.facts import TsmPrograms
from tabpy_provision.tableau.rest import RestError, RestState


def read_tsm_state(host, plan: TableauPlan) -> TsmState:
    """Pending changes and the current connection setting, read with tsm on the node (the
    tsm login password, if any, on stdin)."""
    ok, output = remote.run(host, tableau.read_command(plan),
                            stdin=plan.tsm.login_password if plan.tsm.login_user else None)
    if not ok:
        said = [line.strip() for line in (*output.stdout_lines, *output.stderr_lines)
                if line.strip() and not line.startswith("### ")]
        raise TsmError(f"tsm ({plan.tsm.path}) failed: {' / '.join(said[-3:]) or 'no output'}")
    return tableau.parse_read_output(output.stdout_lines)


def tableau_side_check(host, connection: tableau.Connection) -> verify.CheckResult:
    """Tableau's "Test Connection", from the node: its python3 and OS trust store, the
    configured name, port and credentials, /evaluate answering."""
    ok, output = remote.run(host, tableau.remote_check_command(),
                            stdin=tableau.remote_check_input(connection))
    return tableau.remote_check_result(host.name, ok, output.stdout_lines, output.stderr_lines)


def _private_file(path: str, content: bytes, *, controller: bool = False):
    """Commands writing `content` to a private file (0600, folder 0700), from memory: root's
    on a node, or (`controller`: a Tableau Cloud entry, @local) the controller user's."""
    yield StringCommand("install -d -m 0700", QuoteString(posixpath.dirname(path)))
    owner = pwd.getpwuid(os.getuid()) if controller else None
    yield remote.upload(content, path, **({"owner": owner.pw_name, "group": grp.getgrgid(
        owner.pw_gid).gr_name} if owner else {}))


def _servers_failed(plan: TableauPlan) -> str | None:
    """Why Tableau must keep its setting: a TabPy server behind it failed in this run (it may
    not serve what Tableau would be given, e.g. a rotated password)."""
    failed = sorted(set(plan.connection.servers) & {h.name for h in host.state.failed_hosts})
    if host.state.is_executing and failed:
        return (f"not changed: TabPy on {', '.join(failed)} failed in this run, Tableau keeps "
                "its current setting; rerun once TabPy is fixed")
    return None


def _tsm_login(plan: TableauPlan):
    if plan.tsm.login_user:
        yield StringCommand(tableau.login_command(plan.tsm), _stdin=plan.tsm.login_password)


@operation()
def tsm_connection(plan: TableauPlan, snapshot: TsmState):
    """Tableau Server 2018.2-2020.1: set the connection with tsm only where it differs, and
    `tsm pending-changes apply` only when tsm lists pending changes (an apply restarts
    Tableau Server). Pending changes of ours left by a failed run are discarded first; anyone
    else's stop the run. `snapshot`: what preflight read (used until the run executes)."""
    state = snapshot
    if host.state.is_executing:
        try:
            state = read_tsm_state(host, plan)
        except TsmError as error:
            yield fail_command(str(error))
            return
    foreign = tableau.foreign_pending(state.pending)
    if foreign:
        yield fail_command(f"tsm has pending changes this deploy did not make "
                           f"({', '.join(foreign)}): apply or discard them "
                           "(tsm pending-changes list), then rerun")
        return
    record = tableau.parse_record(host.get_fact(FileContents, path=tableau.RECORD))
    differences = tableau.tsm_differences(plan, state, record)
    if not differences and not state.pending:
        host.noop(f"{plan.summary}: Tableau connects to {plan.connection.url}")
        return
    stopped = _servers_failed(plan)
    if stopped:
        yield fail_command(stopped)
        return
    verb = "" if host.state.is_executing else "would be "  # said before the first command:
    if state.pending:  # a dry run stops there
        host.log_styled(f"tsm: pending changes of an earlier run {verb}discarded: "
                        f"{', '.join(sorted(state.pending))}")
    if differences:
        host.log_styled(f"{plan.summary}: {verb}changed: {'; '.join(differences)}")
    yield from _tsm_login(plan)
    if state.pending:
        yield StringCommand(tableau.tsm_command(plan.tsm, "pending-changes", "discard"))
    if not differences:
        return
    for command, secret in tableau.set_commands(plan, state, differences):
        yield StringCommand(command, **({"_stdin": secret} if secret else {}))
    yield StringCommand(tableau.apply_command(plan.tsm))
    c = plan.connection
    if c.user:
        yield from _private_file(tableau.RECORD, tableau.render_record(
            {**record, tableau.TSM_RECORD_KEY: tableau.verifier(c.user, c.password)}))


@operation()
def rest_connections(plan: TableauPlan, snapshot: RestState):
    """Tableau Server 2020.2+: analytics extensions enabled on the server and each declared
    site, the TABPY connection created or updated (PUT only when something differs),
    connections declared absent deleted - from the controller, over the REST API."""
    state = snapshot
    target, c = plan.rest, plan.connection
    if host.state.is_executing:
        try:
            state = tableau_rest.read_state(target, c.name)
        except RestError as error:
            yield fail_command(f"{target.url}: {error}")
            return
    record = tableau.parse_record(host.get_fact(FileContents, path=plan.record_path))
    planned = tableau_rest.changes(state, target, c, lambda site: tableau.verifier_matches(
        record.get(tableau.rest_record_key(site, c.name)), c.user or "", c.password))
    updated = tableau.rest_record(record, plan, tableau_rest.saved_sites(planned))
    if not planned and updated == record:
        host.noop(f"{plan.summary}: every site connects to {c.url}")
        return
    stopped = _servers_failed(plan)
    if stopped:
        yield fail_command(stopped)
        return
    verb = "" if host.state.is_executing else "would be "
    for change in planned:
        host.log_styled(f"{target.url}: {verb}{change.describe()}")

    def apply_changes(state, host) -> bool:  # a closure: a FunctionCommand's args show at -vv
        try:
            tableau_rest.apply(target, c, planned)
        except RestError as error:
            host.log_styled(f"{target.url}: {error}", fg="red")
            return False
        return True

    if planned:
        yield FunctionCommand(apply_changes, (), {})
    yield from _private_file(plan.record_path, tableau.render_record(updated),
                             controller=plan.rest.cloud)


@operation()
def tableau_trust_restart(plan: TableauPlan, trust_changed: Callable[[], bool]):
    """Tableau Server reads the OS trust store at start: after a change, `tsm restart` when
    tableau_restart_on_trust_change allows it, else say that it must restart."""
    if not trust_changed():
        return
    if not plan.settings.tableau.tableau_restart_on_trust_change:
        if host.state.is_executing:
            host.log_styled("trust store changed: Tableau Server must restart to pick it up "
                            "(tableau_restart_on_trust_change is false: run `tsm restart` in a "
                            "maintenance window)", fg="yellow")
        return
    yield from _tsm_login(plan)
    yield StringCommand(tableau.tsm_command(plan.tsm, "restart"))


def plan_tableau_nodes(inventory, plans: list, pools: dict) -> tuple[dict, dict, list[str]]:
    """Plan every Tableau Server node and Tableau Cloud site against the TabPy servers' plans,
    and read what it holds now (tsm on the node, or the REST API from here): (plans, states,
    problems). A refused token, an unknown site, a tsm login that fails or pending changes of
    someone else are problems: they stop the run before any change. `pools`: the preflight's
    tableau_pools."""
    problems: list[str] = []
    found_plans: dict[str, TableauPlan] = {}
    states: dict[str, TsmState | RestState] = {}
    cloud = inventory.get_group(tableau_cloud.GROUP, [])
    for node in (*inventory.get_group(tableau.GROUP, []), *cloud):
        data = node.data.dict()
        try:
            if node in cloud:
                plan = tableau_cloud.plan_tableau_cloud(node.name, data, plans, pools)
            else:
                wanted = data.get("tableau_tabpy_host") or \
                    data.get("tableau_restart_on_trust_change")
                programs = node.get_fact(TsmPrograms, glob=tableau.TSM_GLOB) if wanted else []
                plan = tableau.plan_tableau_server(node.name, data, plans, programs, pools=pools)
        except settings.SettingsError as error:
            problems += error.problems
            continue
        found_plans[node.name] = plan
        for line in plan.ignored:
            logger.warning(f"tabpy-provision: {node.name}: {line}: ignored here")
        if plan.connection is None:
            continue
        try:
            if plan.rest is not None:
                states[node.name] = tableau_rest.read_state(plan.rest, plan.connection.name)
                continue
            state = read_tsm_state(node, plan)
            foreign = tableau.foreign_pending(state.pending)
            if foreign:
                problems.append(f"{node.name}: tsm: pending changes this deploy did not make "
                                f"({', '.join(foreign)}): apply or discard them first")
            states[node.name] = state
        except TsmError as error:
            problems.append(f"{node.name}: tsm: {error}")
        except RestError as error:
            setting = error.setting if plan.rest is None or not plan.rest.cloud else \
                tableau_cloud.SETTING_FOR.get(error.setting, error.setting)
            reference = data.get(setting)
            shown = f" ({describe(reference)})" if setting.endswith("_secret") else ""
            problems.append(f"{node.name}: {setting}{shown}: {error}")
    return found_plans, states, problems

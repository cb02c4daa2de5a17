"""Check every host's inputs before the first change to any host.

Called at the top of each deploy entry point. The first call (for the first host pyinfra
prepares) plans ALL hosts of the inventory - TabPy servers, then the clients and Tableau nodes
that must trust their CAs, then the Tableau Server nodes' connection to TabPy (reading what
tsm or the REST API holds now); any problem prints one line per problem, naming host and field,
and stops the run (non-zero exit) before any operation executes anywhere.

Checking writes nothing: what the controller must hold (a CA, certificates, generated
passwords, wheelhouses, the Windows/macOS trust artifacts) is staged in the run's files and
listed as `[controller] would ...`. Every host's operations start with preparing the
controller: the first host that executes it applies the staging, so `--dry` (or a declined
confirmation) writes nothing, and a real run writes only once every check passed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyinfra import host as current_host
from pyinfra import logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import Arch, Kernel, LinuxDistribution
from pyinfra_cli.exceptions import CliError

from tabpy_provision import pki, platforms, tableau
from tabpy_provision.controller import artifacts, identity
from tabpy_provision.controller.files import Staged
from tabpy_provision.firewall import FirewallPlan
from tabpy_provision.firewall import site as fences
from tabpy_provision.pki import ca_names
from tabpy_provision.pki.acme_orders import order_acme_certificates
from tabpy_provision.platforms import Platform
from tabpy_provision.platforms.facts import Glibc, PythonTarget
from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import BalancerPlan, Membership
from tabpy_provision.pool.facts import InterfaceFor
from tabpy_provision.rserve import checks as rserve_checks
from tabpy_provision.rserve.plan import RservePlan
from tabpy_provision.run import fact_batch, host_checks, remote
from tabpy_provision.run import report as run_report
from tabpy_provision.run.current import run_of
from tabpy_provision.run.facts import CertificatesIn, HostMemory, PasswordFileUsers
from tabpy_provision.run.hosts import correct_pyinfra
from tabpy_provision.server import render
from tabpy_provision.server.certificate import ca_common_name
from tabpy_provision.server.plan import (
    TabpyServerPlan,
    plan_tabpy_server,
    project_path,
    users_secret_store,
)
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.errors import ProvisionError
from tabpy_provision.settings.groups import RSERVE_SERVERS, TABPY_SERVERS
from tabpy_provision.settings.secret_refs import SecretError
from tabpy_provision.settings.typed import for_role, host_settings
from tabpy_provision.settings.value_checks import TRUST_ROLES
from tabpy_provision.tableau import TableauPlan
from tabpy_provision.tableau import cloud as tableau_cloud
from tabpy_provision.tableau import rest as tableau_rest
from tabpy_provision.tableau.operations import plan_tableau_nodes
from tabpy_provision.trust import plan as trust
from tabpy_provision.trust.plan import ClientTrustPlan
from tabpy_provision.wheelhouse import build as wheelhouse
from tabpy_provision.wheelhouse import pinning
from tabpy_provision.wheelhouse.pinning import WheelhouseError

#: The first operation of every host's run: the controller holds what the run staged for it.
CONTROLLER_STEP = "Controller: CA, certificates, passwords, wheelhouses, trust artifacts"


class BadInput(ProvisionError, PyinfraError, CliError):
    """Problems of the inputs, found before any host was changed. pyinfra's command line lets
    a CliError through as it is (a deploy file's other errors it prints with the file and line
    of their source, which reads like a crash) and ends the run with exit code 1 after `show`:
    the problem lines and one closing line are the run's last output."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__(settings.refusal_lines(self.problems)[-1])

    def show(self, file=None) -> None:
        for line in settings.refusal_lines(self.problems):
            print(line, file=sys.stderr)


@dataclass
class Preflight:
    plans: dict[str, TabpyServerPlan] = field(default_factory=dict)
    #: The pool balancers (group tabpy_lb).
    balancers: dict[str, BalancerPlan] = field(default_factory=dict)
    wheelhouses: dict[str, wheelhouse.Wheelhouse] = field(default_factory=dict)
    #: The NLTK data each TabPy server gets with its virtualenv (None: none).
    nltk_data: dict[str, artifacts.NltkData | None] = field(default_factory=dict)
    trust: dict[str, ClientTrustPlan] = field(default_factory=dict)
    #: Each TabPy server's nftables fence (None: tabpy_firewall is off, remove it).
    fences: dict[str, FirewallPlan | None] = field(default_factory=dict)
    #: The distribution of each TabPy server and pool balancer.
    platforms: dict[str, Platform] = field(default_factory=dict)
    tableau: dict[str, TableauPlan] = field(default_factory=dict)
    #: What each Tableau node whose connection is managed holds now (tsm or REST API).
    tableau_state: dict[str, tableau.TsmState | tableau_rest.RestState] = field(
        default_factory=dict)
    #: The Rserve servers (group rserve_servers).
    rserve: dict[str, RservePlan] = field(default_factory=dict)

    def client_cas(self, plans: Iterable[TabpyServerPlan]) -> list[pki.CaCert]:
        """The CA certificates a client needs to reach these TabPy servers: theirs, and those
        of the pool balancers in front of them (whose certificate may come from another CA)."""
        plans = list(plans)
        hosts = {plan.host for plan in plans}
        pools = [pool for pool in self.balancers.values()
                 if hosts & {server.host for server in pool.servers}]
        return [ca for plan in (*plans, *pools) if plan.tls for ca in plan.tls.cas]

    def members(self, plan: TabpyServerPlan) -> list[Membership]:
        """The balancers in front of each TabPy process of a host."""
        return balancer.memberships(plan, list(self.balancers.values()))

    def promote_rotations(self, failed_hosts: set[str]) -> tuple[bool, str]:
        """Make rotated passwords current once every TabPy host serves them and every
        Tableau node connecting to them holds them."""
        rotating = {(plan.secret_store, key)
                    for plan in (*self.plans.values(), *self.rserve.values())
                    for key in plan.rotating}
        if not rotating:
            return True, "no generated password to rotate"
        failed = sorted((set(self.plans) | set(self.rserve) | set(self.tableau_state))
                        & failed_hosts)
        if failed:
            return False, (f"rotation incomplete on {', '.join(failed)}: the old passwords stay "
                           "current (a plain deploy puts them back); rerun tabpy-provision rotate")
        for store, key in rotating:
            store.promote(key)
        return True, f"rotated: {', '.join(sorted(key for _, key in rotating))}"


def preflight(state: State, *, rotation: bool = False,
              overrides: Mapping[str, Mapping] | None = None) -> Preflight:
    """The checked plans of this run (checked once, by the first host's load of a deploy
    file; the entry point that calls first decides `rotation`: deploy/rotate.py does, then
    includes the site deploy). The current host's operations start with preparing the
    controller."""
    run = run_of(state)
    with run.lock:
        if run.checked is None:
            try:
                run.checked = _check_all(state, rotation, overrides or {}, run.files)
            except BadInput as error:
                run.checked = error
    if isinstance(run.checked, BadInput):
        raise run.checked
    if current_host.name not in run.prepared_on:
        run.prepared_on.add(current_host.name)
        controller_prepared(name=CONTROLLER_STEP, files=run.files)
    return run.checked


@operation()
def controller_prepared(files: Staged):
    """The controller holds what this run staged for it; done once, by the first host that
    executes it (the others find nothing left). Never runs under --dry."""
    if files.changes():
        yield FunctionCommand(_apply_staged, (files,), {})


def _apply_staged(state, host, files: Staged) -> bool:
    with run_of(state).lock:
        for what in files.apply():
            host.log_styled(f"controller: {what}", fg="cyan")
    return True


def _rotation_request(data: dict) -> frozenset[str]:
    """`--data rotate_users=alice,bob` (empty or absent: every generated user)."""
    requested = data.get("rotate_users") or ()
    if isinstance(requested, str):
        requested = requested.split(",")
    return frozenset(user.strip().lower() for user in requested if user.strip())


def _declared_users(state: State, group: str, setting: str) -> frozenset[str]:
    """Every user name (lower-cased) a group's hosts declare in `setting`."""
    return frozenset(user.lower() for host in state.inventory.get_group(group, [])
                     if isinstance(users := host.data.dict().get(setting), Mapping)
                     for user in users if isinstance(user, str))


def rotation_for(data: dict, own: str, others: frozenset[str]) -> frozenset[str] | None:
    """What a host rotates of the run's request: every generated user when none is named;
    else the named ones less those only another service declares (`others`), so naming an
    Rserve user rotates nothing on TabPy hosts (None), and the reverse."""
    requested = _rotation_request(data)
    if not requested:
        return requested
    mine = {user.lower() for user in data.get(own) or {} if isinstance(user, str)}
    return (requested - (others - mine)) or None


def _check_all(state: State, rotation: bool, overrides: Mapping[str, Mapping],
               files: Staged) -> Preflight:
    result = Preflight()
    problems: list[str] = []
    for host in state.inventory:
        data = host.data.dict()
        problems += settings.unknown_keys(host.name, data)  # values: checked by the plans
        for line in settings.misplaced_keys(host.name, data, host.groups):
            logger.warning(f"tabpy-provision: {line}")
    problems += root_access_problems(state)
    if problems:
        refuse(problems)
    remote.on_every_host(state.inventory, _read_ahead)
    identity_before = _identity_before(state, files)
    targets = {}
    extras_locks: dict[Path, str | WheelhouseError] = {}
    glibc_checked: dict[tuple, str | None] = {}
    pool_monitors = frozenset(
        for_role("pool", settings.with_defaults(pool.data.dict())).lb_monitor_user
        for pool in state.inventory.get_group(balancer.GROUP, []))
    permitted = ca_names.permitted_sets(state.inventory)
    tabpy_users = _declared_users(state, TABPY_SERVERS, "tabpy_users")
    rserve_users = _declared_users(state, RSERVE_SERVERS, "rserve_users")
    for host in state.inventory.get_group(TABPY_SERVERS, []):
        data = {**host.data.dict(), **overrides.get(host.name, {})}
        given = host_settings(settings.with_defaults(data))
        cpus = host.get_fact(Cpus) if given.tabpy.tabpy_instances == "auto" else 1
        # a share of the host's memory (auto is one) needs its size
        memory = host.get_fact(HostMemory) \
            if given.network.tabpy_memory_max.endswith(("auto", "%")) else 0
        if memory is None:
            problems.append(f"{host.name}: tabpy_memory_max: the host's memory cannot be read "
                            "(/proc/meminfo): give a size like 2G")
            continue
        try:
            result.plans[host.name] = plan_tabpy_server(
                host.name, data, rotate=rotation_for(data, "tabpy_users", rserve_users)
                if rotation else None,
                cpus=cpus or 1, memory=memory or 4 << 30, pool_monitors=pool_monitors,
                files=files, permitted=permitted)
        except settings.SettingsError as error:
            problems += error.problems
            continue
        platform = _platform(host, result, problems)
        if platform is None:
            continue
        # The deploy installs the platform's Python when it is missing: its ABI is known.
        target = remote.read_once(host, PythonTarget, python=platform.python) or {
            "abi": platform.abi, "arch": host.get_fact(Arch)}
        version = result.plans[host.name].settings.tabpy.tabpy_version
        if not pinning.lock_file(version, target["abi"], target["arch"]).exists():
            problems.append(f"{host.name}: tabpy_version: no wheelhouse lock for TabPy {version} "
                            f"on {target['abi']} {target['arch']}")
            continue
        extras = artifacts.extras_lock(result.plans[host.name], target, extras_locks, files,
                                       log=_log)
        if isinstance(extras, WheelhouseError):
            problems.append(f"{host.name}: tabpy_requirements: {extras}")
            continue
        floor, refusal = artifacts.wheels_glibc(version, target["abi"], target["arch"], extras,
                                                remote.read_once(host, Glibc), glibc_checked)
        if refusal:
            problems.append(f"{host.name}: {refusal}")
            continue
        targets[host.name] = (version, target["abi"], target["arch"], extras, floor)
    result.rserve, found = rserve_checks.plan_rserve_servers(
        state, files, permitted, lambda host, lines: _platform(host, result, lines),
        lambda data: rotation_for(data, "rserve_users", tabpy_users) if rotation else None)
    problems += found
    if not problems:  # balancers and the Tableau side check against the TabPy servers' plans
        problems += _plan_balancers(state, result, files)
    if not problems:
        problems += host_checks.claim_problems(state, result.plans, result.balancers)
        problems += rserve_checks.claim_problems(state, result.rserve, result.plans)
    if not problems:
        problems += fences.plan_fences(state, result)
    if not problems:
        problems += _identity_problems(state, result, identity_before)
    problems += _plan_trust(state, result)
    if not problems:
        result.tableau, result.tableau_state, found = plan_tableau_nodes(
            state.inventory, list(result.plans.values()),
            tableau_pools(result.balancers.values()))
        problems += found
    if not problems:
        problems += _stage_trust_artifacts(result, files)
    if problems:
        refuse(problems)
    problems = order_acme_certificates(result.plans, result.balancers, files, state.inventory)
    problems = problems or tableau_cloud.chain_problems(
        result.tableau, result.plans.values(), result.balancers.values())
    if problems:
        refuse(problems)
    # One look (a sha256 of the archive) and at most one staged build per TabPy version and
    # target, however many hosts share it.
    found = {target: artifacts.wheelhouse_for(*target, files, log=_log)
             for target in set(targets.values())}
    result.wheelhouses = {name: found[target] for name, target in targets.items()}
    data = {name: (plan.nltk_resources, plan.nltk_folder) for name, plan in result.plans.items()}
    built = {wanted: artifacts.nltk_data_for(*wanted, files, log=_log)
             for wanted in set(data.values()) if any(wanted)}
    result.nltk_data = {name: built.get(wanted) for name, wanted in data.items()}
    say_plan(result, files)
    return result


def say_plan(result: Preflight, files: Staged) -> None:
    """What the hosts' plans noticed, and what the controller would do: said the same in a
    preview and before a real run, so no line claims a write (the run's first operation says
    what it did, in the past tense)."""
    for name, plan in result.plans.items():
        for note in (*plan.notes, *(plan.tls.notes if plan.tls else ())):
            logger.info(f"    [{name}] {note}")
    for name, pool in result.balancers.items():
        for note in pool.tls.notes if pool.tls else ():
            logger.info(f"    [{name}] {note}")
    for what in files.changes():
        logger.info(f"    [controller] would {what}")
    run_report.controller_writes(files.changes())


def _log(line: str) -> None:
    """What the controller's builds say, among pyinfra's own lines."""
    logger.info(f"--> {line.strip()}")


def root_access_problems(state: State) -> list[str]:
    """Why this run cannot act as root on each host of the inventory, checked before any fact
    (a fact run through a sudo that asks for a password would prompt); pyinfra is
    corrected first (run/hosts.py)."""
    correct_pyinfra()
    found = remote.on_every_host(state.inventory, remote.root_access_problem)
    return [line for line in found if line]


def _read_ahead(host: Host) -> None:
    """What planning will ask of a host first (its system, a TabPy server's Python), read
    for every host at once instead of one host after another, the system in one command."""
    fact_batch.read_together(host, [(Kernel, {}), (LinuxDistribution, {}),
                                    *([(Glibc, {})] if TABPY_SERVERS in host.groups else [])])
    platform = _detected_platform(host)
    if platform is not None and TABPY_SERVERS in host.groups:
        remote.read_once(host, PythonTarget, python=platform.python)


def _release(host: Host) -> tuple[str, dict]:
    """The host's kernel (`uname -s`) and, on Linux, its /etc/os-release fields."""
    kernel = remote.read_once(host, Kernel)
    release = remote.read_once(host, LinuxDistribution) if kernel == "Linux" else {}
    return kernel, release.get("release_meta", {})


def _detected_platform(host: Host) -> Platform | None:
    """The host's supported distribution, None when it is not one."""
    return platforms.detect(_release(host)[1])


def _platform(host: Host, result: Preflight, problems: list[str]) -> Platform | None:
    """The host's distribution (recorded in `result`), or None with a problem line."""
    platform = _detected_platform(host)
    if platform is None:
        problems.append(platforms.unsupported(host.name, _release(host)[1]))
    else:
        result.platforms[host.name] = platform
    return platform


def tabpy_python(host: Host) -> str:
    """The Python a TabPy virtualenv is made from on this host (its platform's)."""
    platform = _detected_platform(host)
    return platform.python if platform else "python3"


def refuse(problems: list[str]):
    """Stop the run (nothing was changed); pyinfra's command line prints the problems."""
    raise BadInput(*problems)


def _identity_before(state: State, files: Staged) -> dict[str, tuple[bool, frozenset[str]]]:
    """Per TabPy server and balancer, before planning stages anything: (whether its private
    CA is missing, its generated users without a password on this controller)."""
    found = {}
    for host in (*state.inventory.get_group(TABPY_SERVERS, []),
                 *state.inventory.get_group(balancer.GROUP, [])):
        given = host_settings(settings.with_defaults(host.data.dict()))  # checked: _check_all
        try:
            ca_root = project_path(given.certificates.pki_dir) / pki.CA_DIR / pki.ROOT_CERT
            store = users_secret_store(given.secrets, files)
            missing = frozenset(user.lower() for user, ref in given.tabpy.tabpy_users.items()
                                if ref == "generate" and not store.exists(user.lower()))
        except (TypeError, ValueError, AttributeError, SecretError):  # the plans name them
            continue
        found[host.name] = (not files.exists(ca_root), missing)
    return found


def _identity_problems(state: State, result: Preflight,
                       before: Mapping[str, tuple[bool, frozenset[str]]]) -> list[str]:
    """Hosts this controller did not build: they serve a certificate from a CA it does not
    hold, or have generated users it holds no password for (controller/identity.py)."""
    problems: list[str] = []
    for name, plan in (*result.plans.items(), *result.balancers.items()):
        host = state.inventory.get_host(name)
        ca_is_new, missing = before.get(name, (False, frozenset()))
        data = host.data.dict()
        certificates = for_role("certificates", settings.with_defaults(data))
        found: list[str] = []
        if plan.tls is not None and certificates.tabpy_certificate_file is None and \
                certificates.acme_directory_url is None:
            path = plan.certificate_path if name in result.plans else balancer.SERVICE_PEM
            served = host.get_fact(CertificatesIn, path=path)
            problem = identity.foreign_certificate(name, served, plan.tls.cas,
                                                   certificates.pki_dir, ca_is_new)
            found += [problem] if problem else []
        if name in result.plans and missing:
            users = host.get_fact(PasswordFileUsers, path=plan.password_path)
            found += identity.missing_passwords(name, missing, users,
                                                plan.secret_store.where)
        if found and identity.wants_new_identity(data):
            for line in found:
                logger.warning(f"tabpy-provision: new identity (new_identity=true): "
                               f"{line.rsplit(': ', 1)[0]}")
            continue
        problems += found
    return problems


def _plan_balancers(state: State, result: Preflight, files: Staged) -> list[str]:
    """The pool balancers' plans; the interface of a VRRP address read from the host."""
    pools, problems = plan_pools(state.inventory, result.plans, files)
    for name in pools:
        if name not in result.platforms:
            _platform(state.inventory.get_host(name), result, problems)
    for name, pool in pools.items():
        if pool.vrrp and pool.vrrp.interface is None:
            found = state.inventory.get_host(name).get_fact(InterfaceFor,
                                                            address=pool.vrrp.address)
            if found is None:
                problems.append(f"{name}: lb_vrrp_interface: no interface of the host is on "
                                f"the network of lb_virtual_address {pool.vrrp.address}: set it")
            pools[name] = replace(pool, vrrp=replace(pool.vrrp, interface=found))
    result.balancers = pools
    return problems


def tableau_pools(pools: Iterable[BalancerPlan]) -> dict[str, tuple[int, frozenset[str]]]:
    """What Tableau's planning needs of the pools: service name -> (port, TabPy hosts)."""
    return {pool.service_name: (pool.port, frozenset(server.host for server in pool.servers))
            for pool in pools}


def plan_pools(inventory: Inventory, plans: Mapping[str, TabpyServerPlan],
               files: Staged) -> tuple[dict[str, BalancerPlan], list[str]]:
    """Plan every pool balancer (group tabpy_lb) against the TabPy plans of its backends
    (a certificate to issue is staged in `files`)."""
    pools: dict[str, BalancerPlan] = {}
    problems: list[str] = []
    ranks: dict[str, int] = {}  # balancers seen per service name, in the group's order
    permitted = ca_names.permitted_sets(inventory)
    for host in inventory.get_group(balancer.GROUP, []):
        data = host.data.dict()
        service = str(for_role("pool", settings.with_defaults(data)).lb_service_name).lower()
        rank = ranks.get(service, 0)
        ranks[service] = rank + 1
        if host.name in plans and plans[host.name].local_balancer:
            problems.append(f"{host.name}: tabpy_instances: a {balancer.GROUP} host cannot also "
                            "run several TabPy processes (one HAProxy per host)")
            continue
        group = for_role("pool", settings.with_defaults(data)).lb_backend_group
        members = inventory.get_group(group, []) if isinstance(group, str) else []
        backends = [plans[m.name] for m in members if m.name in plans]
        if len(backends) < len(members):
            problems.append(f"{host.name}: lb_backend_group: only the TabPy servers of group "
                            f"{TABPY_SERVERS} can be balanced")
            continue
        addresses = {m.name: m.data.get("ssh_hostname") or m.name for m in members}
        try:
            pools[host.name] = balancer.plan_balancer(host.name, data, backends, addresses,
                                                      rank=rank, files=files,
                                                      permitted=permitted)
        except settings.SettingsError as error:
            problems += error.problems
    return pools, problems + balancer.shared_problems(list(pools.values()))


def _plan_trust(state: State, result: Preflight) -> list[str]:
    """Plan every client and Tableau node: which of the TabPy servers' (and their pool
    balancers') and Rserve servers' CA certificates its OS trust store gets (its OS read from
    facts unless trust_os_family says)."""
    problems: list[str] = []
    cas = [*result.client_cas(result.plans.values()),
           *(ca for plan in result.rserve.values() for ca in plan.tls.cas)]
    scope = trust.scope_of(plan.settings.backup.environment for plan in result.plans.values())
    for name, host in trust_hosts(state.inventory).items():
        if host in state.failed_hosts:  # unreachable: pyinfra reports it, the others go on
            continue
        data = host.data.dict()
        chosen = for_role("trust", settings.with_defaults(data)).trust_os_family
        detected, description = (None, "") if chosen else \
            detect_trust_os(host)
        try:
            result.trust[name] = trust.plan_client_trust(
                name, data, cas, scope=scope, detected_family=detected,
                os_description=description)
        except settings.SettingsError as error:
            problems += error.problems
    return problems


def trust_hosts(inventory: Inventory) -> dict[str, Host]:
    """The clients and Tableau nodes of an inventory, each once."""
    return {host.name: host for group in trust.TRUST_GROUPS
            for host in inventory.get_group(group, [])}


def detect_trust_os(host: Host) -> tuple[str | None, str]:
    """(trust store family or None, how to name the OS in a message), from the host's facts."""
    kernel, meta = _release(host)
    return trust.os_family(kernel, meta), f"{kernel} {meta.get('ID', '')}".strip()


def _stage_trust_artifacts(result: Preflight, files: Staged) -> list[str]:
    """Windows (.cer + PowerShell) and macOS (.mobileconfig) artifacts of the CAs behind the
    TabPy servers (and their pool balancers) and the Rserve servers, per trust_artifacts_dir;
    only what differs is staged. A CA whose subject cannot go into the script is a problem
    line."""
    problems = []
    by_folder: dict[Path, list[TabpyServerPlan | RservePlan]] = {}
    for plan in (*result.plans.values(), *result.rserve.values()):
        folder = project_path(plan.settings.certificates.trust_artifacts_dir)
        by_folder.setdefault(folder, []).append(plan)
    for folder, group in by_folder.items():
        cas = [*result.client_cas(p for p in group if isinstance(p, TabpyServerPlan)),
               *(ca for p in group if isinstance(p, RservePlan) for ca in p.tls.cas)]
        selected = trust.trust_set(cas, TRUST_ROLES)
        scope = trust.scope_of(plan.settings.backup.environment for plan in group)
        try:
            script = render.windows_trust_script(selected, scope)
        except ValueError as error:
            problems.append(f"{group[0].host}: trust_artifacts_dir: {error}")
            continue
        wanted = trust.artifact_files(selected, script,
                                      identifier=trust.profile_identifier(folder),
                                      organization=ca_common_name(group[0].settings))
        trust.stage_artifacts(folder, wanted, files)
    return problems

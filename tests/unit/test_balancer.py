"""Balancers and several TabPy processes per host: plans, rendered files, HAProxy's runtime API.

Pure: plans are built from inventory-like data (secrets from the environment, PKI and secret
store under tmp_path); nothing reaches a host or the network.
"""

import base64
import configparser
import csv
import io
import os
import shlex
from dataclasses import replace

import pytest
from cryptography import x509

from tabpy_provision import pki
from tabpy_provision.pool import balancer
from tabpy_provision.pool.balancer import (
    BalancerPlan,
    Membership,
    ServerStat,
    local_balancer,
    memberships,
    parse_stat,
    plan_balancer,
    render_config,
    runtime_command,
    set_state,
)
from tabpy_provision.server import render
from tabpy_provision.server.release import build_release
from tabpy_provision.settings.table import SettingsError
from tests.unit.planning import planned, planned_balancer

HOST1 = "tabpy1.example.com"
HOST2 = "tabpy2.example.com"
NAMES = pki.permitted_for([HOST1])
LB = "tabpylb1.example.com"
SERVICE = "tabpy.example.com"
MONITOR_PW = "monitor-password-1"
USERS = {"tableau": "env:TABPY_TEST_PW", "monitor": "env:TABPY_MONITOR_PW"}


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    monkeypatch.setenv("TABPY_MONITOR_PW", MONITOR_PW)
    monkeypatch.setenv("TABPY_OTHER_PW", "monitor-password-2")
    return {"tabpy_users": USERS, "pki_dir": str(tmp_path / "pki"),
            "secrets_dir": str(tmp_path / "secrets")}


@pytest.fixture
def tabpy(base):
    """A TabPy host's plan: `tabpy(host, cpus=, rotate=, pool_monitors=, **settings)`."""

    def make(host=HOST1, *, cpus=1, rotate=None, pool_monitors=frozenset(), **override):
        return planned(host, {**base, **override}, cpus=cpus, rotate=rotate,
                                 pool_monitors=pool_monitors)

    return make


@pytest.fixture
def lb_data(base):
    return {"pki_dir": base["pki_dir"], "secrets_dir": base["secrets_dir"],
            "lb_service_name": SERVICE, "lb_monitor_user": "monitor",
            "ssh_hostname": "192.0.2.10"}


def problems_of(call, *args, **kwargs):
    with pytest.raises(SettingsError) as error:
        call(*args, **kwargs)
    return error.value.problems


def lines(text):
    return [line.strip() for line in text.splitlines()]


# --- several TabPy processes per host (plan.py) ----------------------------------------------

def test_one_process_keeps_the_single_unit_and_paths(tabpy):
    plan = tabpy()
    assert plan.instance_count == 1
    assert not plan.local_balancer
    assert plan.unit_file == "tabpy.service"
    (only,) = plan.instances
    assert only.port == 9004
    assert only.unit == "tabpy.service"
    assert only.config_name == "tabpy.conf"
    assert only.state_path == "/var/lib/tabpy/state"
    assert only.query_object_path == "/var/lib/tabpy/query_objects"
    assert only.log_file == "/var/log/tabpy/tabpy.log"


def test_several_processes_get_own_ports_units_and_folders(tabpy):
    plan = tabpy(tabpy_instances=3, tabpy_instance_ports_start=9200, tabpy_service_name="tp")
    assert plan.local_balancer
    assert plan.unit_file == "tp@.service"
    assert [i.port for i in plan.instances] == [9200, 9201, 9202]
    assert [i.unit for i in plan.instances] == ["tp@9200.service", "tp@9201.service",
                                                "tp@9202.service"]
    assert [i.config_name for i in plan.instances] == ["instances/9200.conf",
                                                       "instances/9201.conf",
                                                       "instances/9202.conf"]
    second = plan.instances[1]
    assert second.state_path == "/var/lib/tabpy/state/9201"
    assert second.query_object_path == "/var/lib/tabpy/query_objects/9201"
    assert second.log_file == "/var/log/tabpy/tabpy-9201.log"


def test_auto_means_one_process_per_cpu(tabpy):
    plan = tabpy(tabpy_instances="auto", cpus=4)
    assert plan.instance_count == 4
    assert [i.port for i in plan.instances] == [9101, 9102, 9103, 9104]
    assert not tabpy(tabpy_instances="auto", cpus=1).local_balancer


def test_cpus_is_ignored_for_a_number(tabpy):
    assert tabpy(tabpy_instances=2, cpus=8).instance_count == 2


def test_arrow_cannot_be_balanced(tabpy):
    problems = problems_of(tabpy, tabpy_instances=2, tabpy_arrow_enable=True)
    assert problems == [f"{HOST1}: tabpy_arrow_enable: Arrow Flight cannot be balanced: use "
                        "tabpy_instances: 1"]
    assert tabpy(tabpy_arrow_enable=True).instance_count == 1  # one process: allowed


def test_process_ports_must_not_include_tabpy_port(tabpy):
    problems = problems_of(tabpy, tabpy_instances=3, tabpy_instance_ports_start=9100,
                           tabpy_port=9102)
    assert problems == [f"{HOST1}: tabpy_instance_ports_start: ports 9100-9102 of the 3 "
                        "processes include tabpy_port 9102 (the host's HAProxy listens there)"]
    # the port just after the range is fine
    assert tabpy(tabpy_instances=3, tabpy_instance_ports_start=9100,
                 tabpy_port=9103).instance_count == 3


def test_process_ports_must_stay_below_65536(tabpy):
    problems = problems_of(tabpy, tabpy_instances="auto", cpus=600,
                           tabpy_instance_ports_start=65000)
    assert problems == [f"{HOST1}: tabpy_instance_ports_start: 600 processes from 65000 go "
                        "past port 65535"]
    assert tabpy(tabpy_instances="auto", cpus=536,
                 tabpy_instance_ports_start=65000).instances[-1].port == 65535


@pytest.mark.parametrize("count", [0, 65, True, "two"])
def test_instance_count_is_checked(tabpy, count):
    problems = problems_of(tabpy, tabpy_instances=count)
    assert problems == [f"{HOST1}: tabpy_instances: must be an integer from 1 to 64 or auto, "
                        f"got {count!r}"]


# --- the monitor user is never rotated ---------------------------------------------------------

GENERATED = {"tableau": "env:TABPY_TEST_PW", "Mon": "generate", "Gen": "generate"}


def test_rotating_every_generated_user_leaves_the_monitor_out(tabpy):
    plan = tabpy(tabpy_users=GENERATED, rotate=frozenset(), pool_monitors=frozenset({"Mon"}))
    assert plan.rotating == frozenset({"gen"})
    assert any(note.startswith("tabpy_users.Gen: rotating") for note in plan.notes)
    assert not any(note.startswith("tabpy_users.Mon: rotating") for note in plan.notes)
    # without a monitor, both generated users rotate
    other = tabpy(tabpy_users=GENERATED, rotate=frozenset())
    assert other.rotating == frozenset({"gen", "mon"})


def test_the_health_user_is_the_monitor_of_a_default_pool_or_the_host_balancer(tabpy):
    users = {"Gen": "generate", "other": "generate"}  # Gen: the health user (first)
    alone = tabpy(tabpy_users=users, rotate=frozenset())
    assert alone.rotating == frozenset({"gen", "other"})
    default_pool = tabpy(tabpy_users=users, rotate=frozenset(), pool_monitors=frozenset({None}))
    assert default_pool.rotating == frozenset({"other"})
    several = tabpy(tabpy_users=users, rotate=frozenset(), tabpy_instances=2)
    assert several.rotating == frozenset({"other"})
    auto = tabpy(tabpy_users=users, rotate=frozenset(), tabpy_instances="auto", cpus=2)
    assert auto.rotating == frozenset({"other"})
    one_cpu = tabpy(tabpy_users=users, rotate=frozenset(), tabpy_instances="auto", cpus=1)
    assert one_cpu.rotating == frozenset({"gen", "other"})


def test_monitor_keeps_its_current_password_while_others_rotate(tabpy):
    current = tabpy(tabpy_users=GENERATED)
    rotated = tabpy(tabpy_users=GENERATED, rotate=frozenset(), pool_monitors=frozenset({"Mon"}))
    assert rotated.passwords["mon"] == current.passwords["mon"]
    assert rotated.passwords["gen"] != current.passwords["gen"]


def test_naming_the_monitor_in_rotate_users_is_refused(tabpy):
    problems = problems_of(tabpy, tabpy_users=GENERATED, rotate=frozenset({"mon", "gen"}),
                           pool_monitors=frozenset({"Mon"}))
    assert len(problems) == 1, problems
    (line,) = problems
    assert line.startswith(f"{HOST1}: rotate_users: 'mon' is a balancer's lb_monitor_user")
    assert "rotate_users" in line and "lb_monitor_user" in line


# --- rendered TabPy files -------------------------------------------------------------------

def tabpy_section(text):
    parser = configparser.ConfigParser(os.environ)  # how TabPy reads it (strict)
    parser.read_string(text)
    return parser["TabPy"]


def log_file_of(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser["handler_file"]["args"]


def test_each_process_config_has_its_port_state_and_log(tabpy):
    plan = tabpy(tabpy_instances=2)
    first, second = plan.instances
    section = tabpy_section(render.tabpy_config(plan, second))
    assert section["TABPY_PORT"] == "9102"
    assert section["TABPY_STATE_PATH"] == "/var/lib/tabpy/state/9102"
    assert section["TABPY_QUERY_OBJECT_PATH"] == "/var/lib/tabpy/query_objects/9102"
    assert log_file_of(render.tabpy_config(plan, second)).startswith(
        "('/var/log/tabpy/tabpy-9102.log', ")
    # shared: the release's password file and certificate
    assert section["TABPY_PWD_FILE"] == "/etc/tabpy/current/passwords"
    assert section["TABPY_CERTIFICATE_FILE"] == "/etc/tabpy/current/tls/tabpy.crt"
    # default: the first process
    assert tabpy_section(render.tabpy_config(plan))["TABPY_PORT"] == "9101"
    assert render.tabpy_config(plan) == render.tabpy_config(plan, first)


def test_one_process_config_is_what_it_was(tabpy):
    """The template before several processes read these values from the settings directly."""
    plan = tabpy(tabpy_port=9443, tabpy_state_path="/srv/state", tabpy_log_dir="/srv/log")
    text = render.tabpy_config(plan)
    section = tabpy_section(text)
    assert section["TABPY_PORT"] == "9443"
    assert section["TABPY_STATE_PATH"] == "/srv/state"
    assert section["TABPY_QUERY_OBJECT_PATH"] == "/var/lib/tabpy/query_objects"
    assert log_file_of(text).startswith("('/srv/log/tabpy.log', ")
    source = (render.TEMPLATES / "etc/tabpy/tabpy.conf.j2").read_text()
    for now, before in (("instance.port", "v.tabpy_port"),
                        ("instance.state_path", "v.tabpy_state_path"),
                        ("instance.query_object_path", "v.tabpy_query_object_path"),
                        ("instance.log_file", '(v.tabpy_log_dir ~ "/tabpy.log")')):
        assert now in source
        source = source.replace(now, before)
    old = render._environment().from_string(source).render(plan=plan, v=plan.values)
    assert text == old


def test_unit_of_several_processes_is_a_template_on_the_port(tabpy):
    unit = lines(render.systemd_unit(tabpy(tabpy_instances=2)))
    assert "ExecStart=/etc/tabpy/current/venv/bin/tabpy " \
           "--config=/etc/tabpy/current/instances/%i.conf" in unit
    assert "Description=TabPy analytics extension server for Tableau (port %i)" in unit
    # the parent folders of every process's own folders are writable
    assert "ReadWritePaths=/var/lib/tabpy/state /var/lib/tabpy/query_objects " \
           "/var/log/tabpy" in unit


def test_unit_of_one_process_is_unchanged(tabpy):
    text = render.systemd_unit(tabpy())
    assert "ExecStart=/etc/tabpy/current/venv/bin/tabpy " \
           "--config=/etc/tabpy/current/tabpy.conf" in lines(text)
    assert "Description=TabPy analytics extension server for Tableau" in lines(text)
    assert "%i" not in text


def test_release_has_one_config_per_process(tabpy):
    plan = tabpy(tabpy_instances=3)
    release = build_release(plan, "/opt/tabpy/venvs/v1")
    paths = [f.path for f in release.files]
    assert paths == ["instances/9101.conf", "instances/9102.conf", "instances/9103.conf",
                     "passwords", "tls/tabpy.crt", "tls/tabpy.key", "tls/sitecustomize.py"]
    configs = {f.path: f for f in release.files if f.path.startswith("instances/")}
    for port in (9101, 9102, 9103):
        config = configs[f"instances/{port}.conf"]
        assert tabpy_section(config.content.decode())["TABPY_PORT"] == str(port)
        assert (config.owner, config.group, config.mode, config.secret) == \
            ("root", "tabpy", "0640", False)


def test_release_of_one_process_has_tabpy_conf(tabpy):
    plan = tabpy()
    release = build_release(plan, "/opt/tabpy/venvs/v1")
    assert [f.path for f in release.files] == ["tabpy.conf", "passwords", "tls/tabpy.crt",
                                               "tls/tabpy.key", "tls/sitecustomize.py"]
    assert release.files[0].content == render.tabpy_config(plan).encode()
    assert release.name != build_release(tabpy(tabpy_instances=2), "/opt/tabpy/venvs/v1").name


# --- the pool's balancer (plan_balancer) --------------------------------------------------

@pytest.fixture
def pool(tabpy, lb_data):
    backends = [tabpy(HOST1), tabpy(HOST2, tabpy_instances=2)]
    plan = planned_balancer(LB, {**lb_data, "lb_port": 9443, "lb_check_interval_ms": 750,
                              "lb_check_fall": 3, "lb_check_rise": 4},
                         backends, {HOST1: "192.0.2.1"})
    return plan, backends


def test_pool_has_every_process_of_every_backend(pool):
    plan, _ = pool
    assert [(s.host, s.fqdn, s.address, s.port, s.name) for s in plan.servers] == [
        (HOST1, HOST1, "192.0.2.1", 9004, f"{HOST1}-9004"),
        (HOST2, HOST2, HOST2, 9101, f"{HOST2}-9101"),  # no address given: its name
        (HOST2, HOST2, HOST2, 9102, f"{HOST2}-9102"),
    ]
    assert plan.service_name == SERVICE
    assert plan.port == 9443
    assert plan.connect_address == "192.0.2.10"
    assert plan.https
    assert not plan.local
    assert plan.monitor_user == "monitor"
    assert plan.monitor_password == MONITOR_PW
    assert plan.check_credentials == ("monitor", MONITOR_PW)
    assert plan.server_timeout_s == 60  # tabpy_evaluate_timeout 30 + 30
    assert plan.endpoint_args == {"fqdn": SERVICE, "address": "192.0.2.10", "port": 9443,
                                  "https": True, "ca_pem": plan.tls.ca_pem}
    assert MONITOR_PW not in repr(plan)


def test_pool_certificate_is_issued_for_the_service_name(pool):
    plan, backends = pool
    leaf = x509.load_pem_x509_certificate(plan.tls.chain_pem)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVICE in sans.get_values_for_type(x509.DNSName)
    assert HOST1 not in sans.get_values_for_type(x509.DNSName)
    # same private CA as the backends: HAProxy verifies them with it
    assert plan.tls.ca_pem == backends[0].tls.ca_pem
    assert plan.backend_ca_pem == backends[0].tls.ca_pem


def test_service_name_is_lower_cased(tabpy, lb_data):
    plan = planned_balancer(LB, {**lb_data, "lb_service_name": "TabPy.Example.COM"}, [tabpy()], {})
    assert plan.service_name == SERVICE


def test_check_authorization_is_basic_monitor_password(pool):
    plan, _ = pool
    expected = base64.b64encode(f"monitor:{MONITOR_PW}".encode()).decode()
    assert plan.check_authorization == f"Basic {expected}"
    assert base64.b64decode(plan.check_authorization.split()[1]) == b"monitor:monitor-password-1"


def test_pool_config_terminates_tls_and_verifies_every_process(pool):
    plan, _ = pool
    text = render_config(plan)
    assert text.splitlines()[0].startswith(balancer.POOL_MARKER)
    config = lines(text)
    assert "bind :9443 ssl crt /etc/haproxy/tabpy/service.pem alpn http/1.1" in config
    assert "default_backend tabpy" in config
    assert "backend tabpy" in config
    assert "http-check expect status 200" in config
    assert "timeout server 60s" in config
    assert "stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners" \
        in config
    default_server = [line for line in config if line.startswith("default-server ")]
    assert default_server == ["default-server check inter 750 fall 3 rise 4 ssl verify required "
                              "ca-file /etc/haproxy/tabpy/backend-ca.pem"]
    servers = [line for line in config if line.startswith("server ")]
    assert servers == [
        f"server {HOST1}-9004 192.0.2.1:9004 verifyhost {HOST1} sni str({HOST1})",
        f"server {HOST2}-9101 {HOST2}:9101 verifyhost {HOST2} sni str({HOST2})",
        f"server {HOST2}-9102 {HOST2}:9102 verifyhost {HOST2} sni str({HOST2})",
    ]
    (check,) = [line for line in config if line.startswith("http-check send ")]
    assert check == (f"http-check send meth GET uri /info ver HTTP/1.1 hdr Host {SERVICE} "
                     f'hdr Authorization "{plan.check_authorization}"')


def test_pool_files_are_private(pool):
    plan, _ = pool
    files = {path: (content, mode, secret) for path, content, mode, secret in plan.files()}
    assert list(files) == [balancer.CONFIG_PATH, balancer.SERVICE_PEM, balancer.BACKEND_CA]
    assert files["/etc/haproxy/haproxy.cfg"] == (render_config(plan).encode(), "0600", True)
    assert files["/etc/haproxy/tabpy/service.pem"] == (plan.tls.chain_pem + plan.tls.key_pem,
                                                       "0600", True)
    assert files["/etc/haproxy/tabpy/backend-ca.pem"] == (plan.backend_ca_pem, "0644", False)
    assert b"PRIVATE KEY" in files[balancer.SERVICE_PEM][0]


def test_publicly_trusted_backends_are_verified_with_the_os_bundle(pool):
    plan, _ = pool
    public = BalancerPlan(**{**plan.__dict__, "backend_ca_pem": None})
    text = render_config(public)
    assert "ca-file /etc/ssl/certs/ca-certificates.crt" in text
    assert "backend-ca.pem" not in text
    assert [path for path, *_ in public.files()] == [balancer.CONFIG_PATH, balancer.SERVICE_PEM]


def test_default_monitor_is_the_backends_health_user(tabpy, lb_data):
    data = {k: v for k, v in lb_data.items() if k != "lb_monitor_user"}
    plan = planned_balancer(LB, data, [tabpy(HOST1), tabpy(HOST2)], {})
    assert plan.monitor_user == "tableau"
    assert plan.monitor_password == "good-password"


def test_monitor_user_name_is_case_insensitive(tabpy, lb_data):
    plan = planned_balancer(LB, {**lb_data, "lb_monitor_user": "MONITOR"}, [tabpy()], {})
    assert plan.monitor_user == "monitor"
    assert plan.monitor_password == MONITOR_PW


def test_a_pool_asks_for_evaluate_only_when_every_backend_runs_it(tabpy, lb_data):
    both = [tabpy(HOST1), tabpy(HOST2)]
    assert planned_balancer(LB, lb_data, both, {}).evaluate
    one_off = [tabpy(HOST1), tabpy(HOST2, tabpy_evaluate_enable=False)]
    assert not planned_balancer(LB, lb_data, one_off, {}).evaluate
    assert not local_balancer(tabpy(tabpy_instances=2, tabpy_evaluate_enable=False)).evaluate


def test_a_pool_proves_the_functions_every_backend_declares_alike(tabpy, lb_data, tmp_path):
    """What the deploy calls through the pool: a function some backend lacks, or declares
    with other content, would answer differently from one request to the next."""
    for name, body in (("one", "1"), ("two", "2")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "add.py").write_text(f'def add(x):\n    """Adds.\n\n    >>> add(1)\n'
                                       f'    {1 + int(body)}\n    """\n    return x + {body}\n')
    backends = [tabpy(HOST1, tabpy_prebuilt_models=["anova", "ttest"],
                      tabpy_functions_dir=str(tmp_path / "one")),
                tabpy(HOST2, tabpy_prebuilt_models=["ttest", "PCA"],
                      tabpy_functions_dir=str(tmp_path / "two"))]
    plan = planned_balancer(LB, lb_data, backends, {})
    assert [function.name for function in plan.functions] == ["ttest"]
    alike = [tabpy(HOST1, tabpy_functions_dir=str(tmp_path / "one")),
             tabpy(HOST2, tabpy_functions_dir=str(tmp_path / "one"))]
    assert [f.name for f in planned_balancer(LB, lb_data, alike, {}).functions] == ["add"]


def test_the_pools_proof_fails_naming_the_function_that_answered_wrong(tabpy, lb_data,
                                                                      monkeypatch):
    from tabpy_provision.pool import deploy as pool_balancer
    from tabpy_provision.server import verify

    both = [tabpy(h, tabpy_prebuilt_models=["anova", "ttest"]) for h in (HOST1, HOST2)]
    plan = planned_balancer(LB, lb_data, both, {})
    monkeypatch.setattr(verify, "wait_for_tabpy", lambda *a, **k: verify.CheckResult(
        True, "TabPy answered"))
    wrong = {"ttest": "ttest(...) returned 1, expected 0.5"}
    monkeypatch.setattr(pool_balancer.functions_check, "example_problem",
                        lambda function, where, credentials: wrong.get(function.name))
    served = {"anova": {"version": 1}, "ttest": {"version": 1}}
    monkeypatch.setattr(pool_balancer.functions_check, "served", lambda process: served)
    assert pool_balancer._through_pool(plan) == (
        False, "/query/ttest through the pool: ttest(...) returned 1, expected 0.5")
    wrong.clear()
    assert pool_balancer._through_pool(plan) == (
        True, "TabPy answered; the examples of 2 functions answered; its 2 TabPy processes "
              "serve the same 2 endpoints")


def test_http_pool_without_authentication(tabpy, lb_data):
    backend = tabpy(tabpy_transfer_protocol="http", tabpy_auth_enabled=False,
                    tabpy_allow_no_auth=True, tabpy_evaluate_timeout=2.5)
    plan = planned_balancer(LB, lb_data, [backend], {})
    assert not plan.https
    assert plan.tls is None
    assert plan.backend_ca_pem is None
    assert plan.monitor_user is None
    assert plan.check_authorization is None
    assert plan.check_credentials is None
    assert plan.server_timeout_s == 32
    config = lines(render_config(plan))
    assert "bind :9004" in config
    assert "server tabpy1.example.com-9004 tabpy1.example.com:9004" in config
    assert "default-server check inter 1000 fall 2 rise 2" in config
    assert "http-check send meth GET uri /info ver HTTP/1.1 hdr Host tabpy.example.com" in config
    balancing = [line for line in config
                 if line.startswith(("bind ", "server ", "default-server "))]
    assert len(balancing) == 3
    assert not any("ssl" in line or "verify" in line for line in balancing)
    assert "Authorization" not in render_config(plan)
    assert [path for path, *_ in plan.files()] == [balancer.CONFIG_PATH]


# --- plan_balancer problems ---------------------------------------------------------------

def test_service_name_is_required(tabpy, lb_data):
    data = {k: v for k, v in lb_data.items() if k != "lb_service_name"}
    assert problems_of(plan_balancer, LB, data, [tabpy()], {}) == [
        f"{LB}: lb_service_name: required on a tabpy_lb host (the name Tableau uses for the "
        "pool)"]


def test_no_backends(lb_data):
    assert problems_of(plan_balancer, LB, {**lb_data, "lb_backend_group": "pool_a"}, [], {}) == [
        f"{LB}: lb_backend_group: group 'pool_a' has no TabPy server"]


def test_monitor_must_be_a_user_of_every_backend(tabpy, lb_data):
    backends = [tabpy(HOST1), tabpy(HOST2, tabpy_users={"tableau": "env:TABPY_TEST_PW"})]
    assert problems_of(plan_balancer, LB, lb_data, backends, {}) == [
        f"{LB}: lb_monitor_user: 'monitor' is not in tabpy_users of {HOST2}"]


def test_monitor_password_must_be_the_same_everywhere(tabpy, lb_data):
    backends = [tabpy(HOST1),
                tabpy(HOST2, tabpy_users={**USERS, "monitor": "env:TABPY_OTHER_PW"})]
    problems = problems_of(plan_balancer, LB, lb_data, backends, {})
    assert problems == [f"{LB}: lb_monitor_user: 'monitor' has different passwords on the TabPy "
                        "servers (HAProxy checks them all with one)"]
    assert not any("monitor-password" in p for p in problems)


def test_backends_must_not_mix_https_and_http(tabpy, lb_data):
    backends = [tabpy(HOST1), tabpy(HOST2, tabpy_transfer_protocol="http")]
    assert problems_of(plan_balancer, LB, lb_data, backends, {}) == [
        f"{LB}: lb_backend_group: its TabPy servers mix https and http"]


def test_backends_checking_with_different_users_need_a_monitor(tabpy, lb_data):
    data = {k: v for k, v in lb_data.items() if k != "lb_monitor_user"}
    backends = [tabpy(HOST1), tabpy(HOST2, tabpy_health_check_user="monitor")]
    assert problems_of(plan_balancer, LB, data, backends, {}) == [
        f"{LB}: lb_monitor_user: the TabPy servers check with different users (monitor, "
        "tableau): set it"]


def test_bad_balancer_settings_are_reported_per_field(tabpy, lb_data):
    problems = problems_of(plan_balancer, LB, {**lb_data, "lb_check_fall": 0, "lb_port": 70000},
                           [tabpy()], {})
    assert [p.split(":")[:2] for p in problems] == [[LB, " lb_port"], [LB, " lb_check_fall"]]


# --- a host's own balancer over its processes --------------------------------------------

def test_local_balancer_serves_the_host_name_on_tabpy_port(tabpy):
    plan = tabpy(tabpy_instances=2, tabpy_port=9443, tabpy_health_check_user="monitor",
                 ssh_hostname="192.0.2.1")
    local = local_balancer(plan)
    assert local.local
    assert (local.host, local.service_name, local.connect_address, local.port) == \
        (HOST1, HOST1, "192.0.2.1", 9443)
    assert [(s.name, s.address, s.port, s.fqdn) for s in local.servers] == [
        (f"{HOST1}-9101", "127.0.0.1", 9101, HOST1), (f"{HOST1}-9102", "127.0.0.1", 9102, HOST1)]
    assert local.tls == plan.tls
    assert local.backend_ca_pem == plan.tls.ca_pem
    assert (local.monitor_user, local.monitor_password) == ("monitor", MONITOR_PW)
    text = render_config(local)
    assert text.splitlines()[0].startswith(balancer.HOST_MARKER)
    config = lines(text)
    assert "bind :9443 ssl crt /etc/haproxy/tabpy/service.pem alpn http/1.1" in config
    assert f"server {HOST1}-9101 127.0.0.1:9101 verifyhost {HOST1} sni str({HOST1})" in config
    assert f"server {HOST1}-9102 127.0.0.1:9102 verifyhost {HOST1} sni str({HOST1})" in config
    auth = base64.b64encode(f"monitor:{MONITOR_PW}".encode()).decode()
    assert f'hdr Authorization "Basic {auth}"' in text


def test_memberships_list_every_balancer_in_front_of_each_process(pool, tabpy):
    plan, backends = pool
    single, several = backends
    assert memberships(single, [plan]) == [Membership(LB, f"{HOST1}-9004", 9004)]
    assert memberships(several, [plan]) == [
        Membership(HOST2, f"{HOST2}-9101", 9101), Membership(HOST2, f"{HOST2}-9102", 9102),
        Membership(LB, f"{HOST2}-9101", 9101), Membership(LB, f"{HOST2}-9102", 9102)]
    assert memberships(single, []) == []
    assert memberships(tabpy("tabpy3.example.com"), [plan]) == []


# --- HAProxy's runtime API -----------------------------------------------------------------

def test_runtime_command_pipes_every_command_to_the_admin_socket():
    command = runtime_command(set_state(f"{HOST1}-9101", "drain"), balancer.SHOW_STAT)
    assert command == (f"echo 'set server tabpy/{HOST1}-9101 state drain; show stat' | "
                       "socat -t 5 stdio UNIX-CONNECT:/run/haproxy/admin.sock")
    words = shlex.split(command)
    assert words[1] == f"set server tabpy/{HOST1}-9101 state drain; show stat"
    assert set_state("h-1", "maint") == "set server tabpy/h-1 state maint"
    assert set_state("h-1", "ready") == "set server tabpy/h-1 state ready"


STAT_HEADER = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
    "wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,"
    "lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"
    "hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,"
    "cli_abrt,srv_abrt"
)
STAT_COLUMNS = STAT_HEADER.split(",")


def stat_row(pxname, svname, kind, **values):
    """One `show stat` line (HAProxy ends each with a comma)."""
    row = {"pxname": pxname, "svname": svname, "type": kind, "pid": "1", "iid": "3",
           "qmax": "0", "smax": "4", "stot": "120", "bin": "52311", "bout": "88120", **values}
    return ",".join(row.get(column, "") for column in STAT_COLUMNS) + ","


SHOW_STAT_OUTPUT = "\n".join([
    f"# {STAT_HEADER},",
    stat_row("tabpy", "FRONTEND", "0", scur="7", slim="262120", status="OPEN"),
    stat_row("tabpy", f"{HOST1}-9004", "2", qcur="0", scur="3", status="UP", weight="1",
             act="1", bck="0", check_status="L7OK", check_code="200", check_duration="4"),
    stat_row("tabpy", f"{HOST2}-9101", "2", qcur="0", scur="1", status="DRAIN", weight="0",
             act="1", bck="0", check_status="* L7OK", check_code="200", check_duration="3"),
    stat_row("tabpy", f"{HOST2}-9102", "2", qcur="0", scur="0", status="MAINT", weight="0",
             act="1", bck="0"),
    stat_row("tabpy", "tabpy3.example.com-9004", "2", qcur="0", scur="0", status="DOWN 1/2",
             weight="1", act="1", bck="0", check_status="L7STS", check_code="401",
             check_duration="2"),
    stat_row("tabpy", "tabpy4.example.com-9004", "2", scur="", status="UP 1/2", weight="1",
             check_status="L4CON"),
    stat_row("tabpy", "tabpy5.example.com-9004", "2", scur="2", status="no check", weight="1"),
    stat_row("tabpy", "BACKEND", "1", scur="6", status="UP", weight="3", act="3", bck="0"),
    stat_row("other", "elsewhere-1", "2", scur="9", status="UP", check_status="L7OK"),
    stat_row("other", "BACKEND", "1", scur="9", status="UP"),
    "",
    "",
])


def test_sample_show_stat_is_well_formed():
    rows = list(csv.reader(io.StringIO(SHOW_STAT_OUTPUT)))
    assert {len(row) for row in rows if row} == {len(STAT_COLUMNS) + 1}
    assert rows[0][0] == "# pxname"


def test_parse_stat_reads_the_servers_of_the_tabpy_backend():
    stats = parse_stat(SHOW_STAT_OUTPUT)
    assert stats[f"{HOST1}-9004"] == ServerStat("UP", 3, "L7OK")
    assert stats[f"{HOST2}-9101"] == ServerStat("DRAIN", 1, "L7OK")  # "* ": check under way
    assert stats[f"{HOST2}-9102"] == ServerStat("MAINT", 0, "")
    assert stats["tabpy3.example.com-9004"] == ServerStat("DOWN 1/2", 0, "L7STS")
    assert stats["tabpy4.example.com-9004"] == ServerStat("UP 1/2", 0, "L4CON")
    assert stats["tabpy5.example.com-9004"] == ServerStat("no check", 2, "")
    assert "BACKEND" not in stats
    assert "elsewhere-1" not in stats


def test_parse_stat_returns_only_servers():
    """The frontend is named like the backend: its FRONTEND row is not a server."""
    assert set(parse_stat(SHOW_STAT_OUTPUT)) == {
        f"{HOST1}-9004", f"{HOST2}-9101", f"{HOST2}-9102", "tabpy3.example.com-9004",
        "tabpy4.example.com-9004", "tabpy5.example.com-9004"}


@pytest.mark.parametrize(("status", "serving"), [
    ("UP", True), ("UP 1/2", True), ("no check", True), ("DOWN", False), ("DOWN 1/2", False),
    ("DRAIN", False), ("MAINT", False), ("NOLB", False)])
def test_serving(status, serving):
    assert ServerStat(status, 0, "").serving is serving


def test_parse_stat_of_nothing():
    assert parse_stat("") == {}
    assert parse_stat(f"# {STAT_HEADER},\n\n") == {}


# --- the backend CA file while TabPy moves to new CAs ---------------------------------------

def test_with_cas_keeps_what_the_balancer_trusts_and_adds_what_it_lacks(tmp_path):
    old = pki.ensure_ca(tmp_path / "old", permitted=NAMES, common_name="Old").trusted_roots_pem
    new = pki.ensure_ca(tmp_path / "new", permitted=NAMES, common_name="New").trusted_roots_pem

    def names(pem):
        return [pki.subject_cn(cert) for cert in x509.load_pem_x509_certificates(pem)]

    assert balancer.with_cas(old, old) == old  # nothing lacking: the same bytes, no rewrite
    both = balancer.with_cas(old, new)
    assert both.startswith(old)
    assert names(both) == [*names(old), *names(new)]
    assert balancer.with_cas(both, new) == both
    assert balancer.with_cas(b"", new) == new


# --- keepalived: the service address on one balancer -----------------------------------------

def test_vrrp_priority_follows_the_group_order_and_the_config_tracks_haproxy(tabpy, lb_data):
    backends = [tabpy(HOST1)]
    vrrp = {**lb_data, "lb_virtual_address": "192.0.2.50", "lb_vrrp_router_id": 7}
    first = planned_balancer(LB, vrrp, backends, {})
    second = planned_balancer("tabpylb2.example.com", vrrp, backends, {}, rank=1)
    assert (first.vrrp.priority, second.vrrp.priority) == (150, 140)
    assert first.vrrp.interface is None  # read from the host by the preflight
    config = lines(balancer.keepalived_config(replace(second, vrrp=replace(
        second.vrrp, interface="eth0"))))
    for expected in ("interface eth0", "virtual_router_id 7", "priority 140", "192.0.2.50",
                     f'script "{balancer.HEALTH_SCRIPT}"', "haproxy_running", "state BACKUP"):
        assert expected in config, expected
    assert planned_balancer(LB, lb_data, backends, {}).vrrp is None


def test_balancers_of_one_service_must_agree(tabpy, lb_data):
    backends = [tabpy(HOST1)]
    one = planned_balancer(LB, {**lb_data, "lb_virtual_address": "192.0.2.50"}, backends, {})
    other = planned_balancer("tabpylb2.example.com", {**lb_data, "lb_port": 9005,
                                                   "lb_virtual_address": "192.0.2.51"},
                          backends, {}, rank=1)
    assert balancer.shared_problems([one, other]) == [
        "tabpylb2.example.com: lb_port: 9005, but tabpylb1.example.com serves "
        f"{SERVICE} with 9004",
        "tabpylb2.example.com: lb_virtual_address: '192.0.2.51', but tabpylb1.example.com "
        f"serves {SERVICE} with '192.0.2.50'"]
    assert balancer.shared_problems([one, replace(other, port=9004, vrrp=one.vrrp)]) == []


@pytest.mark.parametrize(("data", "expected"), [
    ({"lb_virtual_address": "not-an-ip"}, "lb_virtual_address: 'not-an-ip' is not an IP address"),
    ({"lb_vrrp_router_id": 0}, "lb_vrrp_router_id: must be an integer from 1 to 255, got 0"),
])
def test_vrrp_settings_are_checked(tabpy, lb_data, data, expected):
    assert problems_of(plan_balancer, LB, {**lb_data, **data}, [tabpy(HOST1)], {}) == [
        f"{LB}: {expected}"]

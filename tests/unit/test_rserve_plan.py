"""An Rserve server's plan (rserve/plan.py): good inputs make a release Rserve can run; each bad
input is one line naming host and field, before any host is touched; a rotation run rotates
only generated users; the fence's request split between TabPy's and Rserve's users."""

import pytest

from tabpy_provision.controller.files import Staged
from tabpy_provision.rserve import release, render
from tabpy_provision.rserve.plan import beside_tabpy_problems, plan_rserve
from tabpy_provision.run.preflight import rotation_for
from tabpy_provision.settings.table import SettingsError

HOST = "rserve1.example.com"


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("RSERVE_TEST_PW", "good-password")
    return {"rserve_users": {"tableau": "env:RSERVE_TEST_PW", "analyst": "generate"},
            "pki_dir": str(tmp_path / "pki"), "secrets_dir": str(tmp_path / "secrets")}


def problems_of(data):
    with pytest.raises(SettingsError) as error:
        plan_rserve(HOST, data, files=Staged())
    return error.value.problems


def test_good_inputs_make_a_release_with_the_leaf_alone_and_its_chain(base):
    plan = plan_rserve(HOST, base, files=Staged())
    assert (plan.fqdn, plan.port, plan.unit) == (HOST, 6311, "rserve.service")
    assert plan.check_user == "analyst" and plan.rotating == frozenset()
    files = {item.path: item for item in release.build_release(plan).files}
    assert set(files) == {"Rserv.conf", "auth.R", "users", "tls/rserve.crt", "tls/chain.crt",
                          "tls/rserve.key"}
    assert all((item.owner, item.group, item.mode) == ("root", "rserve", "0640")
               for item in files.values())
    assert files["users"].secret and files["tls/rserve.key"].secret
    assert files["tls/rserve.crt"].content.count(b"BEGIN CERTIFICATE") == 1
    assert files["tls/chain.crt"].content.count(b"BEGIN CERTIFICATE") == 1
    config = files["Rserv.conf"].content.decode()
    assert "tls.ca /etc/rserve/current/tls/chain.crt" in config
    assert "qap.tls.port 6311" in config and "pwdfile /dev/null" in config
    assert b"good-password" not in files["users"].content
    unit = render.render_unit(release.params(plan, plan.current_dir), plan.config_dir)
    assert "readlink -f /etc/rserve/current" in unit


@pytest.mark.parametrize(("override", "expected"), [
    ({"rserve_workdir": "/var/lib"}, "rserve1.example.com: rserve_workdir: /var/lib is a "
                                     "system folder: give Rserve a folder of its own"),
    ({"rserve_config_dir": "/srv/r", "rserve_workdir": "/srv/r/work"},
     "rserve1.example.com: rserve_workdir: /srv/r/work overlaps rserve_config_dir /srv/r (R "
     "sessions would write where its keys and users live)"),
    ({"rserve_service_name": "haproxy"}, "rserve1.example.com: rserve_service_name: haproxy is "
                                         "a unit this tool installs for itself"),
    ({"rserve_users": {}}, "rserve1.example.com: rserve_users: Rserve takes logins only: "
                           "declare at least one user"),
    ({"rserve_check_user": "nobody"}, "rserve1.example.com: rserve_check_user: 'nobody' is not "
                                      "in rserve_users"),
    ({"acme_directory_url": "https://acme.example.com/directory"},
     "rserve1.example.com: acme_directory_url: Rserve's certificate comes from the private CA "
     "or supplied files (ACME is not supported for Rserve yet)"),
    ({"rserve_users": {"@ctl": "generate"}}, "rserve1.example.com: rserve_users: "),
    ({"rserve_port": 0}, "rserve1.example.com: rserve_port: "),
    ({"rserve_allowed_sources": ["@nowhere", 5]}, "rserve1.example.com: rserve_allowed_sources: "),
])
def test_bad_input_is_one_line_naming_host_and_field(base, override, expected):
    problems = problems_of({**base, **override})
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_rotation_rotates_generated_users_only(base):
    every = plan_rserve(HOST, base, files=Staged(), rotate=frozenset())
    assert every.rotating == {"analyst"}
    named = plan_rserve(HOST, base, files=Staged(), rotate=frozenset({"analyst"}))
    assert named.rotating == {"analyst"}
    assert problems_of_rotation(base, {"tableau"}) == [
        "rserve1.example.com: rotate_users: 'tableau' comes from env:RSERVE_TEST_PW: change it "
        "there and redeploy (only generated passwords rotate here)"]
    assert problems_of_rotation(base, {"nobody"}) == [
        "rserve1.example.com: rotate_users: 'nobody' is not in rserve_users"]


def problems_of_rotation(data, names):
    with pytest.raises(SettingsError) as error:
        plan_rserve(HOST, data, files=Staged(), rotate=frozenset(names))
    return error.value.problems


def test_naming_another_services_users_rotates_nothing_here():
    tabpy_host = {"tabpy_users": {"tableau": "generate"}}
    rserve_only = frozenset({"ranalyst"})
    assert rotation_for({**tabpy_host}, "tabpy_users", rserve_only) == frozenset()
    assert rotation_for({**tabpy_host, "rotate_users": "ranalyst"}, "tabpy_users",
                        rserve_only) is None
    assert rotation_for({**tabpy_host, "rotate_users": "ranalyst,tableau"}, "tabpy_users",
                        rserve_only) == {"tableau"}
    # a name no service declares stays: the host refuses it
    assert rotation_for({**tabpy_host, "rotate_users": "ghost"}, "tabpy_users",
                        rserve_only) == {"ghost"}


def test_the_windows_and_macos_artifacts_carry_rserves_ca_beside_tabpys(base, tmp_path,
                                                                        monkeypatch):
    """Rserve on a CA of its own: the trust artifacts of the folder it shares with TabPy hold
    both roots (clients and Tableau nodes that trust through them reach both)."""
    from tabpy_provision.run.preflight import Preflight, _stage_trust_artifacts
    from tests.unit.planning import planned

    monkeypatch.setenv("TABPY_TEST_PW", "good-password")
    artifacts = str(tmp_path / "artifacts")
    tabpy = planned("tabpy1.example.com", {
        "tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki-tabpy"),
        "pki_common_name": "TabPy side", "secrets_dir": base["secrets_dir"],
        "trust_artifacts_dir": artifacts})
    files = Staged()
    rserve = plan_rserve(HOST, {**base, "pki_common_name": "Rserve side",
                                "trust_artifacts_dir": artifacts}, files=files)
    files.apply()
    staged = Staged()
    assert _stage_trust_artifacts(Preflight(plans={tabpy.host: tabpy},
                                            rserve={HOST: rserve}), staged) == []
    staged.apply()
    script = (tmp_path / "artifacts" / "windows" / "Install-TabPyTrust.ps1").read_text()
    assert "TabPy side Root CA" in script and "Rserve side Root CA" in script


@pytest.mark.parametrize(("override", "expected"), [
    ({"rserve_port": 9004}, "rserve1.example.com: rserve_port: 9004 is this host's tabpy_port"),
    ({"rserve_system_user": "tabpy"}, "rserve1.example.com: rserve_system_user: tabpy is this "
                                      "host's tabpy_system_user: Rserve gets one of its own"),
    ({"rserve_service_name": "tabpy"}, "rserve1.example.com: rserve_service_name: tabpy is this "
                                       "host's tabpy_service_name: Rserve gets one of its own"),
    ({"rserve_workdir": "/var/lib/tabpy/state/r"}, "rserve1.example.com: rserve_workdir: "
                                                   "/var/lib/tabpy/state/r overlaps this host's "
                                                   "tabpy_state_path /var/lib/tabpy/state: give "
                                                   "Rserve a folder of its own"),
    ({"rserve_config_dir": "/etc/tabpy/rserve"}, "rserve1.example.com: rserve_config_dir: "
                                                 "/etc/tabpy/rserve overlaps this host's "
                                                 "tabpy_config_dir /etc/tabpy"),
])
def test_a_host_serving_both_gives_each_service_its_own_names(override, expected):
    """The same account, unit, port or folders for TabPy and Rserve would let one deploy undo
    the other's (the account's comment, the unit file) or one user write the other's files."""
    from tabpy_provision.settings.table import with_defaults
    values = with_defaults(override)
    problems = beside_tabpy_problems(HOST, values, values, {9004: "tabpy_port"})
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert beside_tabpy_problems(HOST, with_defaults({}), with_defaults({}),
                                 {9004: "tabpy_port"}) == []

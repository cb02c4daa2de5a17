"""What a value means on its host (run/host_claims.py): system folders and their ancestors, TabPy's
folders overlapping, accounts, units and ports the host already has, and the parsing of the
one command that reads them (facts.HostClaims; its output recorded on a lab host)."""

from __future__ import annotations

import posixpath

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.run import host_claims
from tabpy_provision.run.host_claims import Account, Folder, HostState, Listener, UnitFile
from tabpy_provision.settings import table as settings

EXAMPLES = hypothesis_settings(max_examples=1000, deadline=None, database=None)
VALUES = {**settings.defaults(), "tabpy_static_path": None}
HOST = "tabpy1.lab.test"


def problems_for(**values) -> list[str]:
    return host_claims.shape_problems(HOST, {**VALUES, **values})


def test_the_defaults_are_tabpys_own():
    assert problems_for() == []


def test_each_issue_example_is_refused_naming_host_and_field():
    assert problems_for(tabpy_log_dir="/var/log") == [
        f"{HOST}: tabpy_log_dir: /var/log is a system folder: give TabPy a folder of its own"]
    assert problems_for(tabpy_state_path="/etc")[0].startswith(f"{HOST}: tabpy_state_path: /etc ")
    assert problems_for(tabpy_config_dir="/usr")[0].startswith(f"{HOST}: tabpy_config_dir: /usr")
    assert any(line.startswith(f"{HOST}: tabpy_static_path: /etc/tabpy overlaps tabpy_config_dir")
               for line in problems_for(tabpy_static_path="/etc/tabpy"))


#: Path parts: a few real names and generated ones.
PARTS = st.one_of(st.sampled_from(["var", "log", "lib", "etc", "usr", "opt", "tabpy", "srv",
                                   "tmp", "run", "local", "share", "data"]),
                  st.from_regex(r"[a-z][a-z0-9._-]{0,8}", fullmatch=True))
PATHS = st.lists(PARTS, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
FOLDER_SETTINGS = [*host_claims.OWNED_FOLDERS, "tabpy_static_path"]


@EXAMPLES
@given(PATHS, st.sampled_from(FOLDER_SETTINGS))
def test_a_folder_that_is_or_holds_a_system_folder_or_sits_in_a_forbidden_tree_is_refused(
        path, name):
    """The class: every folder setting, every path that is a system folder, an ancestor of one
    or inside a volatile/shared/tool tree, is refused; every other one passes this check."""
    path = posixpath.normpath(path)
    system = path in host_claims.SYSTEM_FOLDERS or any(
        folder.startswith(path + "/") for folder in host_claims.SYSTEM_FOLDERS)
    forbidden = any(path == tree or path.startswith(tree + "/")
                    for tree in host_claims.FORBIDDEN_TREES)
    found = [line for line in problems_for(**{name: path})
             if line.startswith(f"{HOST}: {name}: {path} ")
             and ("system folder" in line or "not TabPy's to use" in line)]
    assert bool(found) == (system or forbidden), (path, found)


@EXAMPLES
@given(PATHS, st.sampled_from(["tabpy_state_path", "tabpy_query_object_path", "tabpy_log_dir"]),
       st.sampled_from(["tabpy_config_dir", "tabpy_install_dir"]))
def test_a_folder_tabpy_writes_never_overlaps_one_holding_its_config_keys_or_code(
        suffix, writable, rooted):
    for written, held in ((VALUES[rooted] + suffix, VALUES[rooted]),
                          (VALUES[rooted], VALUES[rooted] + suffix)):
        values = {**VALUES, writable: written, rooted: held}
        lines = host_claims.shape_problems(HOST, values)
        assert any(line.startswith(f"{HOST}: {writable}: ") and f"overlaps {rooted}" in line
                   for line in lines), lines


@EXAMPLES
@given(st.sampled_from(list(host_claims.OWNED_FOLDERS)), st.sampled_from(["", "/sub", "/a/b"]),
       st.booleans())
def test_the_static_folder_never_equals_contains_or_sits_in_one_of_tabpys(name, suffix, below):
    own = VALUES[name]
    static = own + suffix if below else own
    if not below and suffix:
        return
    lines = problems_for(tabpy_static_path=static)
    assert any(line.startswith(f"{HOST}: tabpy_static_path: ") and f"overlaps {name}" in line
               for line in lines), lines
    if suffix:  # a folder holding TabPy's is refused as well
        values = {**VALUES, name: own + suffix, "tabpy_static_path": own}
        assert any(f"overlaps {name}" in line for line in host_claims.shape_problems(HOST, values))


def test_a_static_folder_of_its_own_passes():
    assert problems_for(tabpy_static_path="/srv/tabpy-landing") == []


def test_the_service_name_of_a_unit_the_tool_installs_is_refused():
    assert problems_for(tabpy_service_name="haproxy") == [
        f"{HOST}: tabpy_service_name: haproxy is a unit this tool installs for itself"]


# --- against the host --------------------------------------------------------------------------

STATE = VALUES["tabpy_state_path"]
OURS = Account(998, 998, host_claims.ACCOUNT_COMMENT, STATE, "/usr/sbin/nologin")


def test_an_absent_account_is_created_and_ours_is_kept():
    assert host_claims.account_problems(HOST, "tabpy", STATE, HostState()) == []
    assert host_claims.account_problems(HOST, "tabpy", STATE, HostState(account=OURS)) == []
    legacy = Account(998, 998, "", STATE, "/usr/sbin/nologin")  # made before the comment
    assert host_claims.account_problems(HOST, "tabpy", STATE, HostState(account=legacy)) == []


@given(st.integers(0, 65000), st.sampled_from(["", "root", "Debian admin", "www-data"]),
       st.sampled_from(["/root", "/home/admin", "/var/www", "/nonexistent"]))
def test_any_other_existing_account_is_refused(uid, comment, home):
    account = Account(uid, uid, comment, home, "/bin/bash")
    lines = host_claims.account_problems(HOST, "admin", STATE, HostState(account=account))
    assert lines == [f"{HOST}: tabpy_system_user: admin is an existing account of this host "
                     f"(uid {uid}, home {home}) that tabpy-provision did not create: choose "
                     "another name"]


def test_root_is_never_ours_even_with_our_comment():
    root = Account(0, 0, host_claims.ACCOUNT_COMMENT, STATE, "/usr/sbin/nologin")
    assert host_claims.account_problems(HOST, "root", STATE, HostState(account=root))


def test_a_group_of_that_name_without_the_account_is_refused():
    lines = host_claims.account_problems(HOST, "adm", STATE, HostState(group=(4, ("syslog",))))
    assert lines and "adm is an existing group (gid 4)" in lines[0]


def folder_lines(path_setting: str, folder: Folder, *, ours: bool = True) -> list[str]:
    values = dict(VALUES)
    return host_claims.folder_problems(HOST, values, HostState(folders={
        values[path_setting]: folder}), ours)


def test_folders_absent_empty_or_tabpys_pass():
    assert folder_lines("tabpy_log_dir", Folder("dir", "root", "root")) == []
    assert folder_lines("tabpy_log_dir", Folder("dir", "root", "root",
                                                 frozenset({"lost+found"}))) == []
    assert folder_lines("tabpy_log_dir", Folder("dir", "tabpy", "tabpy",
                                                 frozenset({"tabpy.log"}))) == []
    assert folder_lines("tabpy_config_dir", Folder("dir", "root", "tabpy",
                                                    frozenset({"current", "releases"}))) == []
    assert folder_lines("tabpy_install_dir", Folder("dir", "root", "root",
                                                     frozenset({"venvs"}))) == []


def test_a_folder_holding_others_files_a_link_or_a_file_is_refused():
    apache = Folder("dir", "root", "adm", frozenset({"access.log", "error.log"}))
    assert folder_lines("tabpy_log_dir", apache) == [
        f"{HOST}: tabpy_log_dir: /var/log/tabpy already holds files that are not TabPy's "
        "(root:adm; access.log, error.log...): give TabPy a folder of its own (absent or empty)"]
    assert "symbolic link" in folder_lines("tabpy_state_path", Folder("link"))[0]
    assert "is a file" in folder_lines("tabpy_state_path", Folder("other"))[0]
    # owned by an account of the same name that is not ours: not TabPy's either
    assert folder_lines("tabpy_log_dir", Folder("dir", "tabpy", "tabpy", frozenset({"x"})),
                        ours=False)
    assert folder_lines("tabpy_install_dir", Folder("dir", "root", "root",
                                                     frozenset({"venvs", "bin"})))


def test_units_of_another_service_are_refused_ours_pass():
    ssh = HostState(units=(UnitFile("/usr/lib/systemd/system/ssh.service", "file", "[Unit]"),))
    assert host_claims.unit_problems(HOST, "ssh", ssh) == [
        f"{HOST}: tabpy_service_name: ssh is already a unit of this host "
        "(/usr/lib/systemd/system/ssh.service): choose another name"]
    ours = HostState(units=(UnitFile("/etc/systemd/system/tabpy.service", "file",
                                     f"{host_claims.MARKER}; edits are overwritten"),))
    assert host_claims.unit_problems(HOST, "tabpy", ours) == []
    alias = HostState(units=(UnitFile("/etc/systemd/system/sshd.service", "link", ""),))
    assert host_claims.unit_problems(HOST, "sshd", alias)
    hand_made = HostState(units=(UnitFile("/etc/systemd/system/tabpy.service", "file",
                                          "[Unit]"),))
    assert host_claims.unit_problems(HOST, "tabpy", hand_made)


def test_ports_free_or_held_by_our_units_pass_others_are_named():
    found = HostState(listeners=(Listener(22, "sshd", "ssh.service"),
                                 Listener(9004, "tabpy", "tabpy.service"),
                                 Listener(13622, "python3", None)))
    ours = host_claims.tabpy_units("tabpy", [9004])
    assert host_claims.port_problems(HOST, {9004: "tabpy_port"}, ours, found) == []
    assert host_claims.port_problems(HOST, {9005: "tabpy_port"}, ours, found) == []
    assert host_claims.port_problems(HOST, {22: "tabpy_port", 13622: "tabpy_arrowflight_port"},
                                     ours, found) == [
        f"{HOST}: tabpy_port: port 22 is in use on this host by sshd (ssh.service)",
        f"{HOST}: tabpy_arrowflight_port: port 13622 is in use on this host by python3 "
        "(no unit)"]


def test_a_foreign_haproxy_or_keepalived_config_that_serves_something_is_refused():
    found = HostState(configs={"/etc/haproxy/haproxy.cfg": ("global", True)})
    assert host_claims.config_problems(HOST, "lb_service_name", found)
    default = HostState(configs={"/etc/haproxy/haproxy.cfg": ("global", False)})
    assert host_claims.config_problems(HOST, "lb_service_name", default) == []
    ours = HostState(configs={"/etc/haproxy/haproxy.cfg": (f"{host_claims.MARKER} (x)", True)})
    assert host_claims.config_problems(HOST, "lb_service_name", ours) == []


#: facts.HostClaims on a lab host (Debian 13) for tabpy_log_dir /var/log and service ssh.
RECORDED = """\
passwd root:x:0:0:root:/root:/bin/bash
group root:x:0:
folder /var/log\tdir\troot\troot\tREADME/alternatives.log/apt/bootstrap.log/btmp/
folder /etc/tabpy-link\tlink\t\t\t
unit /usr/lib/systemd/system/ssh.service\tfile\t[Unit]
unit /usr/lib/systemd/system/ssh.service\tfile\t[Unit]
ss LISTEN 0      128    0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=33,fd=3))
ss LISTEN 0      128       [::]:22    [::]:* users:(("sshd",pid=33,fd=4))
ss LISTEN 0      4096      *:9004    *:* users:(("tabpy",pid=71,fd=7),("tabpy",pid=72,fd=7))
cgroup 33\t0::/system.slice/ssh.service
cgroup 71\t0::/system.slice/system-tabpy.slice/tabpy@9101.service
config /etc/haproxy/haproxy.cfg\tglobal\tno
"""


def test_the_facts_output_is_read_back():
    state = host_claims.parse(RECORDED.splitlines())
    assert state.account == Account(0, 0, "root", "/root", "/bin/bash")
    assert state.group == (0, ())
    assert state.folders["/var/log"] == Folder("dir", "root", "root", frozenset(
        {"README", "alternatives.log", "apt", "bootstrap.log", "btmp"}))
    assert state.folders["/etc/tabpy-link"].kind == "link"
    assert state.units == (UnitFile("/usr/lib/systemd/system/ssh.service", "file", "[Unit]"),) * 2
    assert state.listeners == (Listener(22, "sshd", "ssh.service"),
                               Listener(9004, "tabpy", "tabpy@9101.service"),
                               Listener(9004, "tabpy", None))
    assert state.configs == {"/etc/haproxy/haproxy.cfg": ("global", False)}

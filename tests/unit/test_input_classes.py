"""Generated inputs (Hypothesis): whatever a check accepts reaches its consumer as exactly what
was meant; whatever it refuses is one line. The consumers are the real readers: TabPy's
ConfigParser(os.environ) for tabpy.conf, Python's csv reader with TabPy's space delimiter for
the password file (TabPy 2.16 app/util.py), and the kernel's rules for interface names."""

from __future__ import annotations

import configparser
import csv
import dataclasses
import io
import os
import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.server import passwords, render
from tabpy_provision.settings import value_checks
from tests.unit.planning import planned

#: 6 properties x 2,000 generated inputs + 3,000 over every string setting = 15,000 per run.
EXAMPLES = hypothesis_settings(max_examples=2000, deadline=None, database=None)


@pytest.fixture(scope="module")
def oauth_plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oauth")
    os.environ.setdefault("TABPY_CLASSES_PW", "good-password")
    return planned("tabpy1.example.com", {
        "tabpy_users": {"tableau": "env:TABPY_CLASSES_PW"}, "pki_dir": str(folder / "pki"),
        "secrets_dir": str(folder / "s"), "tabpy_oauth_enabled": True,
        "tabpy_oauth_issuer": "https://idp.example.com", "tabpy_oauth_audience": "tabpy",
        "tabpy_oauth_jwks_uri": "https://idp.example.com/keys"})


def tabpy_reads(config: str) -> configparser.SectionProxy:
    """As TabPy reads its config: ConfigParser(os.environ) over the file opened as text
    (universal newlines: '\r' ends a line too)."""
    parser = configparser.ConfigParser(os.environ)
    parser.read_file(io.StringIO(config, newline=None))
    return parser["TabPy"]


@EXAMPLES
@given(st.text())
def test_accepted_text_is_read_back_by_tabpy_as_written(oauth_plan, value):
    """The class of tabpy_oauth_issuer holding '\\r': any accepted string, put in tabpy.conf,
    is read by TabPy's parser as that exact value and adds no key."""
    problem = value_checks.non_empty_text(value)
    if problem is not None:
        assert "\n" not in problem and "\r" not in problem
        return
    plan = dataclasses.replace(oauth_plan,
                               values={**oauth_plan.values, "tabpy_oauth_issuer": value})
    config = render.tabpy_config(plan)
    section = tabpy_reads(config)
    assert section["TABPY_OAUTH_ISSUER"] == value
    expected = tabpy_reads(render.tabpy_config(oauth_plan))
    assert set(section) == set(expected)


@pytest.mark.parametrize("char", ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85",
                                  "\u2028", "\u2029", "\x00", "\x1b"])
def test_every_line_break_and_control_character_is_refused(char):
    assert "control characters" in value_checks.text(f"https://idp{char}x")


@EXAMPLES
@given(st.text(min_size=1, max_size=70))
def test_accepted_user_names_are_read_back_by_tabpys_reader_and_stay_in_their_folder(user):
    """The class of a user name starting with '"': any accepted name is read by TabPy's
    space-delimited csv reader as exactly one row (name, hash), is not a comment, can sign in
    through basic auth, and is a plain file name."""
    if passwords.user_name_problem(user) is not None:
        return
    content = passwords.render_password_file({user: "pw-123456"}).decode()
    rows = [row for row in csv.reader(io.StringIO(content), delimiter=" ")
            if row and not row[0].startswith("#")]
    assert rows == [[user.lower(), passwords.tabpy_hash(user, "pw-123456")]]
    assert ":" not in user and "/" not in user and user not in (".", "..")


@EXAMPLES
@given(st.text(max_size=40))
def test_accepted_paths_are_normal_and_need_no_quoting(path):
    """The class of a tabpy_config_dir holding ';': an accepted path is absolute and normal,
    and every character is one no shell, unit file or config parser treats specially."""
    if value_checks.absolute_path(path) is not None:
        return
    parts = path.split("/")
    assert parts[0] == "" and all(part not in ("", ".", "..") for part in parts[1:])
    assert set(path) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "._@+-/")


@EXAMPLES
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text()))
def test_accepted_durations_are_finite_and_bounded(value):
    if value_checks.seconds_up_to(3600)(value) is None:
        assert 0 < value <= 3600


@EXAMPLES
@given(st.text(max_size=20))
def test_accepted_interface_names_are_names_the_kernel_takes(name):
    """lb_vrrp_interface goes into keepalived.conf (keepalived runs scripts as root)."""
    if value_checks.interface_name(name) is not None:
        return
    assert 1 <= len(name) <= 15 and name not in (".", "..")
    assert not any(c.isspace() or c in "/:{}\"'#!" for c in name)


@pytest.mark.parametrize("value", ["http://idp.example.com", "https://", "idp.example.com",
                                   "https://idp.example.com\r", "ftp://x"])
def test_what_tabpy_refuses_at_start_is_refused_before_any_host(value):
    assert value_checks.https_address(value) is not None
    assert value_checks.https_address("https://idp.example.com/realms/x") is None


@EXAMPLES
@given(st.text(max_size=30))
def test_any_text_stays_one_powershell_string(value):
    """The class of a pki_common_name holding U+2019: after escaping, no quote character of
    PowerShell's is left alone, so the literal cannot end early."""
    from tabpy_provision.server.render import _POWERSHELL_QUOTES, _powershell_literal

    try:
        escaped = _powershell_literal(value)
    except ValueError:
        return
    runs = re.findall(f"[{_POWERSHELL_QUOTES}]+", escaped)
    assert all(len(run) % 2 == 0 for run in runs)
    assert re.sub(f"([{_POWERSHELL_QUOTES}])\\1", r"\1", escaped) == value


def _string_settings():
    from tabpy_provision.settings.table import SETTINGS

    examples = {"tabpy_fqdn": "tabpy.example.com", "tableau_server_url": "https://t.example.com",
                "tabpy_oauth_issuer": "https://idp.example.com", "pki_common_name": "Corp"}
    for setting in SETTINGS:
        value = examples.get(setting.name, setting.default)
        if isinstance(value, str) and setting.check(value) is None:
            yield setting, value


@pytest.mark.parametrize(("setting", "good"), list(_string_settings()),
                         ids=lambda item: getattr(item, "name", None) or "")
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x85", "\u2028"])
def test_no_setting_takes_a_line_break_after_a_good_value(setting, good, char):
    """The class of `re.match(r"^...$")`, which lets a trailing newline through: for every
    setting whose default (or an example) is a good string, the same value with a line break
    or control character appended, or put in front, is refused."""
    assert setting.check(good + char) is not None, setting.name
    assert setting.check(char + good) is not None, setting.name


@hypothesis_settings(max_examples=3000, deadline=None, database=None)
@given(st.sampled_from([s for s, _ in _string_settings()]), st.text(max_size=40))
def test_no_setting_accepts_a_control_character(setting, value):
    if setting.check(value) is None:
        assert value_checks.control_character(value) is None, (setting.name, value)

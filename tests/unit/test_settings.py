import re
from pathlib import Path

from tabpy_provision.cli import settings as settings_reference
from tabpy_provision.server import render
from tabpy_provision.settings import table as settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_named_once_with_meaning():
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.meaning.strip() for s in settings.SETTINGS)


def test_defaults_pass_their_own_checks():
    assert settings.check_values("h", {}) == []


def test_every_tabpy_config_key_has_a_setting():
    template = (render.TEMPLATES / "etc/tabpy/tabpy.conf.j2").read_text()
    tabpy_keys = {"PORT", "TRANSFER_PROTOCOL", "MINIMUM_TLS_VERSION", "STATE_PATH",
                  "QUERY_OBJECT_PATH", "STATIC_PATH", "LOG_DETAILS", "MAX_REQUEST_SIZE_MB",
                  "EVALUATE_ENABLE", "EVALUATE_TIMEOUT", "GZIP_ENABLE", "ARROW_ENABLE",
                  "ARROWFLIGHT_PORT", "OAUTH_ENABLED", "OAUTH_ISSUER", "OAUTH_JWKS_URI",
                  "OAUTH_ALLOW_NONPUBLIC_JWKS", "OAUTH_AUDIENCE", "OAUTH_REQUIRED_SCOPES",
                  "OAUTH_ENFORCE_ENDPOINT_SCOPES", "OAUTH_QUERY_SCOPE", "OAUTH_EVALUATE_SCOPE",
                  "OAUTH_DEPLOY_SCOPE", "OAUTH_LOG_USER"}
    for key in tabpy_keys:
        assert f"tabpy_{key.lower()}" in settings.BY_NAME, key
    # Keys set from other settings: auth (password file) and TLS paths.
    for key in ("TABPY_PWD_FILE", "TABPY_CERTIFICATE_FILE", "TABPY_KEY_FILE"):
        assert key in template


def test_settings_reference_matches_settings():
    text = REFERENCE.read_text()
    match = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->",
                      text, re.S)
    assert match, f"{REFERENCE} lacks the settings-table markers"
    assert match.group(1).strip() == settings_reference.markdown_table().strip(), (
        f"{REFERENCE} is stale: regenerate with "
        "`tabpy-provision settings --write-docs docs/settings.md`")


def test_every_setting_has_a_role():
    assert {s.role for s in settings.SETTINGS} == set(settings.ROLE_BY_NAME)


def test_a_misspelled_setting_is_refused_with_the_closest_name():
    assert settings.unknown_keys("h1", ["tabpy_prot", "ssh_user", "_sudo", "tabpy_port",
                                        "rotate_users", "zzz"]) == [
        "h1: tabpy_prot: unknown setting (did you mean tabpy_port?)",
        "h1: zzz: unknown setting"]


def test_a_setting_outside_its_role_is_named():
    assert settings.misplaced_keys("c1", ["lb_port", "trust_os_family", "environment"],
                                   ["clients"]) == [
        "c1: lb_port: a pool setting, read only on hosts "
        "of tabpy_lb, tabpy_servers: ignored here"]


def test_checks_name_host_and_field():
    problems = settings.check_values("tabpy9.example", {
        "tabpy_port": 70000, "tabpy_transfer_protocol": "ftp", "tabpy_log_dir": "logs",
        "tabpy_auth_enabled": "yes", "tabpy_cert_ip_addresses": ["10.0.0.300"],
    })
    assert problems == [
        "tabpy9.example: tabpy_log_dir: must be an absolute path without a trailing slash, "
        "got 'logs'",
        "tabpy9.example: tabpy_port: must be an integer from 1 to 65535, got 70000",
        "tabpy9.example: tabpy_transfer_protocol: must be one of https, http, got 'ftp'",
        "tabpy9.example: tabpy_auth_enabled: must be true or false, got 'yes'",
        "tabpy9.example: tabpy_cert_ip_addresses: '10.0.0.300' is not an IP address",
    ]

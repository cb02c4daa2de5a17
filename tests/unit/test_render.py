"""The rendered config is read the way TabPy reads it; the unit carries the hardening."""

import configparser
import logging
import logging.config
import os

import pytest

from tabpy_provision.server import render
from tests.unit.planning import planned


@pytest.fixture
def plan_for(tmp_path, monkeypatch):
    monkeypatch.setenv("TABPY_TEST_PW", "good-password")

    def make(**override):
        data = {"tabpy_users": {"tableau": "env:TABPY_TEST_PW"}, "pki_dir": str(tmp_path / "pki"),
                "secrets_dir": str(tmp_path / "s"), **override}
        return planned("tabpy1.example.com", data)

    return make


def tabpy_section(text):
    # TabPy: ConfigParser(os.environ) then read; duplicate keys are an error (strict).
    parser = configparser.ConfigParser(os.environ)
    parser.read_string(text)
    return parser["TabPy"]


def test_defaults_render_https_auth_and_absolute_paths(plan_for):
    section = tabpy_section(render.tabpy_config(plan_for()))
    assert section["TABPY_PORT"] == "9004"
    assert section["TABPY_TRANSFER_PROTOCOL"] == "https"
    assert section["TABPY_CERTIFICATE_FILE"] == "/etc/tabpy/current/tls/tabpy.crt"
    assert section["TABPY_KEY_FILE"] == "/etc/tabpy/current/tls/tabpy.key"
    assert section["TABPY_MINIMUM_TLS_VERSION"] == "TLSv1_2"
    assert section["TABPY_PWD_FILE"] == "/etc/tabpy/current/passwords"
    assert section["TABPY_STATE_PATH"] == "/var/lib/tabpy/state"
    assert section["TABPY_QUERY_OBJECT_PATH"] == "/var/lib/tabpy/query_objects"
    assert section.getboolean("TABPY_EVALUATE_ENABLE") is True
    assert section.getfloat("TABPY_EVALUATE_TIMEOUT") == 30
    assert "TABPY_STATIC_PATH" not in section
    assert "TABPY_OAUTH_ISSUER" not in section


def test_every_setting_reaches_the_file(plan_for):
    # TLS settings: test_tls_profile_rules.py (TLS 1.3 only and Arrow Flight are refused together)
    section = tabpy_section(render.tabpy_config(plan_for(
        tabpy_port=9443, tabpy_log_details=True,
        tabpy_max_request_size_mb=7, tabpy_evaluate_enable=False, tabpy_evaluate_timeout=2.5,
        tabpy_gzip_enable=False, tabpy_arrow_enable=True, tabpy_arrowflight_port=13700,
        tabpy_static_path="/srv/static", tabpy_oauth_enabled=True,
        tabpy_oauth_issuer="https://idp.example/", tabpy_oauth_jwks_uri="https://idp/j%1",
        tabpy_oauth_audience="api://tabpy", tabpy_oauth_query_scope="tabpy/query")))
    assert section["TABPY_PORT"] == "9443"
    assert section.getboolean("TABPY_LOG_DETAILS") is True
    assert section["TABPY_MAX_REQUEST_SIZE_MB"] == "7"
    assert section.getboolean("TABPY_EVALUATE_ENABLE") is False
    assert section.getfloat("TABPY_EVALUATE_TIMEOUT") == 2.5
    assert section.getboolean("TABPY_GZIP_ENABLE") is False
    assert section.getboolean("TABPY_ARROW_ENABLE") is True
    assert section.getint("TABPY_ARROWFLIGHT_PORT") == 13700
    assert section["TABPY_STATIC_PATH"] == "/srv/static"
    assert section.getboolean("TABPY_OAUTH_ENABLED") is True
    assert section["TABPY_OAUTH_JWKS_URI"] == "https://idp/j%1"  # '%' escaped, read back
    assert section["TABPY_OAUTH_AUDIENCE"] == "api://tabpy"
    assert section["TABPY_OAUTH_QUERY_SCOPE"] == "tabpy/query"


def test_http_without_auth_has_no_tls_or_password_keys(plan_for):
    section = tabpy_section(render.tabpy_config(plan_for(
        tabpy_transfer_protocol="http", tabpy_auth_enabled=False, tabpy_allow_no_auth=True)))
    for key in ("TABPY_CERTIFICATE_FILE", "TABPY_KEY_FILE", "TABPY_PWD_FILE"):
        assert key not in section


def test_logging_sections_load_with_absolute_log_path(plan_for, tmp_path):
    # rendered for a folder of its own (never one under /tmp), read back with tmp_path there
    text = render.tabpy_config(plan_for(tabpy_log_dir="/srv/tabpy/logs",
                                        tabpy_log_level="WARNING"))
    text = text.replace("/srv/tabpy/logs", str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    config = tmp_path / "tabpy.conf"
    config.write_text(text)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.fileConfig(config, disable_existing_loggers=False)
        assert root.level == logging.WARNING
        files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
        assert [h.baseFilename for h in files] == [str(tmp_path / "logs" / "tabpy.log")]
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved


def test_rendering_is_stable(plan_for):
    assert render.tabpy_config(plan_for()) == render.tabpy_config(plan_for())


def test_unit_runs_hardened_as_tabpy_with_sigint(plan_for):
    unit = render.systemd_unit(plan_for())
    lines = set(unit.splitlines())
    for expected in ("User=tabpy", "Group=tabpy", "KillSignal=SIGINT", "Restart=on-failure",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "ProtectHome=yes", "CapabilityBoundingSet=",
                     "ExecStart=/etc/tabpy/current/venv/bin/tabpy "
                     "--config=/etc/tabpy/current/tabpy.conf",
                     "WorkingDirectory=/etc/tabpy/current",
                     "ReadWritePaths=/var/lib/tabpy/state /var/lib/tabpy/query_objects "
                     "/var/log/tabpy"):
        assert expected in lines, expected


def test_without_authentication_tabpy_is_told_not_to_ask(plan_for):
    """TabPy asks "proceed without authentication?" on stdin, which is /dev/null under
    systemd: without --disable-auth-warning it exits (EOFError) and restarts forever."""
    insecure = plan_for(tabpy_auth_enabled=False, tabpy_allow_no_auth=True)
    assert "ExecStart=/etc/tabpy/current/venv/bin/tabpy --config=/etc/tabpy/current/tabpy.conf "\
           "--disable-auth-warning" in render.systemd_unit(insecure).splitlines()


def test_privileged_port_gets_only_that_capability(plan_for):
    lines = set(render.systemd_unit(plan_for(tabpy_port=443)).splitlines())
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in lines
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in lines

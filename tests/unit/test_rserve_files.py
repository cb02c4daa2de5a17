"""Rserve's password file, its user names, and its rendered config and unit (pure)."""

from __future__ import annotations

import hashlib

import pytest

from tabpy_provision.rserve import files, render


def test_the_password_file_holds_sorted_sha1_lines():
    text = files.password_file({"zed": "b", "amy": "a"})
    assert text.splitlines() == [
        files.HEADER, f"amy ${hashlib.sha1(b'a').hexdigest()}",
        f"zed ${hashlib.sha1(b'b').hexdigest()}"]
    assert text.splitlines()[0].startswith("# Managed by tabpy-provision")


@pytest.mark.parametrize("name", [
    "", " x", "x y", "x\ty", "x\n", "@admin", "*", "*x", "#x", "a/1", "a,b", "a\x7f",
    "a\u00a0b", "x" * 300])
def test_names_rserve_would_misread_are_refused(name):
    assert files.user_name_problem(name)
    with pytest.raises(ValueError, match="Rserve user name"):
        files.password_file({name: "pw"})


@pytest.mark.parametrize("name", ["tableau", "a@b", "x*", "x#", "Ünïcode", "a.b-c_d$"])
def test_other_names_are_kept(name):
    assert files.user_name_problem(name) is None


@pytest.mark.parametrize("password", ["", "a\nb", "a\rb", "a\0b"])
def test_passwords_rserve_would_cut_are_refused(password):
    with pytest.raises(ValueError, match="password"):
        files.password_file({"tableau": password})


PARAMS = render.RserveParams(port=6311, tls_key="/etc/rserve/key.pem",
                             tls_cert="/etc/rserve/cert.pem", pwdfile="/etc/rserve/passwords",
                             workdir="/var/lib/rserve", tls_chain="/etc/rserve/chain.pem")


def test_the_config_is_tls_only_and_locked_down():
    lines = [line for line in render.render_config(PARAMS).splitlines()
             if line and not line.startswith("#")]
    for line in ("daemon disable", "qap disable", "qap.tls.port 6311", "remote enable",
                 "auth required", "plaintext enable", "pwdfile /etc/rserve/passwords",
                 "tls.ca /etc/rserve/chain.pem", "fileio disable", "shutdown disable",
                 "interactive no", "umask 0027"):
        assert line in lines
    # Rserve 1.8 warns on any control setting, "disable" included.
    assert not any(line.startswith(("control", "r-control")) for line in lines)


def test_the_unit_runs_rserve_in_the_foreground_as_its_user():
    unit = render.render_unit(PARAMS)
    assert "Type=simple" in unit and "User=rserve" in unit
    assert f"ExecStart=/usr/bin/R CMD {render.RSERVE_BINARY} --no-save --RS-conf " \
        f"{render.CONFIG_PATH}" in unit
    assert "ReadWritePaths=/var/lib/rserve\n" in unit and "ProtectSystem=strict" in unit
    assert "NoNewPrivileges=yes" in unit


def test_a_relative_or_multiline_path_is_refused():
    with pytest.raises(ValueError):
        render.RserveParams(6311, "key.pem", "/c", "/p", "/w")
    with pytest.raises(ValueError):
        render.RserveParams(6311, "/k", "/c\ntls.key /x", "/p", "/w")

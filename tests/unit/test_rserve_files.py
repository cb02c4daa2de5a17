"""The Rserve users file, its names and passwords, read back by the real R login function
(Rscript, r-cran-openssl); and the rendered config, login script and unit."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import bcrypt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tabpy_provision.rserve import files, render

needs_r = pytest.mark.skipif(
    not (shutil.which("Rscript") and Path("/usr/lib/R/site-library/openssl/R/openssl").exists()),
    reason="R or its openssl package is not installed (r-base-core, r-cran-openssl)")


def test_the_users_file_is_byte_stable_and_holds_bcrypt_pbkdf_hashes():
    users = {"zed": "b", "amy": "correct horse"}
    text = files.users_file(users)
    assert text == files.users_file(dict(reversed(users.items())))  # a rerun: the same bytes
    lines = text.splitlines()
    assert lines[0] == files.HEADER and text.endswith("\n")
    assert [line.split(" ")[0] for line in lines[1:]] == ["amy", "zed"]
    for line in lines[1:]:
        name, rounds, salt, digest = line.split(" ")
        assert int(rounds) == files.ROUNDS
        assert bytes.fromhex(salt) == hashlib.sha256(
            b"tabpy-provision rserve user:" + name.encode()).digest()[:16]
        assert bytes.fromhex(digest) == bcrypt.kdf(
            password=users[name].encode(), salt=bytes.fromhex(salt), desired_key_bytes=32,
            rounds=files.ROUNDS, ignore_few_rounds=True)


@pytest.mark.parametrize("name", [
    "", " x", "x y", "x\ty", "x\n", ".x", "-x", "+x", "@admin", "*", "*x", "#x", "a/1", "a,b",
    "a$b", "a:b", "a\x7f", "Ünïcode", "a\u00a0b", "x" * 65])
def test_names_the_reader_would_not_find_are_refused(name):
    assert files.user_name_problem(name)
    with pytest.raises(ValueError, match="Rserve user name"):
        files.users_file({name: "pw"})


@pytest.mark.parametrize("name", ["tableau", "a", "_x", "0", "a@b.example", "A1",
                                  "a.b-c_d+e", "x" * 64])
def test_other_names_are_kept(name):
    assert files.user_name_problem(name) is None


@pytest.mark.parametrize("password", ["", "a\nb", "a\rb", "a\0b"])
def test_passwords_the_login_would_cut_are_refused_and_never_quoted(password):
    assert files.password_problem(password)
    with pytest.raises(ValueError, match="password") as refused:
        files.users_file({"tableau": password})
    assert password == "" or password not in str(refused.value)


def _r_checks(tmp: Path, users: dict[str, str], attempts: list[tuple[str, str]]) -> list[bool]:
    """tabpy_provision_login(c(user, password)) for each attempt, in a real R with auth.R
    rendered and sourced as Rserve does; the users file written by files.users_file. The
    attempts go to R as hex, so R gets the bytes a QAP login carries (mkChar of UTF-8)."""
    params = render.RserveParams(6311, "/k", "/c", str(tmp / "users"), str(tmp / "auth.R"),
                                 "/w")
    (tmp / "users").write_text(files.users_file(users))
    (tmp / "auth.R").write_text(render.render_auth_script(params))
    (tmp / "attempts").write_text("".join(
        f"{user.encode().hex()} {password.encode().hex()}\n" for user, password in attempts))
    script = f"""
        try(source("{tmp / 'auth.R'}"))
        hex <- function(h) if (nchar(h) == 0L) "" else rawToChar(as.raw(strtoi(
            substring(h, seq.int(1L, nchar(h), 2L), seq.int(2L, nchar(h), 2L)), 16L)))
        for (line in readLines("{tmp / 'attempts'}")) {{
            f <- strsplit(line, " ", fixed = TRUE)[[1L]]
            cat(tabpy_provision_login(c(hex(f[[1L]]), hex(if (length(f) > 1L) f[[2L]] else ""))),
                "\\n")
        }}"""
    proc = subprocess.run(["Rscript", "--vanilla", "-e", script], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # Nothing printed but the results (no password, no startup message, no warning).
    assert proc.stderr == "" and set(proc.stdout.split()) <= {"TRUE", "FALSE"}, proc
    return [word == "TRUE" for word in proc.stdout.split()]


names = st.from_regex(files.NAME_PATTERN, fullmatch=True)
# What the QAP login carries: any text without CR, LF, NUL (and no lone surrogates).
passwords = st.text(st.characters(blacklist_categories=("Cs",),
                                  blacklist_characters="\r\n\0"), min_size=1, max_size=40)


@needs_r
@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(users=st.dictionaries(names, passwords, min_size=1, max_size=3))
@example(users={"x" * 64: " *0 $# \t\\\"'é€😀", "_": "p w", "a@b.c+d-e": "*0"})
def test_accepted_names_and_passwords_round_trip_through_the_r_reader(users, tmp_path):
    attempts = [(name, password) for name, password in users.items()]
    attempts += [(name, password + "x") for name, password in users.items()]
    for name, password in users.items():
        other = name.swapcase() if name.swapcase() != name else name + "Z"
        while other in users:
            other += "Z"
        attempts.append((other, password))
    results = _r_checks(tmp_path, users, attempts)
    count = len(users)
    assert results[:count] == [True] * count  # the right password of each user
    assert results[count:] == [False] * (2 * count)  # a wrong one; another name


@needs_r
def test_the_r_reader_refuses_a_malformed_file_an_error_or_a_bad_call(tmp_path):
    good = files.users_file({"tableau": "pw"})
    attempts = [("tableau", "pw"), ("tableau", "*0"), ("tableau", ""), ("nobody", "pw")]
    assert _r_checks(tmp_path, {"tableau": "pw"}, attempts) == [True, False, False, False]
    line = good.splitlines()[1]
    for broken in (good + "\n",  # a blank line
                   good + line + "\n",  # a name twice
                   good.replace(line, line.replace(" ", "  ", 1)),
                   good.replace(line, line.upper()),
                   good + "other 0 " + line.split(" ", 2)[2] + "\n",  # 0 rounds
                   good + "other 1000 " + line.split(" ", 2)[2] + "\n"):  # too many
        (tmp_path / "broken").write_text(broken)
        script = f"""
            source("{tmp_path / 'auth.R'}")
            environment(tabpy_provision_login)$users_file <- "{tmp_path / 'broken'}"
            cat(tabpy_provision_login(c("tableau", "pw")),
                tabpy_provision_login(c("tableau", "pw", "x")),
                tabpy_provision_login(c(NA, "pw")), tabpy_provision_login(1),
                tabpy_provision_login(list("tableau", "pw")))
            environment(tabpy_provision_login)$users_file <- "{tmp_path / 'absent'}"
            cat("", tabpy_provision_login(c("tableau", "pw")), "\\n")"""
        proc = subprocess.run(["Rscript", "--vanilla", "-e", script], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["FALSE"] * 6, (broken, proc.stdout)
        assert proc.stderr == ""


@needs_r
def test_the_login_script_stops_r_without_openssl(tmp_path):
    params = render.RserveParams(6311, "/k", "/c", str(tmp_path / "users"),
                                 str(tmp_path / "auth.R"), "/w")
    (tmp_path / "auth.R").write_text(render.render_auth_script(params))
    (tmp_path / "lib").mkdir()
    # Debian's /etc/R/Renviron keeps a set R_LIBS_SITE: the site library (openssl) is gone.
    proc = subprocess.run(
        ["Rscript", "--vanilla", "-e", f'try(source("{tmp_path / "auth.R"}")); cat("ran on")'],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, R_LIBS_SITE=str(tmp_path / "lib"), R_LIBS_USER=str(tmp_path)))
    assert proc.returncode == 1 and "ran on" not in proc.stdout
    assert "r-cran-openssl" in proc.stderr


PARAMS = render.RserveParams(
    port=6311, tls_key="/etc/rserve/key.pem", tls_cert="/etc/rserve/cert.pem",
    users_file="/etc/rserve/users", auth_script="/etc/rserve/auth.R",
    workdir="/var/lib/rserve", tls_chain="/etc/rserve/chain.pem")


def test_the_config_is_tls_only_and_checks_logins_in_r():
    lines = [line for line in render.render_config(PARAMS).splitlines()
             if line and not line.startswith("#")]
    for line in ("daemon disable", "qap disable", "qap.tls.port 6311", "remote enable",
                 "auth required", "plaintext enable", "source /etc/rserve/auth.R",
                 "auth.function tabpy_provision_login", "tls.ca /etc/rserve/chain.pem",
                 "fileio disable", "shutdown disable", "interactive no", "umask 0027"):
        assert line in lines
    evals = [line for line in lines if line.startswith("eval ")]
    assert evals == ['eval if (!exists("tabpy_provision_login", mode = "function")) { message('
                     '"ERROR: /etc/rserve/auth.R did not define tabpy_provision_login: Rserve '
                     'stops"); quit(save = "no", status = 1L, runLast = FALSE) }']
    longest = render.RserveParams(6311, *["/" + "p" * (render.MAX_PATH - 1)] * 5)
    # Rserve reads a config line into 511 bytes (fgets 511: at most 510 and the line end).
    assert max(len(line) for line in render.render_config(longest).splitlines()) < 510
    # Rserve's own password file check is never used (an empty one guards the login function
    # being lost); Rserve 1.8 warns on any control setting, "disable" included.
    assert [line for line in lines if line.startswith("pwdfile")] == ["pwdfile /dev/null"]
    assert not any(line.startswith(("cachepwd", "control", "r-control")) for line in lines)


def test_the_login_script_names_the_users_file_and_the_rounds():
    script = render.render_auth_script(PARAMS)
    assert 'users_file <- "/etc/rserve/users"' in script
    assert f"absent_rounds <- {files.ROUNDS}L" in script
    assert f"{render.AUTH_FUNCTION} <- local(" in script
    assert f'name_pattern <- "^{files.NAME_PATTERN.pattern}$"' in script


def test_the_unit_runs_rserve_in_the_foreground_as_its_user():
    unit = render.render_unit(PARAMS, "/etc/rserve")
    assert "Type=simple" in unit and "User=rserve" in unit
    # `$$` is systemd's `$`: the shell resolves the link when the unit starts.
    assert f"ExecStart=/bin/sh -c 'exec /usr/bin/R CMD {render.RSERVE_BINARY} --no-save " \
        "--RS-conf \"$$(readlink -f /etc/rserve/current)/Rserv.conf\"'\n" in unit
    assert "ReadWritePaths=/var/lib/rserve\n" in unit and "ProtectSystem=strict" in unit
    assert "NoNewPrivileges=yes" in unit


@pytest.mark.parametrize(("field", "value"), [
    ("tls_key", "key.pem"), ("tls_cert", "/c\ntls.key /x"), ("users_file", "/u "),
    ("auth_script", '/a"); system("id'), ("users_file", "/u\\x"), ("workdir", "/w\x1b"),
    ("auth_script", "/" + "a" * 200)])
def test_a_relative_multiline_or_quoting_path_is_refused(field, value):
    values = {"tls_key": "/k", "tls_cert": "/c", "users_file": "/u", "auth_script": "/a",
              "workdir": "/w", field: value}
    with pytest.raises(ValueError, match=field):
        render.RserveParams(6311, **values)

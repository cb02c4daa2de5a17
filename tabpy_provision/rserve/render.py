"""Rserve's config file and systemd unit, rendered from the package's templates. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from tabpy_provision.rendering import templating
from tabpy_provision.rserve import files

#: Debian's r-cran-rserve: the standalone server, run through `R CMD` (it is not on PATH).
RSERVE_BINARY = "/usr/lib/R/site-library/Rserve/libs/Rserve"
#: The R function auth.R defines and Rserv.conf names in `auth.function`.
AUTH_FUNCTION = "tabpy_provision_login"
MAX_PATH = 200


@dataclass(frozen=True)
class RserveParams:
    port: int
    tls_key: str
    tls_cert: str  # the leaf only: Rserve sends the first certificate of this file
    users_file: str  # read by the R login function at each login (files.users_file)
    auth_script: str  # auth.R, sourced by Rserve at start (render_auth_script)
    workdir: str
    system_user: str = "rserve"
    listen_all: bool = True  # `remote enable`: all interfaces, else loopback only
    tls_chain: str | None = None  # intermediates (tls.ca), sent after the leaf

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"Rserve port {self.port} is not a TCP port")
        for name in ("tls_key", "tls_cert", "users_file", "auth_script", "workdir",
                     "tls_chain"):
            value = getattr(self, name)
            if value is None:
                continue
            # Rserve cuts a config value at the line end, and its trailing blanks.
            if not value.startswith("/") or value != value.strip() or any(
                    c in value for c in "\r\n\0"):
                raise ValueError(f"Rserve {name} {value!r}: not an absolute path")
            # Rserve reads 510 characters a config line (the `eval` line holds auth_script).
            if len(value) > MAX_PATH:
                raise ValueError(f"Rserve {name} {value!r}: longer than {MAX_PATH} characters")
            # Rserve runs `try(source("<auth_script>"))` and auth.R holds the users file in
            # an R string: a quote or a backslash would end or change it.
            if not value.isprintable() or any(c in value for c in "\"\\"):
                raise ValueError(f"Rserve {name} {value!r}: holds a quote, a backslash or a "
                                 "non-printable character")


def render_config(params: RserveParams) -> str:
    """Rserv.conf: QAP over TLS only, logins checked by auth.R's function, no file transfer
    or shutdown."""
    return templating.environment().get_template("etc/rserve/Rserv.conf.j2").render(
        p=params, auth_function=AUTH_FUNCTION)


def render_auth_script(params: RserveParams) -> str:
    """auth.R: the login function reading params.users_file at each login."""
    return templating.environment().get_template("etc/rserve/auth.R.j2").render(
        users_file=params.users_file, rounds=files.ROUNDS)


def render_unit(params: RserveParams, config_dir: str) -> str:
    """rserve.service: the foreground Rserve as its own user, writing only its workdir, started
    from the release `config_dir/current` points to (resolved: its command line names it)."""
    return templating.environment().get_template(
        "etc/systemd/system/rserve.service.j2").render(
            p=params, config_dir=config_dir, rserve_binary=RSERVE_BINARY)

"""Rserve's config file and systemd unit, rendered from the package's templates. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from tabpy_provision.rendering import templating

#: Debian's r-cran-rserve: the standalone server, run through `R CMD` (it is not on PATH).
RSERVE_BINARY = "/usr/lib/R/site-library/Rserve/libs/Rserve"
CONFIG_PATH = "/etc/rserve/Rserv.conf"


@dataclass(frozen=True)
class RserveParams:
    port: int
    tls_key: str
    tls_cert: str  # the leaf only: Rserve sends the first certificate of this file
    pwdfile: str
    workdir: str
    system_user: str = "rserve"
    listen_all: bool = True  # `remote enable`: all interfaces, else loopback only
    tls_chain: str | None = None  # intermediates (tls.ca), sent after the leaf

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"Rserve port {self.port} is not a TCP port")
        for name in ("tls_key", "tls_cert", "pwdfile", "workdir", "tls_chain"):
            value = getattr(self, name)
            # Rserve cuts a config value at the line end, and its trailing blanks.
            if value is not None and (not value.startswith("/") or value != value.strip()
                                      or any(c in value for c in "\r\n\0")):
                raise ValueError(f"Rserve {name} {value!r}: not an absolute path")


def render_config(params: RserveParams) -> str:
    """Rserv.conf: QAP over TLS only, password logins, no file transfer or shutdown."""
    return templating.environment().get_template("etc/rserve/Rserv.conf.j2").render(p=params)


def render_unit(params: RserveParams, config_path: str = CONFIG_PATH) -> str:
    """rserve.service: the foreground Rserve as its own user, writing only its workdir."""
    return templating.environment().get_template(
        "etc/systemd/system/rserve.service.j2").render(
            p=params, config_path=config_path, rserve_binary=RSERVE_BINARY)

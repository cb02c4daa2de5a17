"""Render the files a TabPy host gets, and the Windows trust script, from the package's
`templates/` (mirrors target paths). Pure."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from tabpy_provision.rendering import templating
from tabpy_provision.server.plan import Instance, TabpyServerPlan
from tabpy_provision.trust import plan as trust

TEMPLATES = templating.TEMPLATES


def _ini(value: Any) -> str:
    """A value as TabPy's ConfigParser(os.environ) reads it: booleans lower-case, % escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("%", "%%")


@cache
def _environment() -> jinja2.Environment:
    env = templating.environment()
    env.filters["ini"] = _ini
    env.filters["pyrepr"] = repr
    return env


def _render(template: str, plan: TabpyServerPlan, **extra: Any) -> str:
    return _environment().get_template(template).render(plan=plan, v=plan.values, **extra)


def writable_paths(plan: TabpyServerPlan) -> list[str]:
    """Folders TabPy writes to: the only ones its unit lets it write."""
    tabpy = plan.settings.tabpy
    paths = [tabpy.tabpy_state_path, tabpy.tabpy_query_object_path, tabpy.tabpy_log_dir]
    return list(dict.fromkeys(paths))


def tabpy_config(plan: TabpyServerPlan, instance: Instance | None = None) -> str:
    """The config file of one TabPy process (default: the first, or only, one)."""
    return _render("etc/tabpy/tabpy.conf.j2", plan, instance=instance or plan.instances[0])


def tls_hook(plan: TabpyServerPlan) -> str:
    """tls/sitecustomize.py of a release: the TLS profile of the connections TabPy serves."""
    return _render("etc/tabpy/tls/sitecustomize.py.j2", plan, tls=plan.tls_profile)


def systemd_unit(plan: TabpyServerPlan) -> str:
    """tabpy.service, or the template unit tabpy@.service (%i: the port) of several."""
    config_path = f"{plan.current_dir}/instances/%i.conf" if plan.local_balancer \
        else plan.config_path
    return _render("etc/systemd/system/tabpy.service.j2", plan, config_path=config_path,
                   writable_paths=writable_paths(plan))


def haproxy_config(balancer: Any, **paths: str) -> str:
    """HAProxy's config of a pool or host balancer (see pool/balancer.py)."""
    return _environment().get_template("etc/haproxy/haproxy.cfg.j2").render(lb=balancer, **paths)


def keepalived_config(balancer: Any, **extra: str) -> str:
    """keepalived's config of a pool balancer holding the service address (see pool/balancer.py)."""
    return _environment().get_template("etc/keepalived/keepalived.conf.j2").render(
        lb=balancer, **extra)


def service_sandbox(service: str) -> str:
    """tabpy-provision's systemd drop-in sandboxing a distribution unit (haproxy.service,
    keepalived.service)."""
    return _environment().get_template(
        f"etc/systemd/system/{service}.d/tabpy-provision.conf.j2").render()


#: What ends a single-quoted PowerShell string: the apostrophe and the typographic quotes
#: U+2018-U+201B (PowerShell language spec, 2.3.5.2); each is escaped by doubling it.
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def _powershell_literal(text: str) -> str:
    """Text for inside a single-quoted PowerShell string; control characters are refused
    (a subject or name holding one never reaches a script administrators run elevated)."""
    text = str(text)
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text):
        raise ValueError(f"control character in {text!r}: not put into a PowerShell script")
    return "".join(char * 2 if char in _POWERSHELL_QUOTES else char for char in text)


def windows_trust_script(selected: trust.TrustSet, scope: str) -> str:
    """The idempotent PowerShell script of the Windows trust artifacts of one scope."""
    return _environment().get_template("windows/Install-TabPyTrust.ps1.j2").render(
        install=selected.install, retire=selected.retire, scope=scope, ps=_powershell_literal,
        stems=trust.artifact_stems(selected.install),
        server_auth_only=", ".join(f"0x{byte:02x}" for byte in trust.SERVER_AUTH_ONLY))

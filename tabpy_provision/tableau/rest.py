"""Tableau Server 2020.2+: analytics extensions through the REST API, from the controller, over
HTTPS verifying Tableau Server's own certificate (tableau_rest_ca_file, else the OS store).

Sign in with a personal access token, enable analytics extensions on the server and on each
declared site, create or update the TABPY connection of each site (matched by name), remove the
connections declared absent, sign out. Only what differs is written. Pure: no pyinfra import.

Paths, content type and body fields follow docs/facts-tableau.md; the shapes of the answers (the
connection list, a connection's details) are not documented there: `_connections` and
`_remote_connection` are the one place to adapt. tableauserverclient has no analytics-extension
calls, so these are plain HTTP (verify.request).
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tabpy_provision.server import verify
from tabpy_provision.settings.errors import ProvisionError
from tabpy_provision.tableau.connection import Connection, RestTarget

API = "/api/3.6"  # sign-in, sites: personal access tokens came with 3.6 (Server 2019.4)
SERVER_SETTINGS = "/api/-/settings/server/extensions/analytics"
SITE_SETTINGS = "/api/-/settings/site/extensions/analytics"
CONNECTIONS = f"{SITE_SETTINGS}/connections"
CONNECTION_ITEM = "application/vnd.tableau.analyticsextensions.v1.ConnectionItem+json"
CONNECTION_TYPE = "TABPY"
TIMEOUT = 30


class RestError(ProvisionError):
    """A refused or failed call; `setting` names the inventory setting to look at."""

    def __init__(self, message: str, *, status: int | None = None,
                 setting: str = "tableau_rest_url"):
        super().__init__(message)
        self.status = status
        self.setting = setting


def site_label(site: str) -> str:
    return f"site {site!r}" if site else "the Default site"


class Session:
    """A signed-in session (`with Session(target) as s:`), signed out on exit."""

    def __init__(self, target: RestTarget):
        self.target = target
        self.token: str | None = None
        self.site: str | None = None

    def __enter__(self) -> Session:
        answer = self._call("POST", f"{API}/auth/signin", {"credentials": {
            "personalAccessTokenName": self.target.token_name,
            "personalAccessTokenSecret": self.target.token_secret,
            "site": {"contentUrl": self.target.token_site}}}, sign_in=True)
        self._signed_in(answer)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.token:
            with contextlib.suppress(RestError):  # it expires anyway; keep the first error
                self._call("POST", f"{API}/auth/signout")
            self.token = None

    def _signed_in(self, answer: Mapping[str, Any]) -> None:
        credentials = answer["credentials"]
        self.token = credentials["token"]
        self.site = credentials["site"].get("contentUrl", "")

    def switch(self, site: str) -> None:
        """Make `site` the session's site (the settings calls act on it)."""
        if site == self.site:
            return
        if site:  # an unknown site is a clear 404 here (switchSite's errors are vaguer)
            self._call("GET", f"{API}/sites/{quote(site)}?key=contentUrl")
        self._signed_in(self._call("POST", f"{API}/auth/switchSite",
                                   {"site": {"contentUrl": site}}))

    def call(self, method: str, path: str, body: object | None = None,
             content_type: str = "application/json") -> Any:
        return self._call(method, path, body, content_type=content_type)

    def _call(self, method: str, path: str, body: object | None = None, *,
              content_type: str = "application/json", sign_in: bool = False) -> Any:
        target = self.target
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["X-Tableau-Auth"] = self.token
        try:
            response = verify.request(method, path, fqdn=target.fqdn, address=target.address,
                                      port=target.port, ca_pem=target.ca_pem, body=body,
                                      headers=headers, timeout=TIMEOUT)
        except ssl.SSLCertVerificationError as error:
            raise RestError(f"{target.url}: TLS verification failed: {error.verify_message}",
                            setting="tableau_rest_ca_file") from None
        except OSError as error:
            raise RestError(f"{target.url} ({target.address}:{target.port}): "
                            f"{type(error).__name__}: {error}") from None
        if response.status >= 400:
            raise _refusal(method, path, response, sign_in)
        return json.loads(response.body) if response.body.strip() else None


def _refusal(method: str, path: str, response: verify.Response, sign_in: bool) -> RestError:
    try:
        error = json.loads(response.body).get("error", {})
        said = f": {error.get('summary', '')} ({error.get('code', '')}): {error.get('detail', '')}"
    except (ValueError, AttributeError):
        said = ""
    what = f"{method} {path.split('?')[0]} answered HTTP {response.status}{said}"
    if sign_in and response.status == 401:
        return RestError(f"sign-in refused: {what}", status=401,
                         setting="tableau_rest_token_secret")
    if "/sites/" in path and response.status == 404:
        return RestError(f"site not found: {what}", status=404, setting="tableau_rest_sites")
    return RestError(what, status=response.status)


# --- state, differences, changes ---------------------------------------------------------------


@dataclass(frozen=True)
class RemoteConnection:
    luid: str
    name: str
    type: str
    host: str
    port: int
    ssl: bool
    auth: bool
    username: str


@dataclass(frozen=True)
class SiteState:
    enabled: bool
    connections: tuple[RemoteConnection, ...]  # those the plan names (kept or absent)


@dataclass(frozen=True)
class RestState:
    server_enabled: bool
    sites: Mapping[str, SiteState]


def _connections(answer: Any) -> list[dict]:
    """The connection list's entries (luid, name, type)."""
    return list((answer or {}).get("connection_metadata_list", []))


def _remote_connection(details: Mapping[str, Any]) -> RemoteConnection:
    brief = details.get("connection_brief", {})
    return RemoteConnection(
        luid=details["connection_luid"], name=brief.get("connection_name", ""),
        type=brief.get("connection_type", ""), host=details.get("host", ""),
        port=int(details.get("port") or 0), ssl=bool(details.get("is_ssl_enabled")),
        auth=bool(details.get("is_auth_enabled")), username=details.get("username") or "")


@contextlib.contextmanager
def _signed_in(target: RestTarget) -> Iterator[Callable[[str | None], Session]]:
    """`session_for(site)`: a session on that site (None: the server level). Tableau Server:
    one session, switched from site to site; Tableau Cloud: one per site, with its token."""
    if not target.cloud:
        with Session(target) as session:
            def switched(site: str | None) -> Session:
                if site is not None:
                    session.switch(site)
                return session
            yield switched
        return
    with contextlib.ExitStack() as stack:
        sessions: dict[str, Session] = {}

        def own(site: str | None) -> Session:
            if site is None:
                raise RestError("Tableau Cloud has no server-level settings")
            if site not in sessions:
                sessions[site] = stack.enter_context(Session(target.signing_in_to(site)))
            return sessions[site]
        yield own


def read_state(target: RestTarget, connection_name: str) -> RestState:
    """Server settings (Tableau Server only) and site settings, and the named connections of
    every declared site."""
    names = {connection_name, *target.absent}
    sites = {}
    with _signed_in(target) as session_for:
        server_enabled = True if target.cloud else bool(
            session_for(None).call("GET", SERVER_SETTINGS).get("enabled"))
        for site in target.ordered_sites:
            session = session_for(site)
            enabled = session.call("GET", SITE_SETTINGS)
            listed = [entry for entry in _connections(session.call("GET", CONNECTIONS))
                      if entry.get("connection_name") in names]
            sites[site] = SiteState(bool(enabled.get("enabled")), tuple(
                _remote_connection(session.call("GET", f"{CONNECTIONS}/{entry['connection_luid']}"))
                for entry in listed))
    return RestState(server_enabled, sites)


def connection_body(connection: Connection) -> dict:
    """The ConnectionItem Tableau stores (docs/facts-tableau.md field names)."""
    body: dict[str, Any] = {"host": connection.host, "port": connection.port,
                            "is_ssl_enabled": connection.ssl,
                            "is_auth_enabled": connection.user is not None}
    if connection.user is not None:
        body.update(username=connection.user, password=connection.password)
    body["connection_brief"] = {"connection_name": connection.name,
                                "connection_type": CONNECTION_TYPE}
    return body


def connection_differences(current: RemoteConnection, connection: Connection,
                           password_current: bool) -> list[str]:
    """What differs, one phrase each (never a secret); the password by the deploy's record."""
    have = {"host": current.host, "port": current.port, "is_ssl_enabled": current.ssl,
            "is_auth_enabled": current.auth, "username": current.username,
            "connection_type": current.type}
    want = {"host": connection.host, "port": connection.port, "is_ssl_enabled": connection.ssl,
            "is_auth_enabled": connection.user is not None, "username": connection.user or "",
            "connection_type": CONNECTION_TYPE}
    found = [f"{key} {have[key]!r} -> {value!r}" for key, value in want.items()
             if have[key] != value]
    if connection.user is not None and not password_current:
        found.append("password")
    return found


@dataclass(frozen=True)
class Change:
    site: str | None  # None: the server level
    action: str  # enable, create, update, delete
    detail: str = ""
    luid: str | None = None

    def describe(self) -> str:
        where = "server" if self.site is None else site_label(self.site)
        return f"{where}: {self.action}{': ' + self.detail if self.detail else ''}"


def changes(state: RestState, target: RestTarget, connection: Connection,
            password_current: Callable[[str], bool]) -> list[Change]:
    """What makes Tableau match the plan, server first, then site by site.
    `password_current(site)`: whether the record says that site holds the password."""
    found = [] if state.server_enabled else [Change(None, "enable", "analytics extensions")]
    for site in target.ordered_sites:
        current = state.sites[site]
        if not current.enabled:
            found.append(Change(site, "enable", "analytics extensions"))
        kept = [c for c in current.connections if c.name == connection.name]
        wanted = []
        if not kept:
            wanted.append(Change(site, "create", f"connection {connection.name!r} to "
                                                 f"{connection.url}"))
        for remote in kept[:1]:
            differences = connection_differences(remote, connection, password_current(site))
            if differences:
                wanted.append(Change(site, "update", f"connection {connection.name!r}: "
                                     + ", ".join(differences), remote.luid))
        removed = [Change(site, "delete", f"connection {remote.name!r}", remote.luid)
                   for remote in [*kept[1:], *(c for c in current.connections
                                               if c.name in target.absent)]]
        found += [*removed, *wanted] if target.one_connection_per_site else [*wanted, *removed]
    return found


def apply(target: RestTarget, connection: Connection, planned: Sequence[Change]) -> None:
    """Make the changes, in one session (Tableau Server) or one per site (Tableau Cloud)."""
    body = connection_body(connection)
    with _signed_in(target) as session_for:
        for change in planned:
            try:
                session = session_for(change.site)
                if change.action == "enable":
                    session.call("PUT", SERVER_SETTINGS if change.site is None
                                 else SITE_SETTINGS, {"enabled": True})
                elif change.action == "create":
                    session.call("POST", CONNECTIONS, body, CONNECTION_ITEM)
                elif change.action == "update":
                    session.call("PUT", f"{CONNECTIONS}/{change.luid}", body, CONNECTION_ITEM)
                else:
                    session.call("DELETE", f"{CONNECTIONS}/{change.luid}")
            except RestError as error:
                raise RestError(f"{change.describe()}: {error}", status=error.status,
                                setting=error.setting) from None


def saved_sites(planned: Sequence[Change]) -> set[str]:
    """Sites whose connection was given the password by these changes."""
    return {c.site for c in planned if c.action in ("create", "update") and c.site is not None}

#!/usr/bin/python3
"""STAND-IN for Tableau Server's REST API (2020.2+), analytics-extension part, for tests only:
no Tableau Server can run here, so tests run this on a lab host as a systemd unit, serving
HTTPS with its own certificate (from a test CA), and run the real deploy against it.

    python3 tableau_rest_standin.py CONFIG.json

CONFIG: {"listen": [address, port], "certificate": PEM chain, "key": PEM key, "state": path,
"tokens": {name: {"secret": s, "site": contentUrl}}, "sites": [{"contentUrl": "", "name":
"Default"}, ...], "seed": {contentUrl: [ConnectionItem, ...]}, "cloud": false,
"version": "2021.4"}.

Before 2021.2 ("version") a site holds one analytics-extension connection: creating a second
is refused (409; several per site are documented from 2021.2 on).

With "cloud": true it stands in for a Tableau Cloud pod instead (docs/facts-tableau.md#tableau-
cloud): every site has a contentUrl (signing in to "" is refused, 401), a token signs in to
its own site and `auth/switchSite` is refused (403: a Cloud token reaches one site), there are
no server-level settings (404), and a connection must have SSL and authentication on (400).

Modelled, following docs/facts-tableau.md (Tableau's REST API reference):
- `POST /api/<version>/auth/signin` with a personal access token (API 3.6+) for the token's
  own site -> `{"credentials": {"token", "site": {"id", "contentUrl"}, "user": {"id"}}}`;
  a wrong name, secret or site: 401 (401001 Signin Error). `auth/signout`, `auth/switchSite`.
  Every other call needs `X-Tableau-Auth` (else 401, 401002).
- `GET /api/<version>/sites/<contentUrl>?key=contentUrl`: 404 (404000) for an unknown site.
- `GET|PUT /api/-/settings/server/extensions/analytics` and `.../settings/site/extensions/
  analytics` (the session's site): `{"enabled": bool}`.
- `GET|POST .../site/extensions/analytics/connections`, `GET|PUT|DELETE .../connections/<luid>`.
  Bodies: Content-Type `application/vnd.tableau.analyticsextensions.v1.ConnectionItem+json`
  (else 415), fields host, port, is_auth_enabled, username, password, is_ssl_enabled,
  connection_brief {connection_name, connection_type}: checked (400), a name used twice on a
  site: 409. The list answers `{"connection_metadata_list": [{connection_luid,
  connection_name, connection_type}]}`; a connection's details never include the password
  (these answer shapes are the stand-in's: Tableau's are not documented in the facts).
- Saving a connection does not test it (Tableau is not documented to): an unreachable or
  untrusted TabPy is saved all the same; the deploy's own Test Connection finds it.
- Errors: `{"error": {"summary", "detail", "code"}}`. Counters per call kind (and the last
  session tokens issued, for leak tests) are in the state file.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tableau_standin import StateFile  # noqa: E402

CONNECTION_ITEM = "application/vnd.tableau.analyticsextensions.v1.ConnectionItem+json"
CONNECTION_TYPES = ("TABPY", "RSERVE", "EINSTEIN_DISCOVERY", "GENERIC_API")
SESSION_SECONDS = 240 * 60
ANALYTICS = "/api/-/settings/site/extensions/analytics"


class Refusal(Exception):
    def __init__(self, status: int, code: str, summary: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.summary, self.detail = status, code, summary, detail


def initial_state(config: dict) -> dict:
    sites = {}
    for site in config["sites"]:
        connections = {}
        for item in config.get("seed", {}).get(site["contentUrl"], []):
            connections[str(uuid.uuid4())] = item
        sites[site["contentUrl"]] = {"id": str(uuid.uuid4()), "name": site["name"],
                                     "enabled": False, "connections": connections}
    return {"server": {"enabled": False}, "sites": sites, "sessions": {},
            "counters": {}}


def count(state: dict, what: str) -> None:
    state["counters"][what] = state["counters"].get(what, 0) + 1


def check_item(body: object) -> dict:
    """A ConnectionItem as Tableau checks it (400 naming the field)."""
    def bad(detail: str) -> Refusal:
        return Refusal(400, "400000", "Bad Request", detail)

    if not isinstance(body, dict):
        raise bad("the body must be a ConnectionItem object")
    brief = body.get("connection_brief")
    if not isinstance(brief, dict) or not isinstance(brief.get("connection_name"), str) or \
            not brief["connection_name"].strip():
        raise bad("connection_brief.connection_name is required")
    if brief.get("connection_type") not in CONNECTION_TYPES:
        raise bad(f"connection_brief.connection_type must be one of {CONNECTION_TYPES}")
    if not isinstance(body.get("host"), str) or not body["host"].strip():
        raise bad("host is required")
    port = body.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise bad("port must be an integer from 1 to 65535")
    for flag in ("is_ssl_enabled", "is_auth_enabled"):
        if not isinstance(body.get(flag), bool):
            raise bad(f"{flag} must be true or false")
    if body["is_auth_enabled"] and not (isinstance(body.get("username"), str)
                                        and body["username"]
                                        and isinstance(body.get("password"), str)
                                        and body["password"]):
        raise bad("username and password are required when is_auth_enabled is true")
    return body


def details(luid: str, item: dict) -> dict:
    shown = {key: value for key, value in item.items() if key != "password"}
    return {"connection_luid": luid, **shown}


class Api:
    def __init__(self, config: dict):
        self.config = config
        self.cloud = bool(config.get("cloud"))
        self.version = tuple(int(part) for part in config.get("version", "2021.4").split("."))
        self.state = StateFile(Path(config["state"]), initial_state(config))

    def handle(self, method: str, path: str, query: dict, headers, body: bytes
               ) -> tuple[int, object | None]:
        with self.state.change() as state:  # counters and tests are kept after a refusal
            try:
                return self._route(state, method, path, query, headers, body)
            except Refusal as refusal:
                return refusal.status, {"error": {"summary": refusal.summary,
                                                  "detail": refusal.detail,
                                                  "code": refusal.code}}

    def _route(self, state, method, path, query, headers, body):
        match = re.fullmatch(r"/api/(\d+)\.(\d+)/auth/(signin|signout|switchSite)", path)
        if match and method == "POST":
            action = match.group(3)
            if action == "signin":
                return self._sign_in(state, (int(match.group(1)), int(match.group(2))),
                                     self._json(headers, body, "application/json"))
            session = self._session(state, headers)
            if action == "signout":
                state["sessions"].pop(headers.get("X-Tableau-Auth"), None)
                count(state, "signout")
                return 204, None
            if self.cloud:
                raise Refusal(403, "403000", "Forbidden",
                              "Switching sites is not available on Tableau Cloud.")
            site = (self._json(headers, body, "application/json").get("site") or {})
            return self._switch(state, headers, session, site.get("contentUrl"))
        match = re.fullmatch(r"/api/\d+\.\d+/sites/([^/]+)", path)
        if match and method == "GET" and query.get("key") == ["contentUrl"]:
            self._session(state, headers)
            site = state["sites"].get(unquote(match.group(1)))
            if site is None:
                raise Refusal(404, "404000", "Resource Not Found",
                              f"Site '{unquote(match.group(1))}' could not be found.")
            return 200, {"site": {"id": site["id"], "name": site["name"],
                                  "contentUrl": unquote(match.group(1))}}
        session = self._session(state, headers)
        site = state["sites"][session["site"]]
        if path == "/api/-/settings/server/extensions/analytics" and not self.cloud:
            return self._enabled(state, state["server"], method, headers, body, "put_server")
        if path == ANALYTICS:
            return self._enabled(state, site, method, headers, body, "put_site")
        if path == f"{ANALYTICS}/connections":
            if method == "GET":
                return 200, {"connection_metadata_list": [
                    {"connection_luid": luid, **item["connection_brief"]}
                    for luid, item in site["connections"].items()]}
            if method == "POST":
                item = self._save(site, None, headers, body)
                if self.version < (2021, 2) and site["connections"]:
                    raise Refusal(409, "409000", "Conflict", "This version of Tableau Server "
                                  "holds one analytics extension connection per site.")
                luid = str(uuid.uuid4())
                site["connections"][luid] = item
                count(state, "post_connection")
                return 201, details(luid, item)
        match = re.fullmatch(rf"{ANALYTICS}/connections/([0-9a-f-]+)", path)
        if match:
            luid = match.group(1)
            if luid not in site["connections"]:
                raise Refusal(404, "404000", "Resource Not Found",
                              f"Connection '{luid}' could not be found.")
            if method == "GET":
                return 200, details(luid, site["connections"][luid])
            if method == "PUT":
                site["connections"][luid] = self._save(site, luid, headers, body)
                count(state, "put_connection")
                return 200, details(luid, site["connections"][luid])
            if method == "DELETE":
                del site["connections"][luid]
                count(state, "delete_connection")
                return 204, None
        raise Refusal(404 if method == "GET" else 405, "404000" if method == "GET" else "405000",
                      "Not Found" if method == "GET" else "Method Not Allowed",
                      f"{method} {path}")

    def _sign_in(self, state, version, body):
        if version < (3, 6):
            raise Refusal(400, "400000", "Bad Request",
                          "personal access tokens need API version 3.6 or later")
        credentials = body.get("credentials") or {}
        token = self.config["tokens"].get(credentials.get("personalAccessTokenName"))
        site = (credentials.get("site") or {}).get("contentUrl", "")
        count(state, "signin")
        if token is None or token["secret"] != credentials.get("personalAccessTokenSecret") \
                or token["site"] != site or site not in state["sites"] or \
                (self.cloud and not site):
            raise Refusal(401, "401001", "Signin Error", "Error signing in to Tableau Server")
        return 200, self._new_session(state, site)

    def _switch(self, state, headers, session, content_url):
        if content_url not in state["sites"]:
            raise Refusal(404, "404000", "Resource Not Found", "Site could not be found.")
        state["sessions"].pop(headers.get("X-Tableau-Auth"), None)
        count(state, "switch_site")
        return 200, self._new_session(state, content_url)

    @staticmethod
    def _new_session(state, site):
        token = secrets.token_urlsafe(24)
        state["sessions"][token] = {"site": site, "expires": time.time() + SESSION_SECONDS}
        state["issued_tokens"] = [*state.get("issued_tokens", [])[-99:], token]  # leak tests
        return {"credentials": {"token": token, "site": {
            "id": state["sites"][site]["id"], "contentUrl": site},
            "user": {"id": "00000000-0000-0000-0000-000000000001"}}}

    @staticmethod
    def _session(state, headers) -> dict:
        session = state["sessions"].get(headers.get("X-Tableau-Auth") or "")
        if session is None or session["expires"] < time.time():
            raise Refusal(401, "401002", "Unauthorized Access",
                          "Invalid authentication credentials were provided.")
        return session

    def _enabled(self, state, holder, method, headers, body, counter):
        if method == "PUT":
            value = self._json(headers, body, "application/json").get("enabled")
            if not isinstance(value, bool):
                raise Refusal(400, "400000", "Bad Request", "enabled must be true or false")
            holder["enabled"] = value
            count(state, counter)
        elif method != "GET":
            raise Refusal(405, "405000", "Method Not Allowed", method)
        return 200, {"enabled": holder["enabled"]}

    def _save(self, site, luid, headers, body) -> dict:
        item = check_item(self._json(headers, body, CONNECTION_ITEM))
        name = item["connection_brief"]["connection_name"]
        if any(other["connection_brief"]["connection_name"] == name
               for key, other in site["connections"].items() if key != luid):
            raise Refusal(409, "409000", "Conflict", f"A connection named '{name}' exists.")
        if self.cloud and not (item["is_ssl_enabled"] and item["is_auth_enabled"]):
            raise Refusal(400, "400000", "Bad Request",
                          "Tableau Cloud requires SSL and authentication for analytics "
                          "extensions")
        return item

    @staticmethod
    def _json(headers, body: bytes, content_type: str) -> dict:
        if (headers.get("Content-Type") or "").split(";")[0].strip() != content_type:
            raise Refusal(415, "415000", "Unsupported Media Type",
                          f"Content-Type must be {content_type}")
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise Refusal(400, "400000", "Bad Request", "the body is not JSON") from None


def serve(config: dict) -> None:
    api = Api(config)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self):
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = api.handle(self.command, url.path, parse_qs(url.query),
                                        self.headers, body)
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _reply

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["certificate"], config["key"])
    server = ThreadingHTTPServer(tuple(config["listen"]), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"Tableau REST API STAND-IN on https://{config['listen'][0]}:{config['listen'][1]}",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(json.loads(Path(sys.argv[1]).read_text()))

"""STAND-IN for a HashiCorp Vault server (KV version 2 secrets engine), for tests only.

Vault is a single Go binary that no package registry reachable here ships, so tests run the
client side (our resolver through the real `hvac` library) against this stand-in. It follows
Vault's documented HTTP API for what the resolver uses: `GET /v1/<mount>/data/<path>` with the
`X-Vault-Token` header; 200 with `{"data": {"data": {...}, "metadata": {...}}}`, 403
`{"errors": ["permission denied"]}` for a wrong token, 404 `{"errors": []}` for no secret; and
`POST /v1/<mount>/data/<path>` with `{"data": {...}}` writing a new version (what the secret
store for generated passwords uses). Serves plain HTTP on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class VaultKvStandin:
    def __init__(self, token: str, secrets: dict[str, dict[str, dict[str, str]]]):
        """secrets: mount -> path -> {key: value}."""
        self.token = token
        self.secrets = secrets
        self.requests = 0
        self.versions: dict[tuple[str, str], int] = {}
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _target(self) -> tuple[str, str] | None:
                """(mount, path) of a KV v2 data URL, or None after replying with an error."""
                standin.requests += 1
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if self.headers.get("X-Vault-Token") != standin.token:
                    self._reply(403, {"errors": ["permission denied"]})
                    return None
                if len(parts) < 4 or parts[0] != "v1" or parts[2] != "data":
                    self._reply(404, {"errors": []})
                    return None
                return parts[1], "/".join(parts[3:])

            def do_POST(self):  # noqa: N802
                target = self._target()
                if target is None:
                    return None
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                standin.secrets.setdefault(target[0], {})[target[1]] = body["data"]
                standin.versions[target] = standin.versions.get(target, 0) + 1
                return self._reply(200, {"data": {"created_time": "2026-01-01T00:00:00Z",
                                                  "deletion_time": "", "destroyed": False,
                                                  "version": standin.versions[target]}})

            do_PUT = do_POST

            def do_GET(self):  # noqa: N802 (http.server's name)
                target = self._target()
                if target is None:
                    return None
                data = standin.secrets.get(target[0], {}).get(target[1])
                if data is None:
                    return self._reply(404, {"errors": []})
                metadata = {"created_time": "2026-01-01T00:00:00Z", "deletion_time": "",
                            "destroyed": False, "version": 1, "custom_metadata": None}
                return self._reply(200, {"request_id": "standin", "lease_id": "",
                                         "renewable": False, "lease_duration": 0,
                                         "data": {"data": data, "metadata": metadata}})

            def _reply(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> VaultKvStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

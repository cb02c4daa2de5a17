"""STAND-IN for a HashiCorp Vault server (KV version 2 secrets engine), for tests only.

Vault is a single Go binary that no package registry reachable here ships, so tests run the
client side (our resolver through the real `hvac` library) against this stand-in. It follows
Vault's documented HTTP API for what the resolver uses: `GET /v1/<mount>/data/<path>` with the
`X-Vault-Token` header; 200 with `{"data": {"data": {...}, "metadata": {...}}}`, 403
`{"errors": ["permission denied"]}` for a wrong token, 404 `{"errors": []}` for no secret.
Serves plain HTTP on 127.0.0.1 only.
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
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                standin.requests += 1
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if self.headers.get("X-Vault-Token") != standin.token:
                    return self._reply(403, {"errors": ["permission denied"]})
                if len(parts) < 4 or parts[0] != "v1" or parts[2] != "data":
                    return self._reply(404, {"errors": []})
                data = standin.secrets.get(parts[1], {}).get("/".join(parts[3:]))
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

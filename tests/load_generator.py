"""A bounded load generator run ON a lab client (stdlib only; pushed there by tests/load.py).

Sends authenticated POST /evaluate requests to a TabPy service over TLS checked against the
client's OS trust store, from `--concurrency` threads, each on its own keep-alive connection,
until `--seconds` pass, `--max-requests` are sent, or `--stop-file` appears. Only lab addresses
are dialled (the name must resolve to 169.254.0.0/16). A request counts as served when the
answer is 200 with the expected value; everything else is a failure, by kind.

Like Java's HTTP client (Tableau's), a request that fails on a REUSED keep-alive connection
before any byte of an answer (closed, reset, or a TLS EOF) is sent once more on a new
connection (the server had closed the idle connection, e.g. an HAProxy reload); such retries
are counted and reported. The password comes on stdin.
Prints one JSON object at the end.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time

LAB_NETWORK = ipaddress.ip_network("169.254.0.0/16")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=9004)
    parser.add_argument("--user", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--script", default="return _arg1[0] + 1")
    parser.add_argument("--arg", type=int, default=41)
    parser.add_argument("--expect", default="42")
    args = parser.parse_args()
    if not (1 <= args.concurrency <= 64 and 0 < args.seconds <= 900):
        sys.exit("concurrency 1-64 and seconds up to 900 only")
    address = socket.gethostbyname(args.host)
    if ipaddress.ip_address(address) not in LAB_NETWORK:
        sys.exit(f"{args.host} is {address}: not a lab address")
    password = sys.stdin.readline().rstrip("\n")
    token = base64.b64encode(f"{args.user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    body = json.dumps({"script": args.script, "data": {"_arg1": [args.arg]}}).encode()
    context = ssl.create_default_context()  # the OS trust store, names checked
    lock = threading.Lock()
    totals = {"served": 0, "failed": 0, "stale_retries": 0}
    kinds: dict[str, int] = {}
    first_failures: list[str] = []
    latencies: list[float] = []
    window: list[float | None] = [None, None]  # first and last failure, seconds from start
    sent = [0]
    started = time.monotonic()
    deadline = started + args.seconds

    def stopping() -> bool:
        return time.monotonic() > deadline or bool(args.stop_file and
                                                   os.path.exists(args.stop_file))

    def take_ticket() -> bool:
        with lock:
            if sent[0] >= args.max_requests:
                return False
            sent[0] += 1
            return True

    def worker() -> None:
        connection, reused = None, False
        while not stopping() and take_ticket():
            began = time.monotonic()
            outcome = None
            for attempt in (1, 2):
                if connection is None:
                    connection = http.client.HTTPSConnection(args.host, args.port,
                                                             context=context, timeout=30)
                    reused = False
                try:
                    connection.request("POST", "/evaluate", body=body, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                    reused = True
                    if response.status == 200 and answer.decode().strip() == args.expect:
                        outcome = None
                    else:
                        outcome = f"HTTP {response.status}"
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                        connection = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError, ssl.SSLEOFError) as error:
                    connection.close()
                    connection = None
                    if reused and attempt == 1:
                        with lock:
                            totals["stale_retries"] += 1
                        continue
                    outcome = type(error).__name__
                    break
                except (OSError, http.client.HTTPException) as error:
                    if connection is not None:
                        connection.close()
                    connection = None
                    outcome = type(error).__name__
                    break
            with lock:
                if outcome is None:
                    totals["served"] += 1
                    latencies.append(time.monotonic() - began)
                else:
                    totals["failed"] += 1
                    kinds[outcome] = kinds.get(outcome, 0) + 1
                    at = time.monotonic() - started
                    window[0] = at if window[0] is None else window[0]
                    window[1] = at
                    if len(first_failures) < 10:
                        first_failures.append(f"{at:.2f}s {outcome}")
            if outcome is not None:
                time.sleep(0.05)  # a client backs off a little after a failure
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 60)
    elapsed = time.monotonic() - started
    latencies.sort()
    print(json.dumps({
        **totals, "failures": kinds, "first_failures": first_failures,
        "failing_seconds": round(window[1] - window[0], 2) if window[0] is not None else 0,
        "seconds": round(elapsed, 2), "requests_per_second": round(totals["served"] / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
    }))


if __name__ == "__main__":
    main()

"""Pebble, Let's Encrypt's test ACME server (Debian package `pebble`), on the lab host acme1.

A real ACME CA for the lab's ACME site (inventory/lab_acme.py): the ACME directory on
https://169.254.213.61:14000/dir, its management API on :15000, and `pebble-challtestsrv` as
its DNS server, whose TXT records the controller sets through a management API on :8055 (the
DNS-01 hook below; `lab up` also gives it every lab name's address, for HTTP-01, which Pebble
validates on port 80). Pebble makes a new root and intermediate at every start: `lab up` reads
the root of this boot into the lab's state (`root.pem`), which the ACME inventory gives its
clients to trust. Pebble's own HTTPS listener has a certificate from a small CA the lab makes
(`listener-ca.pem`), which the controller's ACME client trusts.

    python -m lab.acme dns-hook    the inventory's acme_dns_hook (ACME_ACTION present|cleanup,
                                   ACME_TXT_NAME, ACME_TXT_VALUE in the environment)
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import paths
from .hosts import LAB_HOSTS, SERVICE_NAMES, LabHost, get_host
from .util import LabError, run, write_atomic

HOST = "acme1"
DIRECTORY_PORT, MANAGEMENT_PORT, DNS_MANAGEMENT_PORT = 14000, 15000, 8055
CONFIG_DIR = "etc/lab-pebble"
#: Pebble without its test-only handicaps (random delays, 5% refused nonces) and without
#: reusing an account's valid authorizations (by default half the time): every order answers
#: its challenge, so one whose TXT record is missing fails. Its DNS answers only the names the
#: lab gives it (by default any name is 127.0.0.1 and ::1, where HTTP-01 would go).
UNITS = {
    "lab-pebble.service": f"""\
[Unit]
Description=Pebble, a test ACME server (tabpy-provision lab)
After=network.target lab-challtestsrv.service
Wants=lab-challtestsrv.service

[Service]
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
ExecStart=/usr/bin/pebble -config /{CONFIG_DIR}/pebble-config.json -dnsserver 127.0.0.1:8053 -strict
Restart=on-failure

[Install]
WantedBy=multi-user.target
""",
    "lab-challtestsrv.service": f"""\
[Unit]
Description=pebble-challtestsrv, the lab ACME server's DNS (tabpy-provision lab)
After=network.target

[Service]
ExecStart=/usr/bin/pebble-challtestsrv -management :{DNS_MANAGEMENT_PORT} -dns01 127.0.0.1:8053 \\
    -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 "" -defaultIPv6 ""
Restart=on-failure

[Install]
WantedBy=multi-user.target
""",
}


def acme_host() -> LabHost:
    return get_host(HOST)


def state_dir() -> Path:
    return paths.state_dir() / "acme"


def listener_ca_path() -> Path:
    """The CA of Pebble's HTTPS listener: what the controller's ACME client trusts."""
    return state_dir() / "listener-ca.pem"


def root_path() -> Path:
    """The root CA of Pebble's current boot: what the ACME site's clients trust."""
    return state_dir() / "root.pem"


def directory_url() -> str:
    """By address: the controller does not resolve lab names (the listener's certificate
    holds acme1's address too)."""
    return f"https://{acme_host().address}:{DIRECTORY_PORT}/dir"


def provision(root: Path) -> None:
    """acme1's Pebble: configuration, listener certificate, units enabled (every boot)."""
    host = acme_host()
    folder = root / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    _listener_certificate(host, folder)
    config = {"pebble": {
        "listenAddress": f"0.0.0.0:{DIRECTORY_PORT}",
        "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
        "certificate": f"/{CONFIG_DIR}/listener.crt", "privateKey": f"/{CONFIG_DIR}/listener.key",
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}
    write_atomic(folder / "pebble-config.json", json.dumps(config, indent=2) + "\n")
    units = root / "etc/systemd/system"
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for name, text in UNITS.items():
        write_atomic(units / name, text)
        link = wants / name
        if not link.is_symlink():
            link.symlink_to(f"/etc/systemd/system/{name}")


def _listener_certificate(host: LabHost, folder: Path) -> None:
    """A CA kept on the controller and a certificate for acme1 from it (made once)."""
    ca_key, ca = state_dir() / "listener-ca.key", listener_ca_path()
    key, cert = folder / "listener.key", folder / "listener.crt"
    if ca.exists() and key.exists() and cert.exists():
        return
    state_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca),
         "-days", "3650", "-subj", "/CN=tabpy-provision lab ACME listener CA"])
    csr = state_dir() / "listener.csr"
    run(["openssl", "req", *ec, "-keyout", str(key), "-out", str(csr),
         "-subj", f"/CN={host.fqdn}"])
    extensions = state_dir() / "listener.ext"
    extensions.write_text(f"subjectAltName=DNS:{host.fqdn},IP:{host.address}\n"
                          "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "3650", "-extfile", str(extensions), "-out", str(cert)])
    os.chmod(key, 0o600)


def save_root(timeout: float = 30.0) -> Path:
    """Read the root of Pebble's current boot into root_path() (Pebble answers a few seconds
    after acme1 boots)."""
    context = ssl.create_default_context(cafile=str(listener_ca_path()))
    url = f"https://{acme_host().address}:{MANAGEMENT_PORT}/roots/0"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:
                pem = answer.read().decode()
            break
        except (OSError, urllib.error.URLError) as error:
            if time.monotonic() > deadline:
                raise LabError(f"{HOST}: Pebble does not answer {url}: {error}") from error
            time.sleep(0.3)
    if not root_path().exists() or root_path().read_text() != pem:
        write_atomic(root_path(), pem)
    return root_path()


def publish_lab_names() -> None:
    """Every lab name in pebble-challtestsrv (Pebble's resolver), for HTTP-01: the CA then
    reaches port 80 of the host a name is on (the pool's name: its virtual address)."""
    names = {h.fqdn: h.address for h in LAB_HOSTS} | SERVICE_NAMES
    for name, address in names.items():  # add-a adds to what is there: cleared first
        _dns_management("clear-a", {"host": f"{name}."})
        _dns_management("add-a", {"host": f"{name}.", "addresses": [address]})


def _dns_management(action: str, body: dict) -> None:
    request = urllib.request.Request(
        f"http://{acme_host().address}:{DNS_MANAGEMENT_PORT}/{action}",
        data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def dns_hook() -> int:
    """The DNS-01 hook of inventory/lab_acme.py: the TXT record set or cleared."""
    action = os.environ.get("ACME_ACTION")
    name = os.environ.get("ACME_TXT_NAME", "").rstrip(".") + "."  # challtestsrv wants it absolute
    if action == "present":
        _dns_management("set-txt", {"host": name, "value": os.environ["ACME_TXT_VALUE"]})
    elif action == "cleanup":
        _dns_management("clear-txt", {"host": name})
    else:
        print(f"lab.acme dns-hook: ACME_ACTION is {action!r}, not present or cleanup",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["dns-hook"]:
        print(__doc__.rsplit("\n\n", 1)[-1], file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(dns_hook())
    except OSError as error:
        print(f"lab.acme dns-hook: {error}", file=sys.stderr)
        sys.exit(1)

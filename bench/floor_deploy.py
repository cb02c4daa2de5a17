"""What a cold TabPy host cannot go below, measured on a deployed host over the deploy's own
connection (`pyinfra -y INVENTORY bench/floor_deploy.py --limit HOST`, run by bench/floor.py):

- copy + unpack: the bytes a cold deploy ships (the host's finished virtualenv from the
  controller's cache) streamed through the same SSH transport into `zstd -dc | tar -x` in a
  scratch folder, then removed;
- TabPy's own restart to its first answer: `systemctl restart` of its unit until its TLS port
  answers an HTTP request verified against the environment's CA (on the host, over loopback).

Prints `FLOOR copy_unpack SECONDS BYTES` and `FLOOR restart SECONDS`. Changes nothing that
stays: the scratch folder goes, and TabPy runs the same release afterwards."""

import json
import shlex
import time

from pyinfra.api import FunctionCommand, operation

from tabpy_provision.run import remote
from tabpy_provision.wheelhouse import venvs

SCRATCH = "/var/tmp/tabpy-provision-bench-floor"


def _cached_archive(venv: str):
    for manifest in venvs.default_cache_dir().glob(f"*{venvs.SUFFIX}.json"):
        record = json.loads(manifest.read_text())
        if record.get("venv") == venv:
            return manifest.with_name(manifest.name[:-len(".json")])
    raise SystemExit(f"bench floor: no finished virtualenv of {venv} in the controller's cache")


def _copy_unpack(state, host) -> bool:
    ok, output = remote.run(host, "readlink -f /etc/tabpy/current/venv")
    archive = _cached_archive(output.stdout.strip())
    q = shlex.quote(SCRATCH)
    started = time.monotonic()
    status, _, err = remote.stream(host, f"rm -rf {q} && mkdir -m 0700 {q} && "
                                         f"zstd -dc -q | tar -xf - --no-same-owner -C {q}",
                                   archive)
    seconds = time.monotonic() - started
    remote.run(host, f"rm -rf {q}")
    print(f"FLOOR copy_unpack {seconds:.3f} {archive.stat().st_size}", flush=True)
    return status == 0


def _restart(state, host) -> bool:
    fqdn = host.name
    answer = (f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/tabpy/ca.crt "
              f"--resolve {fqdn}:9004:127.0.0.1 https://{fqdn}:9004/info")
    started = time.monotonic()
    ok, output = remote.run(host, "systemctl restart tabpy.service && for i in $(seq 600); do "
                                  f"c=$({answer}); [ \"$c\" != 000 ] && echo $c && exit 0; "
                                  "sleep 0.02; done; exit 1")
    print(f"FLOOR restart {time.monotonic() - started:.3f} {output.stdout.strip()}", flush=True)
    return ok


@operation(is_idempotent=False)
def floor():
    yield FunctionCommand(_copy_unpack, (), {})
    yield FunctionCommand(_restart, (), {})


floor(name="Floor of a cold host (copy + unpack, TabPy's restart)")

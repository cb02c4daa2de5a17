"""Generated inputs read back by their real consumers on lab hosts (issue: hardening):
whatever the checks accept is, to the program that reads it, what was meant.

- password files: TabPy's `parse_pwd_file` (app/util.py) and `hash_password`
  (handlers/util.py) from the host's TabPy virtualenv, for 1,500 files of generated users;
- tabpy.conf: `ConfigParser(os.environ)` as TabPy's app.py builds it, in the host's Python,
  for 1,500 generated values of a free-text setting;
- haproxy.cfg and keepalived.conf of a pool balancer with generated names, users, passwords,
  ports, intervals and interfaces: `haproxy -c` and `keepalived --config-test` on a balancer,
  300 of each."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shlex
import subprocess

from lab import paths
from tabpy_provision.server import passwords, render
from tabpy_provision.settings import value_checks
from tests.integration.conftest import TABPY_HOSTS, lab_host, lab_plans

COUNT = 1500
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-"
#: What parsers treat specially: quotes, separators, comment and interpolation marks, line
#: breaks of every kind, non-ASCII.
NASTY = "\"' \t#;:=%$[]{}\\/,\r\n\x0b\x0c\x1c\x85\u2028é€\x00"

READER = """
import configparser, json, os, sys, tempfile
from tabpy.tabpy_server.app.util import parse_pwd_file
from tabpy.tabpy_server.handlers.util import hash_password
cases = json.load(sys.stdin)
out = {"passwords": [], "configs": []}
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "f")
    for content, users in cases["passwords"]:
        with open(path, "w", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
            handle.write(content)
        ok, read = parse_pwd_file(path)
        out["passwords"].append([ok, read, {u: hash_password(u, pw) for u, pw in users.items()}])
    for content in cases["configs"]:
        parser = configparser.ConfigParser(os.environ)  # as TabPy's app.py
        parser.read_string(content)
        keys = configparser.ConfigParser()  # the file's own keys, without the environment's
        keys.read_string(content)
        out["configs"].append([parser.get("TabPy", "TABPY_OAUTH_ISSUER"),
                               sorted(keys.options("TabPy"))])
json.dump(out, sys.stdout)
"""


def word(chance: random.Random, low: int, high: int) -> str:
    return "".join(chance.choice(NASTY if chance.random() < 0.15 else SAFE)
                   for _ in range(chance.randint(low, high)))


def on_tabpy_host(cases: dict) -> dict:
    python = "/etc/tabpy/current/venv/bin/python"
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), TABPY_HOSTS[0],
                           f"{python} -c {shlex.quote(READER)}"], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def test_accepted_users_and_values_read_back_through_tabpys_own_code(converged):
    chance = random.Random(2016)
    password_cases, accepted_users = [], 0
    while len(password_cases) < COUNT:
        users = {name: word(chance, 12, 30) for name in
                 (word(chance, 1, 20) for _ in range(chance.randint(1, 3)))
                 if passwords.user_name_problem(name) is None}
        if len({name.lower() for name in users}) != len(users) or not users:
            continue
        accepted_users += len(users)
        password_cases.append((passwords.render_password_file(users).decode(), users))
    plan = lab_plans()[TABPY_HOSTS[0]]
    values = []
    while len(values) < COUNT:
        value = "https://" + word(chance, 1, 40)
        if value_checks.non_empty_text(value) is None:
            values.append(value)
    configs = [render.tabpy_config(dataclasses.replace(
        plan, values={**plan.values, "tabpy_oauth_enabled": True, "tabpy_oauth_issuer": value,
                      "tabpy_oauth_audience": "tabpy",
                      "tabpy_oauth_jwks_uri": "https://idp.example.com/keys"}))
        for value in values]
    read = on_tabpy_host({"passwords": password_cases, "configs": configs})

    for (_, users), (ok, parsed, tabpy_hashes) in zip(password_cases, read["passwords"],
                                                      strict=True):
        assert ok, users
        assert parsed == {u.lower(): passwords.tabpy_hash(u, pw) for u, pw in users.items()}
        assert tabpy_hashes == {u: passwords.tabpy_hash(u, pw) for u, pw in users.items()}
    keys = read["configs"][0][1]
    for value, (issuer, options) in zip(values, read["configs"], strict=True):
        assert (issuer, options) == (value, keys)
    print(f"read back by TabPy: {COUNT} password files ({accepted_users} users), "
          f"{COUNT} configs")


def lab_pool():
    """The lab's first pool balancer's plan, as a deploy makes it."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    from tabpy_provision.controller.files import Staged
    from tabpy_provision.run.preflight import plan_pools
    from tabpy_provision.server.plan import plan_tabpy_server

    with ctx_state.use(State()):
        inventory = make_inventory("inventory/lab.py")
    plans = {h.name: plan_tabpy_server(h.name, h.data.dict())
             for h in inventory.get_group("tabpy_servers")}
    pools, problems = plan_pools(inventory, plans, Staged())
    assert problems == []
    return pools["tabpylb1.lab.test"]


def dns_name(chance: random.Random) -> str:
    while True:
        name = ".".join(word(chance, 1, 20) for _ in range(chance.randint(1, 4)))
        if value_checks.dns_name_problem(name) is None:
            return name


def test_generated_balancer_configs_pass_haproxy_and_keepalived_checks(converged):
    from tabpy_provision.pool import balancer
    from tabpy_provision.pool.balancer import Server, Vrrp

    chance = random.Random(1936)
    pool = lab_pool()
    haproxy, keepalived = [], []
    while len(haproxy) < 300:
        user = word(chance, 1, 20)
        if passwords.user_name_problem(user) is not None:
            continue
        servers = tuple(Server(s.host, dns_name(chance), s.address, chance.randint(1, 65535))
                        for s in pool.servers)
        haproxy.append(balancer.render_config(dataclasses.replace(
            pool, service_name=dns_name(chance), port=chance.randint(1, 65535),
            servers=servers, monitor_user=user, monitor_password=word(chance, 12, 40),
            check_interval_ms=chance.randint(100, 60_000), check_fall=chance.randint(1, 10),
            check_rise=chance.randint(1, 10), server_timeout_s=chance.randint(1, 3600))))
    interfaces: set[str] = set()
    # never one the balancer has (the test deletes what it made)
    taken = set(lab_host("tabpylb1.lab.test").check_output("ls /sys/class/net").split())
    while len(keepalived) < 300:
        interface = word(chance, 1, 15)
        if value_checks.interface_name(interface) is not None or interface in interfaces | taken:
            continue
        interfaces.add(interface)
        keepalived.append(balancer.keepalived_config(dataclasses.replace(
            pool, service_name=dns_name(chance), vrrp=Vrrp(
                f"169.254.{chance.randrange(256)}.{chance.randrange(1, 255)}",
                chance.randint(1, 255), chance.randint(1, 254), interface))))
    script = "".join(f"cat > /tmp/readback-{i}.cfg <<'EOF_{i}'\n{text}EOF_{i}\n"
                     for i, text in enumerate(haproxy))
    script += "".join(f"cat > /tmp/readback-{i}.conf <<'EOF_{i}'\n{text}EOF_{i}\n"
                      for i, text in enumerate(keepalived))
    # keepalived also refuses an interface the host lacks: each generated name becomes a veth
    # (multicast, as VRRP needs) first; the kernel, another real consumer, must take them all
    peers = {name: "rb-" + hashlib.sha256(name.encode()).hexdigest()[:12] for name in interfaces}
    script += "".join(f"ip link add name {shlex.quote(name)} type veth peer name {peer} "
                      "2>>/tmp/readback.err\n" for name, peer in peers.items())
    script += ("h=0; k=0\n"
               "for f in /tmp/readback-*.cfg; do haproxy -c -f $f >/tmp/readback.out 2>&1 "
               "&& h=$((h+1)) || cat /tmp/readback.out >>/tmp/readback.err; done\n"
               "for f in /tmp/readback-*.conf; do keepalived --config-test -f $f "
               ">/tmp/readback.out 2>&1 && k=$((k+1)) || cat /tmp/readback.out "
               ">>/tmp/readback.err; done\n")
    script += "".join(f"ip link del dev {shlex.quote(name)} 2>/dev/null\n" for name in interfaces)
    script += ("head -c 4000 /tmp/readback.err >&2; rm -f /tmp/readback*\n"
               "echo haproxy=$h keepalived=$k\n")
    done = subprocess.run(["ssh", "-F", str(paths.ssh_config_path()), "tabpylb1.lab.test", "sh"],
                          input=script, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.stdout.strip().splitlines()[-1:] == ["haproxy=300 keepalived=300"], \
        done.stderr[-3000:]

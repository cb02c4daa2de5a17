"""Who may reach TabPy: the fence planned from the inventory (firewall/rules.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import pwd
import shlex
import shutil
import subprocess

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.firewall import outbound, rules
from tabpy_provision.settings import table as settings

GROUPS = {"tabpy_servers": ["tabpy1"], "tableau_servers": ["tableau1"], "clients": ["client1"],
          "tabpy_lb": ["lb1", "lb2"], "unresolved": ["ghost"]}
ADDRESSES = {"tabpy1": ["192.0.2.11"], "tableau1": ["192.0.2.21"], "client1": ["192.0.2.31"],
             "lb1": ["192.0.2.51"], "lb2": ["192.0.2.52"], "ghost": []}


def fence(allowed=None, balancers=None, process_ports=(9004,), **options):
    return rules.plan_firewall(
        "tabpy1", service_port=9004, process_ports=list(process_ports), allowed=allowed,
        groups=GROUPS, address_of=ADDRESSES.__getitem__, balancers=balancers or {},
        controller=["192.0.2.1"], **options)


def sources(plan, port=9004):
    return {str(n) for rule in plan.rules if port in rule.ports for n in rule.sources}


def test_without_a_pool_tableau_and_the_clients_are_admitted_by_default():
    plan, problems = fence()
    assert problems == []
    assert sources(plan) == {"192.0.2.1/32", "192.0.2.21/32", "192.0.2.31/32"}


def test_with_a_pool_in_front_only_the_balancers_and_the_controller_are_admitted():
    plan, _ = fence(balancers={"lb1": ["192.0.2.51", "192.0.2.50"], "lb2": ["192.0.2.52"]})
    assert sources(plan) == {"192.0.2.1/32", "192.0.2.50/31", "192.0.2.52/32"}


def test_process_ports_behind_the_hosts_balancer_admit_no_listed_source():
    plan, _ = fence(allowed=["@clients", "198.51.100.0/24"], process_ports=(9101, 9102))
    assert sources(plan, 9004) == {"192.0.2.1/32", "192.0.2.31/32", "198.51.100.0/24"}
    assert sources(plan, 9101) == sources(plan, 9102) == {"192.0.2.1/32"}


@pytest.mark.parametrize(("allowed", "expected"), [
    (["@tableau"], "tabpy1: tabpy_allowed_sources: @tableau: no such inventory group"),
    (["tableau2"], "tabpy1: tabpy_allowed_sources: tableau2: not an inventory host"),
    (["@unresolved"], "tabpy1: tabpy_allowed_sources: the address of ghost (@unresolved) is "
                      "not known"),
])
def test_a_source_that_cannot_be_resolved_is_one_line_naming_host_and_field(allowed, expected):
    plan, problems = fence(allowed=allowed)
    assert plan is None and len(problems) == 1 and problems[0].startswith(expected)


@pytest.mark.parametrize("item", ["10.0.0.5/8", "300.1.1.1", "fe80::1/129", "", "@", "@a b",
                                  "host;rm", 5, None])
def test_bad_source_items_are_refused(item):
    assert rules.sources_problem([item]) is not None


@pytest.mark.parametrize("item", ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "@clients",
                                  "tableau1.example.com"])
def test_good_source_items_pass(item):
    assert rules.sources_problem([item]) is None


def test_the_ruleset_carries_its_digest_and_refuses_everyone_else_with_a_reset():
    plan, _ = fence(allowed=["2001:db8::/32"])
    text = plan.ruleset()
    assert rules.loaded_digest(text) == plan.digest
    assert 'iif "lo" accept' in text
    assert "tcp dport 9004 ip6 saddr { 2001:db8::/32 } accept" in text
    assert "\t\ttcp dport 9004 reject with tcp reset\n\t}\n\tchain tabpy_outbound {" in text
    assert f"delete table inet {rules.TABLE}" in text
    other, _ = fence(allowed=["2001:db8::/48"])
    assert other.digest != plan.digest


def test_a_table_listing_without_our_comment_has_no_digest():
    assert rules.loaded_digest("table inet tabpy_provision {\n}") is None
    assert rules.loaded_digest("") is None


addresses = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
    st.builds(lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)),
              st.ip_addresses(v=4), st.integers(0, 32)),
    st.builds(lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)),
              st.ip_addresses(v=6), st.integers(0, 128)))


def ipv4_form(network):
    """The oracle of IPv4-mapped networks, by arithmetic: ::ffff:a.b.c.d/96+n is a.b.c.d/n."""
    value = int(network.network_address)
    if network.version == 6 and network.prefixlen >= 96 and value >> 32 == 0xFFFF:
        return ipaddress.IPv4Network((value & 0xFFFFFFFF, network.prefixlen - 96))
    return network


@hypothesis_settings(max_examples=1000, deadline=None, database=None)
@given(st.lists(addresses, max_size=12))
def test_any_accepted_sources_are_admitted_exactly_and_never_overlap(listed):
    """nft refuses overlapping elements of a set: the sources are collapsed, and they cover
    exactly the listed networks (IPv4-mapped ones as IPv4) and the controller (nothing more,
    nothing lost). Everyone is allowed here: its refusal is tested below."""
    assert rules.sources_problem(listed) is None
    plan, problems = fence(allowed=listed, allow_everyone=True)
    assert problems == []
    admitted = plan.rules[0].sources
    for version in (4, 6):
        mine = [n for n in admitted if n.version == version]
        assert all(not a.overlaps(b) for i, a in enumerate(mine) for b in mine[i + 1:])
        wanted = [ipv4_form(ipaddress.ip_network(a)) for a in [*listed, "192.0.2.1"]]
        assert list(ipaddress.collapse_addresses(
            n for n in wanted if n.version == version)) == mine


def with_outbound(plan: rules.FirewallPlan, found) -> rules.FirewallPlan:
    """`plan` whose TabPy user reaches `found`."""
    return dataclasses.replace(plan, confined=(
        dataclasses.replace(plan.confined[0], outbound=tuple(found)),))


@pytest.mark.parametrize(("item", "rule"), [
    ("10.0.0.5:5432", "ip daddr 10.0.0.5/32 tcp dport 5432 accept"),
    ("10.20.0.0/16", "ip daddr 10.20.0.0/16 meta l4proto tcp accept"),
    ("10.0.0.2:53/udp", "ip daddr 10.0.0.2/32 udp dport 53 accept"),
    ("[2001:db8::/32]:443", "ip6 daddr 2001:db8::/32 tcp dport 443 accept"),
    ("api.example.com:443", "ip daddr 198.51.100.7/32 tcp dport 443 accept"),
])
def test_outbound_destinations_become_rules_of_tabpys_user_only(item, rule):
    assert outbound.destinations_problem([item]) is None
    found, problems = outbound.destinations([item], lambda name: ["198.51.100.7"], "f")
    plan, _ = fence()
    text = with_outbound(plan, found).ruleset()
    user_chain = text.split("chain tabpy_user_outbound {")[1]
    assert problems == [] and f"\t\t{rule}\n" in user_chain
    assert 'meta skuid "tabpy" jump tabpy_user_outbound' in text
    assert [line.strip() for line in user_chain.strip().splitlines()[-4:-2]] == [
        "meta l4proto tcp reject with tcp reset", "reject with icmpx admin-prohibited"]


@pytest.mark.parametrize("item", ["10.0.0.5/8", "10.0.0.1:0", "a:99999", "x y", ":80", "",
                                  "[fe80::1", "10.0.0.1:80/icmp", 7, "host;rm:80"])
def test_bad_outbound_items_are_refused(item):
    assert outbound.destinations_problem([item]) is not None


def test_a_network_listed_for_every_port_and_for_one_port_is_planned():
    """Found by the generated lists below: sorting them compared None with a port."""
    found, problems = outbound.destinations(["10.0.0.0/8:443", "10.0.0.0/8"], lambda name: [],
                                            "f")
    assert problems == [] and [str(d) for d in found] == ["10.0.0.0/8/tcp", "10.0.0.0/8:443/tcp"]


def test_an_outbound_name_that_does_not_resolve_is_one_line():
    _, problems = outbound.destinations(["db.example.com:5432"], lambda name: [],
                                        "tabpy1: tabpy_outbound_allowed")
    assert problems == ["tabpy1: tabpy_outbound_allowed: db.example.com:5432: the controller "
                        "cannot resolve db.example.com"]


# --- issue 26: every port TabPy listens on, replies from those only, everyone, mapped, zones ---

def user_chain(plan) -> list[str]:
    text = plan.ruleset().split("chain tabpy_user_outbound {\n")[1]
    return [line.strip() for line in text.split("\n\t}")[0].splitlines()]


def test_arrow_flights_port_is_fenced_like_tabpys_own():
    plan, problems = fence(allowed=["@clients", "198.51.100.0/24"], arrow_port=13622)
    assert problems == [] and plan.ports == (9004, 13622)
    assert sources(plan, 13622) == sources(plan, 9004) == {
        "192.0.2.1/32", "192.0.2.31/32", "198.51.100.0/24"}
    assert "\t\ttcp dport { 9004, 13622 } reject with tcp reset\n" in plan.ruleset()
    without, _ = fence(allowed=["@clients", "198.51.100.0/24"])
    assert without.ports == (9004,) and without.digest != plan.digest


@hypothesis_settings(max_examples=300, deadline=None, database=None)
@given(st.sets(st.integers(1024, 65535), max_size=6), st.none() | st.integers(1024, 65535))
def test_tabpys_user_answers_only_from_tabpys_listening_ports(process_ports, arrow_port):
    """Replies (ct direction reply) leave only from tabpy_port, the process ports and Arrow
    Flight's; a connection of TabPy's user continues only if it opened it; nothing related."""
    plan, _ = fence(process_ports=process_ports or (9004,), arrow_port=arrow_port)
    listening = sorted({9004, *process_ports, *([arrow_port] if arrow_port else [])})
    ports = str(listening[0]) if len(listening) == 1 else \
        "{ " + ", ".join(map(str, listening)) + " }"
    assert plan.ports == tuple(listening)
    assert user_chain(plan) == [
        'oif "lo" accept',
        "ct direction original ct state established accept",
        f"ct direction reply ct state established tcp sport {ports} accept",
        "meta l4proto tcp reject with tcp reset",
        "reject with icmpx admin-prohibited"]


def test_the_digest_covers_both_chains_and_changes_with_any_rule():
    plan, _ = fence(allowed=["198.51.100.0/24"], process_ports=(9101, 9102))
    text = plan.ruleset()
    chains = text.split(f'\tcomment "tabpy-provision {plan.digest}"\n')[1].rsplit("\n}\n", 1)[0]
    assert "ct direction reply" in chains and hashlib.sha256(chains.encode()).hexdigest() \
        == plan.digest == rules.loaded_digest(text)
    found, _ = outbound.destinations(["198.51.100.9:443"], lambda name: [], "f")
    others = [fence(allowed=["198.51.100.0/24"], process_ports=(9101, 9103))[0],
              fence(allowed=["198.51.100.0/24"], process_ports=(9101, 9102),
                    arrow_port=13622)[0],
              with_outbound(plan, found)]
    assert len({plan.digest, *(other.digest for other in others)}) == 4


EVERYONE_SOURCES = [["0.0.0.0/0"], ["::/0"], ["::ffff:0:0/96"], ["0.0.0.0/1", "128.0.0.0/1"],
                    ["@clients", "::/1", "8000::/1"]]


@pytest.mark.parametrize("listed", EVERYONE_SOURCES)
def test_sources_that_admit_everyone_are_refused_unless_allowed_then_warned(listed):
    plan, problems = fence(allowed=listed)
    assert plan is None and len(problems) == 1
    assert problems[0].startswith("tabpy1: tabpy_allowed_sources: the listed sources cover ")
    assert problems[0].endswith(", everyone: list only the networks that need it, or set "
                                "tabpy_fence_allow_everyone: true")
    plan, problems = fence(allowed=listed, allow_everyone=True)
    assert problems == [] and len(plan.warnings) == 1
    assert plan.warnings[0].startswith("tabpy1: tabpy_allowed_sources: ")
    assert plan.warnings[0].endswith("(tabpy_fence_allow_everyone: true)")


@pytest.mark.parametrize(("items", "reached"), [
    (["0.0.0.0/0"], ["0.0.0.0/0/tcp"]),
    (["[::/0]:443", "0.0.0.0/0:53/udp"], ["[::/0]:443/tcp", "0.0.0.0/0:53/udp"]),
    (["[::ffff:0:0/96]:443"], ["0.0.0.0/0:443/tcp"]),
    (["0.0.0.0/1", "128.0.0.0/1:443", "0.0.0.0/0:80"], ["0.0.0.0/0:80/tcp", "0.0.0.0/0:443/tcp"]),
    (["0.0.0.0/0", "0.0.0.0/0:443"], ["0.0.0.0/0/tcp"]),
])
def test_destinations_that_reach_everyone_are_refused_unless_allowed(items, reached):
    found, _ = outbound.destinations(items, lambda name: [], "f")
    plan, problems = fence(outbound=found)
    assert plan is None and problems == [
        f"tabpy1: tabpy_outbound_allowed: {where} reaches everyone: list only the networks that "
        "need it, or set tabpy_fence_allow_everyone: true" for where in reached]
    plan, problems = fence(outbound=found, allow_everyone=True)
    assert problems == [] and plan.warnings == tuple(
        f"tabpy1: tabpy_outbound_allowed: {where} reaches everyone "
        "(tabpy_fence_allow_everyone: true)" for where in reached)


def covers_a_family(networks, version) -> bool:
    """The oracle: the networks' address ranges, merged by arithmetic, are the whole family."""
    end = (1 << (32 if version == 4 else 128)) - 1
    reach = -1
    for first, last in sorted((int(n.network_address), int(n.broadcast_address))
                              for n in networks if n.version == version):
        if first > reach + 1:
            return False
        reach = max(reach, last)
    return reach == end


wide = st.one_of(
    st.builds(lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)),
              st.ip_addresses(v=4), st.integers(0, 3)),
    st.builds(lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)),
              st.ip_addresses(v=6), st.integers(0, 3)),
    st.builds(lambda a, p: str(ipaddress.ip_network(f"::ffff:{a}/{96 + p}", strict=False)),
              st.ip_addresses(v=4), st.integers(0, 3)),
    addresses)


@hypothesis_settings(max_examples=500, deadline=None, database=None)
@given(st.lists(wide, max_size=10), st.lists(st.tuples(wide, st.sampled_from(["", ":443"])),
                                              max_size=10))
def test_everyone_in_either_list_is_refused_exactly_when_the_lists_cover_a_family(
        listed, reached):
    """Generated lists of wide networks (prefixes 0-3, IPv4-mapped too): a problem line per
    address family the sources cover, and per family and port the destinations cover (a port's
    own items count with the every-port ones); none otherwise."""
    items = [f"[{n}]{port}" if ":" in n else f"{n}{port}" for n, port in reached]
    assert rules.sources_problem(listed) is None and outbound.destinations_problem(items) is None
    found, _ = outbound.destinations(items, lambda name: [], "f")
    plan, problems = fence(allowed=listed, outbound=found)
    sources_ = [ipv4_form(ipaddress.ip_network(a)) for a in listed]
    every = [ipv4_form(ipaddress.ip_network(n)) for n, port in reached if not port]
    at_443 = [*every, *(ipv4_form(ipaddress.ip_network(n)) for n, port in reached if port)]
    expected = sum(covers_a_family(sources_, v) + covers_a_family(every, v)
                   + (covers_a_family(at_443, v) and not covers_a_family(every, v))
                   for v in (4, 6))
    assert len(problems) == expected and (plan is None) == bool(expected)
    assert all("tabpy_fence_allow_everyone: true" in line for line in problems)
    allowed, _ = fence(allowed=listed, outbound=found, allow_everyone=True)
    assert len(allowed.warnings) == expected


@pytest.mark.parametrize(("listed", "admitted"), [
    (["::ffff:198.51.100.7"], "192.0.2.1/32, 198.51.100.7/32"),
    (["::ffff:198.51.100.0/120", "::ffff:c633:6407"], "192.0.2.1/32, 198.51.100.0/24"),
    (["::ffff:203.0.113.0/121", "203.0.113.128/25"], "192.0.2.1/32, 203.0.113.0/24"),
])
def test_ipv4_mapped_sources_are_matched_as_the_ipv4_client(listed, admitted):
    plan, problems = fence(allowed=listed)
    assert problems == [] and "ip6 saddr" not in plan.ruleset()
    assert f"tcp dport 9004 ip saddr {{ {admitted} }} accept" in plan.ruleset()


def test_an_inventory_host_known_by_its_ipv4_mapped_address_is_admitted_as_ipv4():
    plan, _ = rules.plan_firewall(
        "tabpy1", service_port=9004, process_ports=[9004], allowed=["client1"],
        groups={"clients": ["client1"]}, address_of=lambda name: ["::ffff:192.0.2.31"],
        balancers={}, controller=["::ffff:192.0.2.1"])
    assert sources(plan) == {"192.0.2.1/32", "192.0.2.31/32"}


@hypothesis_settings(max_examples=500, deadline=None, database=None)
@given(st.ip_addresses(v=4), st.integers(1, 32))
@example(ipaddress.IPv4Address("192.0.2.0"), 32)  # the controller's neighbour: merged into a /31
def test_any_ipv4_mapped_network_is_the_ipv4_network_in_both_lists(address, prefix):
    mapped = ipaddress.ip_network(f"::ffff:{address}/{96 + prefix}", strict=False)
    ipv4 = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    for text in (str(mapped), f"::ffff:{mapped.network_address.ipv4_mapped}/{96 + prefix}"):
        assert rules.sources_problem([text]) is None
        plan, _ = fence(allowed=[text])
        # admitted as IPv4; merged with the controller's 192.0.2.1 when they are neighbours
        assert any(source.version == 4 and ipv4.subnet_of(source)
                   for source in plan.rules[0].sources), plan.rules[0].sources
        found, _ = outbound.destinations([f"[{text}]:443"], lambda name: [], "f")
        assert [d.rule() for d in found] == [f"ip daddr {ipv4} tcp dport 443 accept"]


def test_a_v6_network_wider_than_the_mapped_block_stays_v6():
    plan, _ = fence(allowed=["::fffe:0:0/95"])
    assert "ip6 saddr { ::fffe:0:0/95 }" in plan.ruleset()


@pytest.mark.parametrize(("setting", "item", "zone"), [
    ("tabpy_allowed_sources", "fe80::1%eth0", "%eth0"),
    ("tabpy_allowed_sources", "fe80::%enp3s0/64", "%enp3s0"),
    ("tabpy_allowed_sources", "fe80::1%2", "%2"),
    ("tabpy_outbound_allowed", "[fe80::1%eth0]:443", "%eth0"),
    ("tabpy_outbound_allowed", "[fe80::%eth0/64]", "%eth0"),
    ("tabpy_outbound_allowed", "[fe80::1%eth0]:53/udp", "%eth0"),
])
def test_a_zone_id_is_refused_in_both_lists_naming_host_field_and_zone(setting, item, zone):
    assert settings.check_values("tabpy1", {setting: [item]}) == [
        f"tabpy1: {setting}: {item!r}: a zone id ({zone}) cannot be fenced: nftables matches "
        "addresses, not the interface a zone names; give the address or network without it"]


def test_everyone_is_a_network_setting_off_by_default():
    setting = settings.BY_NAME[rules.ALLOW_EVERYONE]
    assert (setting.default, setting.role) == (False, "network")
    assert settings.check_values("tabpy1", {rules.ALLOW_EVERYONE: "yes"}) == [
        "tabpy1: tabpy_fence_allow_everyone: must be true or false, got 'yes'"]


# --- the real consumer: nft itself, check mode (never loaded) ---------------------------------

@pytest.fixture(scope="module")
def nft() -> str:
    """Not skipped when missing: the controller has nftables (lab/base.py's prerequisites, which
    `make test` installs), and `nft -c` needs root (CAP_NET_ADMIN), as `make test` is run."""
    found = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail("nft is missing: apt-get install nftables (python -m lab up installs it)")
    return found


destinations = st.tuples(addresses, st.sampled_from(["", ":53", ":443", ":5432"]),
                         st.sampled_from(["", "/udp"])).map(
    lambda t: f"[{t[0]}]{t[1]}{t[2]}" if ":" in t[0] else "".join(t))


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(st.lists(addresses, max_size=8), st.sets(st.integers(1024, 65535), max_size=4),
       st.none() | st.integers(1024, 65535), st.lists(destinations, max_size=8),
       st.booleans(), st.none() | st.integers(1024, 65535))
def test_nft_accepts_every_generated_ruleset(nft, listed, process_ports, arrow_port, items,
                                             pool, rserve_port):
    """`nft -c` reads every ruleset the planner makes of generated sources (v4, v6,
    IPv4-mapped, prefix 0 with tabpy_fence_allow_everyone), process ports, Arrow Flight's port,
    destinations, and Rserve's port and user on the same host: every chain, the reply rules'
    port sets among them. The users must exist where nft runs (it resolves the names): this
    process's own."""
    found, _ = outbound.destinations(items, lambda name: [], "f")
    plan, problems = rules.plan_firewall(
        "tabpy1", service_port=9004, process_ports=sorted(process_ports) or [9004],
        allowed=listed, groups={}, address_of=lambda name: [],
        balancers={"lb1": ["192.0.2.51", "2001:db8::51"]} if pool else {},
        controller=["192.0.2.1"], user=pwd.getpwuid(os.getuid()).pw_name, outbound=found,
        arrow_port=arrow_port, allow_everyone=True)
    assert problems == []
    if rserve_port is not None:
        rserve, problems = rules.plan_firewall(
            "tabpy1", service_port=rserve_port, process_ports=[], allowed=listed, groups={},
            address_of=lambda name: [], balancers={}, controller=["192.0.2.1"],
            user=pwd.getpwuid(os.getuid()).pw_name, outbound=found, allow_everyone=True,
            service="rserve")
        assert problems == []
        plan = plan.joined(rserve)
    checked = subprocess.run([nft, "-c", "-f", "-"], input=plan.ruleset(), capture_output=True,
                             text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr


def rserve_fence(**options):
    return rules.plan_firewall(
        "rserve1", service_port=6311, process_ports=[], groups=GROUPS,
        address_of=ADDRESSES.__getitem__, balancers={}, controller=["192.0.2.1"],
        user="rserve", service="rserve", **options)


def test_rserves_fence_admits_its_sources_on_its_port_and_confines_its_user():
    plan, problems = rserve_fence(allowed=["198.51.100.0/24"])
    assert problems == [] and [rule.ports for rule in plan.rules] == [(6311,)]
    assert sources(plan, 6311) == {"192.0.2.1/32", "198.51.100.0/24"}
    text = plan.ruleset()
    assert 'meta skuid "rserve" jump rserve_user_outbound' in text
    assert "ct direction reply ct state established tcp sport 6311 accept" in text
    _, problems = rserve_fence(allowed=["@nowhere", "0.0.0.0/0"])
    assert problems == [
        "rserve1: rserve_allowed_sources: @nowhere: no such inventory group",
        "rserve1: rserve_allowed_sources: the listed sources cover 0.0.0.0/0, everyone: list "
        "only the networks that need it, or set tabpy_fence_allow_everyone: true"]


def test_a_host_serving_both_has_one_table_with_both_services_and_users():
    tabpy, _ = fence(allowed=["198.51.100.0/24"])
    rserve, _ = rserve_fence(allowed=["203.0.113.0/24"])
    both = tabpy.joined(rserve)
    assert sources(both, 9004) == sources(tabpy, 9004)
    assert sources(both, 6311) == sources(rserve, 6311)
    text = both.ruleset()
    assert text.count("type filter hook output") == 1
    assert 'meta skuid "tabpy" jump tabpy_user_outbound' in text
    assert 'meta skuid "rserve" jump rserve_user_outbound' in text
    # each user answers only from its own ports
    tabpy_chain = text.split("chain tabpy_user_outbound {")[1].split("\t}")[0]
    assert "tcp sport 9004 accept" in tabpy_chain and "6311" not in tabpy_chain
    assert both.digest not in {tabpy.digest, rserve.digest}
    assert "tcp dport { 6311, 9004 } reject with tcp reset" in text


def test_every_nftables_service_command_loads_the_fence_in_its_own_batch():
    """Start, reload and stop of nftables.service each run one `nft` (one transaction) that
    ends with the fence: the host's ruleset (or the stop's flush) never runs alone."""
    commands = {}
    for line in rules.nftables_dropin().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("Exec") and value:
            commands[key] = shlex.split(value)
    fence = f'include "{rules.RULESET_PATH}"'
    host = f'include "{rules.HOST_RULESET_PATH}"'
    assert commands == {"ExecStart": ["/usr/sbin/nft", f"{host}; {fence}"],
                        "ExecReload": ["/usr/sbin/nft", f"{host}; {fence}"],
                        "ExecStop": ["/usr/sbin/nft", f"flush ruleset; {fence}"]}
    # each replaces the packaged command rather than adding a second one after it
    assert rules.nftables_dropin().count("ExecStart=\n") == 1
    assert "PartOf" not in rules.unit_file()

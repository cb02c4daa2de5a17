"""Who may reach TabPy: the fence planned from the inventory (firewall/rules.py)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.firewall import outbound, rules

GROUPS = {"tabpy_servers": ["tabpy1"], "tableau_servers": ["tableau1"], "clients": ["client1"],
          "tabpy_lb": ["lb1", "lb2"], "unresolved": ["ghost"]}
ADDRESSES = {"tabpy1": ["192.0.2.11"], "tableau1": ["192.0.2.21"], "client1": ["192.0.2.31"],
             "lb1": ["192.0.2.51"], "lb2": ["192.0.2.52"], "ghost": []}


def fence(allowed=None, balancers=None, process_ports=(9004,)):
    return rules.plan_firewall(
        "tabpy1", service_port=9004, process_ports=list(process_ports), allowed=allowed,
        groups=GROUPS, address_of=ADDRESSES.__getitem__, balancers=balancers or {},
        controller=["192.0.2.1"])


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


@hypothesis_settings(max_examples=1000, deadline=None, database=None)
@given(st.lists(addresses, max_size=12))
def test_any_accepted_sources_are_admitted_exactly_and_never_overlap(listed):
    """nft refuses overlapping elements of a set: the sources are collapsed, and they cover
    exactly the listed networks and the controller (nothing more, nothing lost)."""
    assert rules.sources_problem(listed) is None
    plan, problems = fence(allowed=listed)
    assert problems == []
    admitted = plan.rules[0].sources
    for version in (4, 6):
        mine = [n for n in admitted if n.version == version]
        assert all(not a.overlaps(b) for i, a in enumerate(mine) for b in mine[i + 1:])
        wanted = [ipaddress.ip_network(a) for a in [*listed, "192.0.2.1"]
                  if ipaddress.ip_network(a).version == version]
        assert list(ipaddress.collapse_addresses(wanted)) == mine


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
    text = rules.FirewallPlan(plan.host, plan.rules, "tabpy", found).ruleset()
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

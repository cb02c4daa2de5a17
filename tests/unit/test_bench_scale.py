"""The scale bench's arithmetic and the lab's scale hosts (bench/scale.py, lab/hosts.py)."""

import ipaddress

import pytest

from bench import scale
from lab import hosts


def test_the_line_through_the_points_is_found():
    intercept, slope = scale.line_fit([(1, 3.0), (5, 7.0), (10, 12.0), (20, 22.0)])
    assert intercept == pytest.approx(2.0)
    assert slope == pytest.approx(1.0)


def test_one_point_is_a_flat_line():
    assert scale.line_fit([(1, 4.5)]) == (4.5, 0.0)


def test_scale_hosts_are_distinct_lab_addresses_apart_from_the_lab_and_its_names():
    network = ipaddress.ip_network(hosts.NETWORK)
    taken = {h.address for h in hosts.LAB_HOSTS} | set(hosts.SERVICE_NAMES.values())
    addresses = [h.address for h in hosts.SCALE_HOSTS]
    assert len(set(addresses)) == len(addresses)
    assert not taken & set(addresses)
    assert all(ipaddress.ip_address(a) in network and a != hosts.GATEWAY for a in addresses)
    assert len({h.name for h in hosts.EVERY_HOST}) == len(hosts.EVERY_HOST)


def test_scale_hosts_are_found_by_name_and_counted_within_bounds():
    assert hosts.get_host("scale3.lab.test") == hosts.SCALE_HOSTS[2]
    assert [h.name for h in hosts.scale_hosts(2)] == ["scale1", "scale2"]
    assert hosts.scale_hosts(0) == ()
    for wrong in (-1, len(hosts.SCALE_HOSTS) + 1):
        with pytest.raises(ValueError, match="scale hosts"):
            hosts.scale_hosts(wrong)
    with pytest.raises(KeyError, match="scale1 to scale90"):
        hosts.get_host("scale91")

"""The fence around TabPy: an nftables table of this tool's own. rules.py (pure): who may reach
TabPy's ports; outbound.py (pure): where TabPy's user may connect; networks.py (pure): addresses
and networks as nftables matches them; addresses.py: the addresses the controller knows;
operations.py (pyinfra): a host's table kept equal to its plan."""

from tabpy_provision.firewall.rules import FirewallPlan, plan_firewall

__all__ = ["FirewallPlan", "plan_firewall"]

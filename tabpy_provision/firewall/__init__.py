"""Who may reach TabPy on a host: an nftables table of this tool's own (rules.py, pure) and
the operation that keeps a host's table equal to its plan (operations.py)."""

from tabpy_provision.firewall.rules import (
    FirewallPlan,
    PortRule,
    plan_firewall,
    sources_problem,
)

__all__ = ["FirewallPlan", "PortRule", "plan_firewall", "sources_problem"]

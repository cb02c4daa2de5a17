"""The fence's facts (pyinfra): the nftables table a host has loaded, the resolvers TabPy's user
may reach."""

from __future__ import annotations

import ipaddress

from pyinfra.api import FactBase, StringCommand

from tabpy_provision.firewall import rules as fence_rules


class FenceLoaded(FactBase):
    """The digest of the tabpy-provision nftables table the host has loaded, or None (no
    table, or no nft)."""

    def command(self):
        return StringCommand("if command -v nft >/dev/null; then nft list table inet",
                             fence_rules.TABLE, "2>/dev/null || true; fi")

    def process(self, output):
        return fence_rules.loaded_digest("\n".join(output))


class Nameservers(FactBase):
    """The non-loopback DNS resolvers of /etc/resolv.conf, bracketed when IPv6."""

    default = list

    def command(self):
        return "sed -n 's/^nameserver[[:space:]]*//p' /etc/resolv.conf 2>/dev/null || true"

    def process(self, output):
        found = []
        for line in output:
            try:
                address = ipaddress.ip_address(line.strip().split("%")[0])
            except ValueError:
                continue
            if not address.is_loopback:
                found.append(f"[{address}]" if address.version == 6 else str(address))
        return found

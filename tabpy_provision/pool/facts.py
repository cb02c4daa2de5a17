"""The pool's facts (pyinfra): the interface keepalived holds the pool's address on."""

from __future__ import annotations

import ipaddress

from pyinfra.api import FactBase


class InterfaceFor(FactBase):
    """The interface whose IPv4 network holds `address` (the address itself, which keepalived
    may have added there, does not count), or None."""

    def command(self, address):
        self.address = ipaddress.ip_address(address)  # for process (pyinfra's own pattern)
        return "ip -o -4 addr show"

    def process(self, output):
        for line in output:  # "2: eth0    inet 169.254.213.51/24 brd ... scope global eth0"
            fields = line.split()
            if len(fields) > 3 and fields[2] == "inet":
                interface = ipaddress.ip_interface(fields[3])
                if interface.ip != self.address and self.address in interface.network:
                    return fields[1]
        return None

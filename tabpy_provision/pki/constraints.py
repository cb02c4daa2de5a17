"""Name constraints of the private CA (RFC 5280, 4.2.1.10): the DNS subtrees and IP networks
its certificates may name, so that its keys cannot vouch for any other site.

Derived from the names the CA issues for: a DNS name permits its domain (tabpy1.lab.test ->
lab.test), a name of one or two labels permits itself (its domain would be a whole top-level
domain), a wildcard permits what it stands for (*.svc.lab.test -> svc.lab.test), an IP address
permits itself (/32, /128). An IP version no name needs is excluded whole (0.0.0.0/0, ::/0):
without a subtree of its form a verifier accepts any address. Pure: standard library and
``cryptography``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from tabpy_provision.pki.certs import extension_of, parse_ip_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: RFC 6761's reserved top-level domain: what a CA that issues for no DNS name permits.
NO_DNS_NAME = "invalid"
_EVERY_ADDRESS = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}


def _within(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


@dataclass(frozen=True)
class Permitted:
    """What a CA certificate permits: DNS subtrees and IP networks, none inside another."""

    domains: tuple[str, ...]
    networks: tuple[Network, ...]

    @classmethod
    def of(cls, domains: Iterable[str], networks: Iterable[Network]) -> Permitted:
        names = {d.lower().strip(".") for d in domains} or {NO_DNS_NAME}
        nets = set(networks)
        return cls(
            tuple(sorted(d for d in names if not any(_within(d, o) for o in names - {d}))),
            tuple(sorted((n for n in nets if not any(
                n.version == o.version and n.subnet_of(o) for o in nets - {n})),
                key=lambda n: (n.version, n))))

    def covers(self, name: str) -> bool:
        """Whether a certificate may carry `name` (a DNS name, a wildcard or an address)."""
        address = parse_ip_address(name)
        if address is not None:
            return any(address in network for network in self.networks)
        base = name.lower().rstrip(".").removeprefix("*.")
        return any(_within(base, domain) for domain in self.domains)

    def within(self, other: Permitted | None) -> Permitted:
        """The part of these subtrees that `other` permits too (None: no constraints)."""
        if other is None:
            return self
        return Permitted.of(
            [d for d in self.domains if other.covers(d)] +
            [d for d in other.domains if self.covers(d)],
            [n for n in self.networks
             if any(n.version == o.version and n.subnet_of(o) for o in other.networks)] +
            [o for o in other.networks
             if any(o.version == n.version and o.subnet_of(n) for n in self.networks)])

    def extension(self) -> x509.NameConstraints:
        versions = {network.version for network in self.networks}
        excluded = [x509.IPAddress(every) for version, every in _EVERY_ADDRESS.items()
                    if version not in versions]
        return x509.NameConstraints(
            permitted_subtrees=[*map(x509.DNSName, self.domains),
                                *map(x509.IPAddress, self.networks)],
            excluded_subtrees=excluded or None)

    def __str__(self) -> str:
        return ", ".join([*self.domains, *map(str, self.networks)])


def domain_of(name: str) -> str:
    """The DNS subtree a name the CA issues for permits by default."""
    name = name.lower().rstrip(".")
    if name.startswith("*."):
        return name[2:]
    labels = name.split(".")
    return name if len(labels) <= 2 else ".".join(labels[1:])


def permitted_for(names: Iterable[str], widen: Iterable[str] = ()) -> Permitted:
    """The constraints of a CA that issues for `names` (DNS names, wildcards, addresses),
    widened by `widen` (DNS domains and IP networks, taken as given)."""
    domains: list[str] = []
    networks: list[Network] = []
    for name in names:
        address = parse_ip_address(name)
        if address is None:
            domains.append(domain_of(name))
        else:
            networks.append(ipaddress.ip_network(address))
    for entry in widen:
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError:
            domains.append(entry)
    return Permitted.of(domains, networks)


def of_certificate(cert: x509.Certificate) -> Permitted | None:
    """What a CA certificate permits; None: it carries no name constraints."""
    found = extension_of(cert, x509.NameConstraints)
    if found is None:
        return None
    subtrees = found.permitted_subtrees or []
    return Permitted.of([g.value for g in subtrees if isinstance(g, x509.DNSName)],
                        [g.value for g in subtrees if isinstance(g, x509.IPAddress)])


def permits(cert: x509.Certificate, name: str) -> bool:
    permitted = of_certificate(cert)
    return permitted is None or permitted.covers(name)


def coverage_problem(field: str, name: str, root: x509.Certificate,
                     intermediate: x509.Certificate) -> str | None:
    """Why the CA cannot issue for `name` (read from setting `field`), with the fix."""
    if not permits(root, name):
        # The name must leave the inventory meanwhile: with it, every deploy stops here.
        return (f"{field}: {name} is outside the name constraints of the private CA "
                f"({of_certificate(root)}): take it out of the inventory, add it or its domain "
                "to pki_permitted_names, rotate the root (tabpy-provision ca "
                "rotate-root, deploy, ca activate-root, deploy), then put it back "
                "(docs/certificates.md)")
    if not permits(intermediate, name):
        return (f"{field}: {name} is outside the name constraints of the private CA's "
                f"intermediate ({of_certificate(intermediate)}) but inside its root's: "
                "tabpy-provision ca rotate-intermediate, then deploy")
    return None

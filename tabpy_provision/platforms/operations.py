"""pyinfra operations for what differs between distributions (platforms/__init__.py): packages
through the distribution's manager, TabPy's ports in its firewall front end, SELinux labels."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.operations import apt, dnf

from tabpy_provision import platforms
from tabpy_provision.platforms import Platform
from tabpy_provision.platforms.facts import FirewallPorts, RelabelNeeded, SelinuxMode, SelinuxPorts


def os_packages(platform: Platform, packages: list[str], name: str):
    """The packages installed by the distribution's manager, from the host's own configured
    repositories (a mirror on an air-gapped site); nothing when all are there."""
    manager = apt if platform.packager == "apt" else dnf
    return manager.packages(name=name, packages=packages)


@operation()
def firewall_ports_open(platform: Platform, ports: list[int]):
    """The ports open in the distribution's firewall front end when it runs (firewalld on
    RHEL, ufw on Ubuntu): its rules would otherwise drop what the fence allows."""
    if platform.firewall is None:
        return
    opened = host.get_fact(FirewallPorts, frontend=platform.firewall)
    if opened is not None and platforms.open_ports_missing(opened, ports):
        for command in platforms.open_port_commands(platform, ports):
            yield StringCommand(command)


@operation()
def selinux_labelled(ports: list[int], paths: list[str], balancer: bool = False):
    """With SELinux on (enforcing or permissive): the ports labelled for TabPy and HAProxy and
    the deploy's files carrying their default labels (a file moved into place keeps the label
    of where it was made)."""
    if host.get_fact(SelinuxMode) == "disabled":
        return
    labelled = host.get_fact(SelinuxPorts, port_type=platforms.SELINUX_PORT_TYPE)
    relabel = host.get_fact(RelabelNeeded, paths=paths)
    if platforms.labelled_ports_missing(labelled, ports) or relabel:
        for command in platforms.selinux_commands(ports, paths if relabel else (),
                                                  balancer=balancer):
            yield StringCommand(command)

"""The SSH connector's corrections (tabpy_provision/run/hosts.py) that need no host."""

import socket
from types import SimpleNamespace

from tabpy_provision.run.hosts import _send_without_delay


def _connector(sock):
    transport = SimpleNamespace(sock=sock)
    return SimpleNamespace(client=SimpleNamespace(get_transport=lambda: transport)), transport


def test_a_tcp_connection_sends_without_waiting_for_acknowledgements():
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        connector, transport = _connector(sock)
        _send_without_delay(connector)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert transport.sends_without_delay


def test_a_proxied_or_closed_connection_is_left_alone():
    proxy, _ = _connector(object())  # a ProxyCommand: no TCP socket of ours
    _send_without_delay(proxy)
    _send_without_delay(SimpleNamespace(client=None))
    _send_without_delay(SimpleNamespace(client=SimpleNamespace(get_transport=lambda: None)))

"""C{proxy:systemd:} wraps a socket inherited from systemd: over a real loopback socket."""

from __future__ import annotations

import socket

from twisted.internet import endpoints, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import AdoptedStreamServerEndpoint, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import TestCase

from pptwisted import ProxyProtocolServerEndpoint


class Recorder(Protocol):
    def connectionMade(self) -> None:
        assert self.transport is not None
        self.factory.seen.callback(self.transport.getPeer())  # type: ignore[attr-defined]


class SystemdTests(TestCase):
    """proxy:systemd: wraps a socket inherited from systemd."""

    @inlineCallbacks
    def test_adopted_socket(self):  # type: ignore[no-untyped-def]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        address = listener.getsockname()
        # The adopting endpoint closes the descriptor it inherits.
        self.patch(endpoints._SystemdParser, "_sddaemon", ListenFDs([listener.detach()]))
        endpoint = serverFromString(reactor, "proxy:systemd:domain=INET:index=0:proxyTimeout=5")
        self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint)
        self.assertIsInstance(endpoint.endpoint, AdoptedStreamServerEndpoint)
        factory = Factory.forProtocol(Recorder)
        factory.seen = Deferred()  # type: ignore[attr-defined]
        port = yield endpoint.listen(factory)
        self.addCleanup(port.stopListening)
        client = socket.create_connection(address, timeout=5)
        self.addCleanup(client.close)
        client.sendall(b"PROXY TCP4 203.0.113.5 127.0.0.1 999 80\r\n")
        peer = yield factory.seen.addTimeout(5, reactor)
        self.assertEqual(peer, IPv4Address("TCP", "203.0.113.5", 999))

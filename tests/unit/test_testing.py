"""
Tests for pptwisted.testing: an application behind proxy: tested without a
network.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from pptwisted import ProxyHeader, ProxyProtocolPolicy, get_proxy_header
from pptwisted.testing import LOAD_BALANCER, proxied_connection

CLIENT = IPv4Address("TCP", "203.0.113.9", 4321)
DEST = IPv4Address("TCP", "10.0.0.1", 443)


class WhoAmI(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        header = get_proxy_header(request)
        version = header.version if header else 0
        return f"{request.getClientAddress().host} v{version}".encode()  # type: ignore[attr-defined]


def site() -> Site:
    """A Site whose idle timer runs on a fake clock, not on the global reactor."""
    return Site(WhoAmI(), reactor=MemoryReactorClock())


class ProxiedConnectionTests(SynchronousTestCase):
    def test_twisted_web(self) -> None:
        connection = proxied_connection(site(), ProxyHeader.proxy(CLIENT, DEST))
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(connection.received().startswith(b"HTTP/1.1 200 OK"))
        self.assertTrue(connection.received().endswith(b"203.0.113.9 v2"))
        self.assertIsNotNone(connection.protocol)

    def test_bytes_header_and_real_addresses(self) -> None:
        connection = proxied_connection(site(), b"PROXY UNKNOWN\r\n")
        connection.send(b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(connection.received().endswith(LOAD_BALANCER.host.encode() + b" v1"))

    def test_timeout_with_the_clock(self) -> None:
        connection = proxied_connection(site(), None, policy=ProxyProtocolPolicy(timeout=3))
        self.assertIsNone(connection.protocol)
        connection.clock.advance(3)
        self.assertTrue(connection.closed)
        self.assertEqual(connection.wrapper.stats.timed_out, 1)

    def test_rejected_header(self) -> None:
        connection = proxied_connection(site(), b"PROXY TCP4 1.2.3.4\n")
        self.assertTrue(connection.closed)
        self.assertEqual(connection.received(), b"")

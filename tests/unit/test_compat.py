"""
Tests for L{pptwisted.compat}: code written against Twisted's
C{twisted.protocols.haproxy} gets the same C{IProxyInfo} from
L{proxy_info} as Twisted's own wrapper kept, for the same header bytes.
(Over a real socket: tests/net/test_compat_socket.py.)
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.protocols.haproxy._wrapper import HAProxyWrappingFactory
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import TLV, ProxyHeader, ProxyProtocolServerEndpoint
from pptwisted.compat import IProxyInfo, ProxyInfo, proxy_info, proxyEndpoint
from pptwisted.testing import LOAD_BALANCER, proxied_connection

V4 = (IPv4Address("TCP", "192.0.2.7", 4321), IPv4Address("TCP", "198.51.100.1", 443))
V6 = (IPv6Address("TCP", "2001:db8::7", 4321), IPv6Address("TCP", "2001:db8::1", 443))
UDP4 = (IPv4Address("UDP", "192.0.2.7", 53), IPv4Address("UDP", "198.51.100.1", 53))
UNIX = (UNIXAddress(b"/run/client.sock"), UNIXAddress(b"/run/app.sock"))

#: Headers both implementations accept, by name.
HEADERS = {
    "v1 TCP4": ProxyHeader.proxy(*V4, version=1).to_bytes(),
    "v1 TCP6": ProxyHeader.proxy(*V6, version=1).to_bytes(),
    "v2 TCP4 with TLVs": ProxyHeader.proxy(
        *V4, tlvs=[TLV(0x02, b"example.com"), TLV(0xE5, b"x")]
    ).to_bytes(crc32c=True),
    "v2 TCP6": ProxyHeader.proxy(*V6).to_bytes(),
    "v2 UDP4": ProxyHeader.proxy(*UDP4).to_bytes(),
    "v2 UNIX": ProxyHeader.proxy(*UNIX).to_bytes(),
    "v2 LOCAL": ProxyHeader.local().to_bytes(),
}


class _Nothing(Protocol):
    pass


def twisted_info(data: bytes) -> Any:
    """What Twisted's haproxy: wrapper keeps for a connection starting with C{data}."""
    wrapper = HAProxyWrappingFactory(Factory.forProtocol(_Nothing))
    protocol = wrapper.buildProtocol(LOAD_BALANCER)
    protocol.makeConnection(StringTransport(peerAddress=LOAD_BALANCER))
    protocol.dataReceived(data + b"after")
    return protocol._proxyInfo


def same_text(address: Any) -> Any:
    """
    C{address} with its IPv6 text compressed: Twisted's v2 parser writes
    every group (C{2001:db8:0:0:0:0:0:7}), pptwisted the canonical form.
    """
    if isinstance(address, IPv6Address):
        return (address.type, ipaddress.ip_address(address.host), address.port)
    return address


class ProxyInfoTests(SynchronousTestCase):
    def test_same_as_twisted(self) -> None:
        for name, data in HEADERS.items():
            expected = twisted_info(data)
            self.assertIsNotNone(expected, name)
            connection = proxied_connection(Factory.forProtocol(_Nothing), data + b"after")
            assert connection.protocol is not None
            info = proxy_info(connection.protocol.transport)
            self.assertTrue(IProxyInfo.providedBy(info), name)
            self.assertIsInstance(info, type(expected))
            assert info is not None
            self.assertEqual(info.header, expected.header, name)
            self.assertEqual(
                (same_text(info.source), same_text(info.destination)),
                (same_text(expected.source), same_text(expected.destination)),
                name,
            )
            if not isinstance(info.source, IPv6Address) or "v1" in name:
                self.assertEqual(
                    (info.source, info.destination), (expected.source, expected.destination)
                )

    def test_unknown(self) -> None:
        """
        v1 UNKNOWN: no addresses. Twisted keeps the line's ignored rest (and
        rejects the bare C{PROXY UNKNOWN} line HAProxy sends); compat gives
        the line re-encoded, without it.
        """
        line = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"
        expected = twisted_info(line)
        self.assertEqual((expected.source, expected.destination), (None, None))
        self.assertIsNone(twisted_info(b"PROXY UNKNOWN\r\n"))
        for data in (line, b"PROXY UNKNOWN\r\n"):
            connection = proxied_connection(Factory.forProtocol(_Nothing), data)
            assert connection.protocol is not None
            info = proxy_info(connection.protocol.transport)
            assert info is not None
            self.assertEqual(
                (info.header, info.source, info.destination), (b"PROXY UNKNOWN", None, None)
            )

    def test_no_header(self) -> None:
        """A direct connection (optional mode), or no PROXY layer at all: None."""
        self.assertIsNone(proxy_info(StringTransport()))
        self.assertIsNone(proxy_info(object()))

    def test_twisted_private_names(self) -> None:
        """The private Twisted names compat relies on are still there, as expected."""
        self.assertTrue(IProxyInfo.implementedBy(ProxyInfo))
        info = ProxyInfo(b"PROXY UNKNOWN", None, None)
        self.assertEqual(
            (info.header, info.source, info.destination), (b"PROXY UNKNOWN", None, None)
        )

    def test_proxy_endpoint(self) -> None:
        inner = TCP4ServerEndpoint(reactor, 0)
        endpoint = proxyEndpoint(inner)
        self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint)
        self.assertIs(endpoint.endpoint, inner)

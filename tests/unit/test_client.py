"""
Tests for sending PROXY headers: L{pptwisted.ProxyProtocolClientEndpoint},
the C{proxy:} client prefix, L{pptwisted.header_for_connection} and the
HTTP helpers in L{pptwisted.http}, on fakes. (Round trips and HTTP over
real sockets: tests/net/test_client_socket.py.)
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    SSL4ClientEndpoint,
    TCP4ClientEndpoint,
    clientFromString,
)
from twisted.internet.error import NoProtocol
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.ssl import (
    CertificateOptions,
)
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import (
    TLV,
    ProxyHeader,
    ProxyProtocolClientEndpoint,
    header_for_connection,
    parse_header,
)

CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)
V2_TCP4 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"


class Banner(Protocol):
    """Writes as soon as it is connected, like SMTP or SSH clients do."""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"EHLO me\r\n")


def connect_memory(
    endpoint: ProxyProtocolClientEndpoint, memory: MemoryReactorClock
) -> tuple[Deferred[Any], StringTransport]:
    """Connect through a MemoryReactor and attach a StringTransport."""
    d = endpoint.connect(Factory.forProtocol(Banner))
    factory = memory.tcpClients[-1][2]
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return d, transport


class HeaderFirstTests(SynchronousTestCase):
    def test_v2_exact_bytes_before_app(self) -> None:
        """The header is written before what the application writes in connectionMade."""
        memory = MemoryReactorClock()
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(memory, "127.0.0.1", 80), ProxyHeader.proxy(CLIENT, DEST)
        )
        d, transport = connect_memory(endpoint, memory)
        self.assertEqual(transport.value(), V2_TCP4 + b"EHLO me\r\n")
        self.assertIsInstance(self.successResultOf(d), Banner)

    def test_v1_exact_bytes(self) -> None:
        memory = MemoryReactorClock()
        header = ProxyHeader.proxy(CLIENT, DEST, version=1)
        endpoint = ProxyProtocolClientEndpoint(TCP4ClientEndpoint(memory, "127.0.0.1", 80), header)
        _, transport = connect_memory(endpoint, memory)
        self.assertEqual(
            transport.value(), b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\nEHLO me\r\n"
        )

    def test_raw_bytes_header(self) -> None:
        memory = MemoryReactorClock()
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(memory, "127.0.0.1", 80), b"PROXY UNKNOWN\r\n"
        )
        _, transport = connect_memory(endpoint, memory)
        self.assertEqual(transport.value(), b"PROXY UNKNOWN\r\nEHLO me\r\n")

    def test_crc32c(self) -> None:
        memory = MemoryReactorClock()
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(memory, "127.0.0.1", 80),
            ProxyHeader.proxy(CLIENT, DEST),
            crc32c=True,
        )
        _, transport = connect_memory(endpoint, memory)
        self.assertEqual(
            transport.value(),
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x13\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"
            + b"\x03\x00\x04"
            + parse_header(transport.value())[0].get_tlv(0x03)  # type: ignore[operator]
            + b"EHLO me\r\n",
        )
        self.assertIsNotNone(parse_header(transport.value())[0].crc32c)

    def test_ssl_header_below_tls(self) -> None:
        """With an ssl: endpoint, the header goes on TCP, under the TLS layer."""
        memory = MemoryReactorClock()
        ssl = SSL4ClientEndpoint(memory, "127.0.0.1", 443, CertificateOptions())
        endpoint = ProxyProtocolClientEndpoint(ssl, ProxyHeader.proxy(CLIENT, DEST))
        endpoint.connect(Factory.forProtocol(Banner))
        self.assertEqual(memory.sslClients, [])
        host, port, factory, _, _ = memory.tcpClients[0]
        self.assertEqual((host, port), ("127.0.0.1", 443))
        # TCP4ClientEndpoint's own wrapper, then ours, then TLS.
        ours = factory._wrappedFactory
        self.assertIsInstance(ours.wrappedFactory, TLSMemoryBIOFactory)
        transport = StringTransport()
        factory.buildProtocol(None).makeConnection(transport)
        written = transport.value()
        self.assertTrue(written.startswith(V2_TCP4))
        # Then a TLS record (handshake, 0x16), not the application's bytes.
        self.assertEqual(written[len(V2_TCP4) : len(V2_TCP4) + 1], b"\x16")
        self.assertNotIn(b"EHLO", written)

    def test_build_protocol_none(self) -> None:
        memory = MemoryReactorClock()
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(memory, "127.0.0.1", 80), ProxyHeader.proxy(CLIENT, DEST)
        )

        class Refusing(ClientFactory):
            def buildProtocol(self, addr: IAddress) -> None:
                return None

        d = endpoint.connect(Refusing())
        self.assertIsNone(memory.tcpClients[0][2].buildProtocol(None))
        self.failureResultOf(d, NoProtocol)


class ClientStringTests(SynchronousTestCase):
    """The proxy: prefix for clientFromString."""

    def written(self, description: str) -> bytes:
        memory = MemoryReactorClock()
        endpoint = clientFromString(memory, description)
        self.assertIsInstance(endpoint, ProxyProtocolClientEndpoint)
        _, transport = connect_memory(endpoint, memory)
        value = transport.value()
        self.assertTrue(value.endswith(b"EHLO me\r\n"))
        return value[: -len(b"EHLO me\r\n")]

    def test_default_v2(self) -> None:
        self.assertEqual(
            self.written(
                "proxy:tcp:host=127.0.0.1:port=80:proxySourceHost=192.0.2.7"
                ":proxySourcePort=4321:proxyDestHost=198.51.100.1:proxyDestPort=443"
            ),
            V2_TCP4,
        )

    def test_v1(self) -> None:
        self.assertEqual(
            self.written(
                "proxy:tcp:host=127.0.0.1:port=80:proxyVersion=1:proxySourceHost=192.0.2.7"
                ":proxySourcePort=4321:proxyDestHost=198.51.100.1:proxyDestPort=443"
            ),
            b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n",
        )

    def test_ipv6_escaped(self) -> None:
        self.assertEqual(
            self.written(
                r"proxy:tcp:host=127.0.0.1:port=80:proxyVersion=1:proxySourceHost=2001\:db8\:\:7"
                r":proxySourcePort=1:proxyDestHost=\:\:1:proxyDestPort=2"
            ),
            b"PROXY TCP6 2001:db8::7 ::1 1 2\r\n",
        )

    def test_tlvs(self) -> None:
        written = self.written(
            "proxy:tcp:host=127.0.0.1:port=80:proxySourceHost=192.0.2.7:proxySourcePort=4321"
            ":proxyDestHost=198.51.100.1:proxyDestPort=443:proxyAuthority=example.com"
            ":proxyUniqueId=abc:proxyAlpn=h2"
        )
        self.assertEqual(
            written,
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x25"
            b"\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"
            b"\x02\x00\x0bexample.com\x05\x00\x03abc\x01\x00\x02h2",
        )
        header, rest = parse_header(
            self.written(
                "proxy:tcp:host=127.0.0.1:port=80:proxySourceHost=192.0.2.7:proxySourcePort=1"
                ":proxyDestHost=198.51.100.1:proxyDestPort=2:proxyCrc32c=yes"
            )
        )
        self.assertIsNotNone(header.crc32c)
        self.assertEqual(rest, b"")

    def test_local(self) -> None:
        self.assertEqual(
            self.written("proxy:tcp:host=127.0.0.1:port=80:proxyLocal=yes"),
            b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
        )
        self.assertEqual(
            self.written("proxy:tcp:host=127.0.0.1:port=80:proxyLocal=yes:proxyVersion=1"),
            b"PROXY UNKNOWN\r\n",
        )

    def test_unix(self) -> None:
        written = self.written(
            "proxy:tcp:host=127.0.0.1:port=80:proxySourcePath=/run/a:proxyDestPath=/run/b"
        )
        self.assertEqual(
            written,
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\xd8"
            + b"/run/a".ljust(108, b"\x00")
            + b"/run/b".ljust(108, b"\x00"),
        )

    def test_errors(self) -> None:
        base = "proxy:tcp:host=127.0.0.1:port=80"
        full = (
            ":proxySourceHost=192.0.2.7:proxySourcePort=1:proxyDestHost=192.0.2.8:proxyDestPort=2"
        )
        for description, word in [
            (base + full + ":proxyVersoin=1", "proxyVersoin"),
            (base + full + ":proxyVersion=3", "proxyVersion"),
            (base + ":proxySourceHost=192.0.2.7", "proxyDestHost"),
            (base + full.replace("192.0.2.7", "example.com"), "proxySourceHost"),
            (base + full.replace("proxySourcePort=1", "proxySourcePort=70000"), "proxySourcePort"),
            (base + full + ":proxyVersion=1:proxyAlpn=h2", "proxyVersion=2"),
            (base + full + ":proxyCrc32c=perhaps", "proxyCrc32c"),
            (
                base
                + r":proxySourceHost=\:\:1:proxySourcePort=1:proxyDestHost=1.2.3.4:proxyDestPort=2",
                "both",
            ),
            ("proxy:proxyLocal=yes", "proxy:tcp"),
        ]:
            error = self.assertRaises(ValueError, clientFromString, reactor, description)
            self.assertIn(word, str(error), description)


class HeaderForConnectionTests(SynchronousTestCase):
    def test_plain(self) -> None:
        transport = StringTransport(peerAddress=CLIENT, hostAddress=DEST)
        self.assertEqual(header_for_connection(transport), ProxyHeader.proxy(CLIENT, DEST))
        self.assertEqual(
            header_for_connection(transport, version=1),
            ProxyHeader.proxy(CLIENT, DEST, version=1),
        )

    def test_v1_with_tlvs_raises(self) -> None:
        """Issue 11: the v1 client path must not drop TLVs it was given."""
        transport = StringTransport(peerAddress=CLIENT, hostAddress=DEST)
        error = self.assertRaises(
            ValueError, header_for_connection, transport, version=1, tlvs=[TLV(1, b"h2")]
        )
        self.assertIn("v1", str(error))
        header = ProxyHeader.proxy(CLIENT, DEST, version=1)
        self.assertRaises(ValueError, ProxyProtocolClientEndpoint, object(), header, crc32c=True)

    def test_ipv6_and_unix(self) -> None:
        v6 = StringTransport(
            peerAddress=IPv6Address("TCP", "2001:db8::7", 1),
            hostAddress=IPv6Address("TCP", "::1", 2),
        )
        self.assertEqual(header_for_connection(v6).source, IPv6Address("TCP", "2001:db8::7", 1))
        unnamed = StringTransport(
            peerAddress=UNIXAddress(None), hostAddress=UNIXAddress(b"/run/a.sock")
        )
        self.assertIsNone(header_for_connection(unnamed).source)
        self.assertEqual(header_for_connection(unnamed).to_bytes()[12], 0x20)

    def test_passes_received_tlvs(self) -> None:
        """A relay behind proxy: forwards the header it received, TLVs included."""
        from pptwisted import ProxyProtocolWrapper

        received = ProxyHeader.proxy(CLIENT, DEST, tlvs=[TLV(0xE1, b"x"), TLV(2, b"sni")])
        seen: list[Protocol] = []

        class Keep(Protocol):
            def connectionMade(self) -> None:
                seen.append(self)

        wrapper = ProxyProtocolWrapper(Factory.forProtocol(Keep), clock=MemoryReactorClock())
        proto = wrapper.buildProtocol(None)
        proto.makeConnection(
            StringTransport(
                peerAddress=IPv4Address("TCP", "10.0.0.9", 1),
                hostAddress=IPv4Address("TCP", "10.0.0.1", 2),
            )
        )
        proto.dataReceived(received.to_bytes(crc32c=True))
        forwarded = header_for_connection(seen[0].transport)  # type: ignore[arg-type]
        self.assertEqual(forwarded, received)


class _FakeHandle:
    """An OpenSSL connection after the handshake, with a client certificate."""

    def __init__(self, certificate: object) -> None:
        self._certificate = certificate

    def get_peer_finished(self) -> bytes:
        return b"done"

    def get_servername(self) -> bytes:
        return b"www.example.com"

    def get_alpn_proto_negotiated(self) -> bytes:
        return b"h2"

    def get_protocol_version_name(self) -> str:
        return "TLSv1.3"

    def get_cipher_name(self) -> str:
        return "TLS_AES_128_GCM_SHA256"

    def get_peer_certificate(self) -> object:
        return self._certificate

    def get_verified_chain(self) -> list[object]:
        return [self._certificate]


class _UnreadableCertificate:
    def to_cryptography(self) -> object:
        raise TypeError("a cryptography version we do not know")


class _FakeTLSTransport:
    def __init__(self, handle: _FakeHandle) -> None:
        self._handle = handle

    def getHandle(self) -> _FakeHandle:
        return self._handle


class TLSTLVTests(SynchronousTestCase):
    def test_unreadable_certificate_keeps_the_ssl_tlv(self) -> None:
        """
        Issue 11: a certificate whose details cannot be read no longer drops
        the SSL TLV (a bare C{except Exception: pass} did); it is logged.
        """
        from twisted.internet.testing import EventLoggingObserver

        from pptwisted.endpoints._connection_header import _tls_tlvs

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        tlvs = _tls_tlvs(_FakeTLSTransport(_FakeHandle(_UnreadableCertificate())))
        header = ProxyHeader.proxy(CLIENT, DEST, tlvs=tlvs)
        ssl = header.ssl
        assert ssl is not None
        self.assertEqual((ssl.version, ssl.cipher), ("TLSv1.3", "TLS_AES_128_GCM_SHA256"))
        self.assertTrue(ssl.client_ssl and ssl.client_cert_conn and ssl.verified)
        self.assertIsNone(ssl.cn)
        self.assertEqual((header.authority, header.alpn), ("www.example.com", b"h2"))
        self.assertEqual(len(events), 1)
        self.assertIn("left out", formatEvent(events[0]))

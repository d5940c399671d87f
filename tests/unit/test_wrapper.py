"""
Tests for L{pptwisted.ProxyProtocolWrapper}: the hand-over to the
application, the policy, timeouts, rejections and the transport the
application sees. Everything runs on StringTransport and a fake clock.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IProtocol,
    IPushProducer,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer, providedBy

from pptwisted import (
    TLV,
    IProxyProtocolTransport,
    ProxyHeader,
    ProxyProtocolPolicy,
    ProxyProtocolWrapper,
    get_proxy_header,
    get_proxy_transport,
)

LB = IPv4Address("TCP", "10.0.0.9", 40000)
SELF = IPv4Address("TCP", "10.0.0.1", 8080)
CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)

V1_TCP4 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
V2_TCP4 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"
V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"

# (header bytes, expected getPeer(), expected getHost()); None: the real ones.
ACCEPTED: list[tuple[str, bytes, IAddress | None, IAddress | None]] = [
    ("v1 TCP4", V1_TCP4, CLIENT, DEST),
    (
        "v1 TCP6",
        b"PROXY TCP6 2001:DB8::7 2001:db8:0:0:0:0:0:1 65535 0\r\n",
        IPv6Address("TCP", "2001:db8::7", 65535),
        IPv6Address("TCP", "2001:db8::1", 0),
    ),
    (
        "v1 TCP6 v4-mapped",
        b"PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n",
        IPv6Address("TCP", "::ffff:192.0.2.7", 1),
        IPv6Address("TCP", "::1", 2),
    ),
    ("v1 UNKNOWN short", b"PROXY UNKNOWN\r\n", None, None),
    ("v1 UNKNOWN long", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None, None),
    ("v2 TCP4", V2_TCP4, CLIENT, DEST),
    (
        "v2 UDP4",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb",
        IPv4Address("UDP", "192.0.2.7", 4321),
        IPv4Address("UDP", "198.51.100.1", 443),
    ),
    (
        "v2 TCP6",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24"
        + b"\x20\x01\x0d\xb8"
        + b"\x00" * 11
        + b"\x07"
        + b"\x20\x01\x0d\xb8"
        + b"\x00" * 11
        + b"\x01"
        + b"\x10\xe1\x01\xbb",
        IPv6Address("TCP", "2001:db8::7", 4321),
        IPv6Address("TCP", "2001:db8::1", 443),
    ),
    (
        "v2 UNIX",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\xd8"
        + b"/run/a.sock".ljust(108, b"\x00")
        + b"\x00abstract".ljust(108, b"\x00"),
        UNIXAddress(b"/run/a.sock"),
        UNIXAddress(b"\x00abstract"),
    ),
    ("v2 LOCAL", V2_LOCAL, None, None),
    (
        "v2 LOCAL with a family and a block",
        b"\r\n\r\n\x00\r\nQUIT\n\x20\x11\x00\x03abc",
        None,
        None,
    ),
    ("v2 PROXY UNSPEC", b"\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x00", None, None),
    (
        "v2 TCP4 with TLVs",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x17"
        b"\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"
        b"\x01\x00\x02h2\x05\x00\x03abc",
        CLIENT,
        DEST,
    ),
]


class RecordingProtocol(Protocol):
    """Records what the application saw, in order."""

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events
        self.received = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.events.append(("made", (self.transport.getPeer(), self.transport.getHost())))

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self.events.append(("data", data))

    def connectionLost(self, reason: Failure = ConnectionDone()) -> None:  # noqa: B008
        self.events.append(("lost", reason.type))


class RecordingFactory(Factory):
    """Builds L{RecordingProtocol}s and records the addresses it was given."""

    def __init__(self, protocol: type[RecordingProtocol] = RecordingProtocol) -> None:
        self.events: list[tuple[str, Any]] = []
        self.addresses: list[IAddress] = []
        self.protocols: list[RecordingProtocol] = []
        self.protocol_class = protocol

    def buildProtocol(self, addr: IAddress) -> RecordingProtocol | None:
        self.addresses.append(addr)
        self.events.append(("build", addr))
        p = self.protocol_class(self.events)
        p.factory = self
        self.protocols.append(p)
        return p


class Harness:
    """A wrapper, a fake clock and one connection on a StringTransport."""

    def __init__(
        self,
        policy: ProxyProtocolPolicy | None = None,
        peer: IAddress = LB,
        host: IAddress = SELF,
        factory: Factory | None = None,
    ) -> None:
        self.clock = MemoryReactorClock()
        self.factory = factory if factory is not None else RecordingFactory()
        self.wrapper = ProxyProtocolWrapper(self.factory, policy, clock=self.clock)
        self.transport = StringTransport(peerAddress=peer, hostAddress=host)
        self.protocol = self.wrapper.buildProtocol(peer)
        self.protocol.makeConnection(self.transport)

    def feed(self, data: bytes, bytewise: bool = False) -> None:
        if bytewise:
            for i in range(len(data)):
                self.protocol.dataReceived(data[i : i + 1])
        else:
            self.protocol.dataReceived(data)

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)


class HandOverTests(SynchronousTestCase):
    """The application is built and connected only once the header is in."""

    def check_accepted(self, bytewise: bool) -> None:
        for name, header, peer, host in ACCEPTED:
            h = Harness()
            payload = b"GET / HTTP/1.0\r\n\r\n"
            h.feed(header + payload, bytewise)
            expected_peer = peer if peer is not None else LB
            expected_host = host if host is not None else SELF
            factory = h.factory
            assert isinstance(factory, RecordingFactory)
            self.assertEqual(factory.addresses, [expected_peer], name)
            self.assertEqual(factory.events[1], ("made", (expected_peer, expected_host)), name)
            self.assertEqual(factory.protocols[0].received, payload, name)
            self.assertFalse(h.closed, name)
            self.assertEqual(h.wrapper.stats.accepted, 1, name)
            parsed = get_proxy_header(factory.protocols[0].transport)
            assert parsed is not None
            self.assertEqual(parsed.source, peer, name)

    def test_whole(self) -> None:
        """Every accepted header, with payload, delivered in one read."""
        self.check_accepted(bytewise=False)

    def test_bytewise(self) -> None:
        """Every accepted header, with payload, delivered one byte at a time."""
        self.check_accepted(bytewise=True)

    def test_nothing_before_header(self) -> None:
        """Until the header is complete, no protocol is built, nothing is written."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4[:-1])
        self.assertEqual(factory.events, [])
        self.assertEqual(h.transport.value(), b"")
        h.feed(V1_TCP4[-1:])
        self.assertEqual(factory.addresses, [CLIENT])

    def test_rest_in_order_once(self) -> None:
        """Bytes after the header in the same read come first, then later reads."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V2_TCP4 + b"one")
        h.feed(b"two")
        self.assertEqual(
            [e for e in factory.events if e[0] == "data"], [("data", b"one"), ("data", b"two")]
        )

    def test_second_header_is_data(self) -> None:
        """A second header after the first is application data, untouched."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4 + V2_TCP4)
        self.assertEqual(factory.protocols[0].received, V2_TCP4)
        self.assertEqual(factory.addresses, [CLIENT])

    def test_no_rest(self) -> None:
        """A header alone delivers no empty dataReceived call."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4)
        self.assertEqual([e for e in factory.events if e[0] == "data"], [])

    def test_app_writes_in_connection_made(self) -> None:
        """What the application writes in connectionMade reaches the transport."""

        class Banner(RecordingProtocol):
            def connectionMade(self) -> None:
                assert self.transport is not None
                self.transport.write(b"220 ready\r\n")
                self.transport.writeSequence([b"a", b"b"])

        h = Harness(factory=RecordingFactory(Banner))
        self.assertEqual(h.transport.value(), b"")
        h.feed(V1_TCP4)
        self.assertEqual(h.transport.value(), b"220 ready\r\nab")

    def test_app_closes_in_connection_made(self) -> None:
        """An application that closes in connectionMade gets no further data."""

        class Closer(RecordingProtocol):
            def connectionMade(self) -> None:
                assert self.transport is not None
                self.transport.loseConnection()

        factory = RecordingFactory(Closer)
        h = Harness(factory=factory)
        h.feed(V1_TCP4 + b"ignored")
        self.assertTrue(h.closed)
        self.assertEqual(factory.protocols[0].received, b"")

    def test_app_aborts_in_connection_made(self) -> None:
        """abortConnection reaches the real transport."""

        class Aborter(RecordingProtocol):
            def connectionMade(self) -> None:
                assert self.transport is not None
                self.transport.abortConnection()

        factory = RecordingFactory(Aborter)
        h = Harness(factory=factory)
        h.feed(V1_TCP4 + b"ignored")
        self.assertTrue(h.transport.disconnected)
        self.assertEqual(factory.protocols[0].received, b"")

    def test_build_protocol_none(self) -> None:
        """If buildProtocol returns None the connection is closed."""

        class Refusing(Factory):
            def buildProtocol(self, addr: IAddress) -> None:
                return None

        h = Harness(factory=Refusing())
        h.feed(V1_TCP4 + b"data")
        self.assertTrue(h.closed)
        self.assertEqual(h.transport.value(), b"")
        self.assertEqual(h.wrapper.stats.refused, 1)
        self.assertEqual(h.wrapper.stats.accepted, 0)

    def test_connection_lost_while_waiting(self) -> None:
        """A connection closed mid-header never builds the application."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4[:10])
        h.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(factory.events, [])
        self.assertEqual(h.wrapper.stats.lost, 1)
        self.assertEqual(len(h.wrapper.deadlines), 0)
        self.assertEqual(h.wrapper.protocols, {})

    def test_connection_lost_forwarded(self) -> None:
        """After the hand-over, connectionLost reaches the application once."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4)
        h.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(factory.events[-1], ("lost", ConnectionDone))
        self.assertEqual(h.wrapper.protocols, {})


class TransportTests(SynchronousTestCase):
    """The transport the application sees."""

    def connected(self, header: bytes = V1_TCP4) -> tuple[Harness, RecordingProtocol]:
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(header)
        return h, factory.protocols[0]

    def test_interfaces_of_real_transport(self) -> None:
        """The application's transport provides what the real one provides."""
        h, app = self.connected()
        real = list(providedBy(h.transport))
        self.assertIn(IPushProducer, real)
        for interface in real:
            self.assertTrue(interface.providedBy(app.transport), interface)
        self.assertTrue(IProxyProtocolTransport.providedBy(app.transport))
        self.assertFalse(ITCPTransport.providedBy(app.transport))

    def test_real_addresses(self) -> None:
        """getRealPeer()/getRealHost() give the socket's addresses."""
        _, app = self.connected()
        transport = get_proxy_transport(app)
        assert transport is not None
        self.assertEqual(transport.getRealPeer(), LB)
        self.assertEqual(transport.getRealHost(), SELF)

    def test_delegates_unknown_attributes(self) -> None:
        """Other attributes and methods are the real transport's."""
        h, app = self.connected()
        assert app.transport is not None
        self.assertIs(app.transport.disconnecting, False)  # type: ignore[attr-defined]
        app.transport.pauseProducing()  # type: ignore[attr-defined]
        self.assertEqual(h.transport.producerState, "paused")
        app.transport.resumeProducing()  # type: ignore[attr-defined]
        self.assertEqual(h.transport.producerState, "producing")

    def test_producer(self) -> None:
        """registerProducer/unregisterProducer reach the real transport."""

        @implementer(IPushProducer)
        class Producer:
            def pauseProducing(self) -> None:
                pass

            def resumeProducing(self) -> None:
                pass

            def stopProducing(self) -> None:
                pass

        h, app = self.connected()
        producer = Producer()
        assert app.transport is not None
        app.transport.registerProducer(producer, True)  # type: ignore[attr-defined]
        self.assertIs(h.transport.producer, producer)
        app.transport.unregisterProducer()  # type: ignore[attr-defined]
        self.assertIsNone(h.transport.producer)

    def test_half_close_forwarded(self) -> None:
        """A half-close aware application gets readConnectionLost."""

        @implementer(IHalfCloseableProtocol)
        class HalfClose(RecordingProtocol):
            def readConnectionLost(self) -> None:
                self.events.append(("readLost", None))

            def writeConnectionLost(self) -> None:
                self.events.append(("writeLost", None))

        factory = RecordingFactory(HalfClose)
        h = Harness(factory=factory)
        self.assertFalse(IHalfCloseableProtocol.providedBy(h.protocol))
        h.feed(V1_TCP4)
        self.assertTrue(IHalfCloseableProtocol.providedBy(h.protocol))
        IHalfCloseableProtocol(h.protocol).readConnectionLost()
        IHalfCloseableProtocol(h.protocol).writeConnectionLost()
        self.assertEqual(factory.events[-2:], [("readLost", None), ("writeLost", None)])

    def test_not_half_closeable(self) -> None:
        """An application without half-close support does not advertise it."""
        h, _ = self.connected()
        self.assertFalse(IHalfCloseableProtocol.providedBy(h.protocol))

    def test_log_context(self) -> None:
        """logPrefix and the transport's log string name the real client."""

        class LoggingTransport(StringTransport):
            logstr = "RecordingProtocol,7,10.0.0.9"
            sessionno = 7

        factory = RecordingFactory()
        clock = MemoryReactorClock()
        wrapper = ProxyProtocolWrapper(factory, clock=clock)
        transport = LoggingTransport(peerAddress=LB, hostAddress=SELF)
        protocol = wrapper.buildProtocol(LB)
        protocol.makeConnection(transport)
        protocol.dataReceived(V1_TCP4)
        self.assertEqual(transport.logstr, "RecordingProtocol,7,192.0.2.7")
        self.assertEqual(protocol.logPrefix(), "RecordingProtocol")
        self.assertEqual(wrapper.logPrefix(), "RecordingFactory (PROXY)")

    def test_header_from_request_like_chain(self) -> None:
        """get_proxy_header walks request -> channel -> TLS -> PROXY layers."""
        _, app = self.connected(
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x11"
            b"\xc0\x00\x02\x07\xc6\x33\x64\x01\x10\xe1\x01\xbb"
            b"\x02\x00\x02ex"
        )

        class TLSLayer:
            transport = app.transport

        class Channel:
            transport = TLSLayer()

        class Request:
            channel = Channel()
            transport = None

        header = get_proxy_header(Request())
        assert header is not None
        self.assertEqual(header.authority, "ex")
        self.assertIsNone(get_proxy_header(object()))

    def test_direct_has_no_header(self) -> None:
        """A direct connection has no header; its addresses are the real ones."""
        factory = RecordingFactory()
        h = Harness(ProxyProtocolPolicy(require_header=False), factory=factory)
        h.feed(b"GET / HTTP/1.0\r\n\r\n")
        self.assertIsNone(get_proxy_header(factory.protocols[0]))
        self.assertEqual(factory.addresses, [LB])


class RejectionTests(SynchronousTestCase):
    """Bad headers close the connection at once with one log event."""

    def test_invalid_closes_and_logs(self) -> None:
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(b"PROXY TCP4 192.0.2.256 ")
        self.assertTrue(h.closed)
        self.assertEqual(h.transport.value(), b"")
        self.assertEqual(factory.events, [])
        self.assertEqual(h.wrapper.stats.rejected, {"v1-ipv4": 1})
        ours = [e for e in logs if e.get("log_namespace") == "pptwisted"]
        self.assertEqual(len(ours), 1)
        event = ours[0]
        self.assertEqual(event["log_level"].name, "warn")
        self.assertEqual(event["peer"], "10.0.0.9:40000")
        self.assertEqual(event["reason"], "v1-ipv4")
        self.assertEqual(event["excerpt"], b"PROXY TCP4 192.0.2.256 ".hex(" "))
        self.assertNotIn("log_failure", event)
        self.assertEqual(len(h.wrapper.deadlines), 0)

    def test_excerpt_bounded(self) -> None:
        """The excerpt holds at most 32 bytes, however much arrived."""
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        h = Harness()
        h.feed(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + b"\x00" * 10)
        h.feed(b"\x00" * 10 + b"\x07\x00\x00garbage" + b"x" * 1000)
        self.assertFalse(h.closed)
        h2 = Harness()
        h2.feed(b"X" * 5000)
        self.assertTrue(h2.closed)
        event = [e for e in logs if e.get("log_namespace") == "pptwisted"][-1]
        self.assertEqual(event["excerpt"], ("58 " * 32).strip())

    def test_later_data_ignored(self) -> None:
        """Data arriving after a rejection is dropped."""
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(b"HELLO")
        h.feed(V1_TCP4)
        self.assertEqual(factory.events, [])
        self.assertEqual(h.wrapper.stats.rejected, {"signature": 1})

    def test_v2_length_cap(self) -> None:
        """An oversized v2 length is rejected on its 16th byte."""
        h = Harness(ProxyProtocolPolicy(max_v2_length=100))
        h.feed(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00")
        self.assertFalse(h.closed)
        h.feed(b"\x65")
        self.assertTrue(h.closed)
        self.assertEqual(h.wrapper.stats.rejected, {"v2-length-cap": 1})

    def test_versions(self) -> None:
        """A header of a version not accepted is rejected."""
        h = Harness(ProxyProtocolPolicy(versions=frozenset({2})))
        h.feed(V1_TCP4)
        self.assertTrue(h.closed)
        self.assertEqual(h.wrapper.stats.rejected, {"version-not-accepted": 1})
        h = Harness(ProxyProtocolPolicy(versions=frozenset({1})))
        h.feed(V2_TCP4)
        self.assertTrue(h.closed)
        h = Harness(ProxyProtocolPolicy(versions=frozenset({1})))
        h.feed(V1_TCP4)
        self.assertFalse(h.closed)


class TimeoutTests(SynchronousTestCase):
    """The header must arrive within the policy's timeout."""

    def test_default_timeout(self) -> None:
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(V1_TCP4[:20])
        h.clock.advance(9.9)
        self.assertFalse(h.closed)
        h.clock.advance(0.1)
        self.assertTrue(h.closed)
        self.assertEqual(factory.events, [])
        self.assertEqual(h.wrapper.stats.timed_out, 1)
        event = [e for e in logs if e.get("log_namespace") == "pptwisted"][-1]
        self.assertEqual(event["count"], 20)

    def test_dribbled_bytes_do_not_push_back_the_deadline(self) -> None:
        """
        A valid prefix dribbled a byte a second is closed at the timeout
        counted from the accept, not from the last byte (the slowloris case
        that tests/net/test_abuse.py runs over sockets, here on a Clock).
        """
        h = Harness(ProxyProtocolPolicy(timeout=3))
        for byte in V1_TCP4[:3]:  # at 0, 1 and 2 s
            self.assertFalse(h.closed)
            h.feed(bytes([byte]))
            h.clock.advance(1)
        # 3 s after the accept, 1 s after the last byte.
        self.assertTrue(h.closed)
        self.assertEqual(h.wrapper.stats.timed_out, 1)

    def test_silent_connection(self) -> None:
        h = Harness(ProxyProtocolPolicy(timeout=3))
        h.clock.advance(3)
        self.assertTrue(h.closed)
        self.assertEqual(h.wrapper.stats.timed_out, 1)

    def test_cancelled_on_header(self) -> None:
        h = Harness(ProxyProtocolPolicy(timeout=3))
        h.feed(V2_TCP4)
        self.assertEqual(len(h.wrapper.deadlines), 0)
        h.clock.advance(100)
        self.assertFalse(h.closed)

    def test_staggered_deadlines(self) -> None:
        """Each pending connection times out at its own deadline, oldest first."""
        clock = MemoryReactorClock()
        wrapper = ProxyProtocolWrapper(
            RecordingFactory(), ProxyProtocolPolicy(timeout=10), clock=clock
        )
        transports = []
        for delay in (0, 4, 4, 1):
            clock.advance(delay)
            transport = StringTransport(peerAddress=LB, hostAddress=SELF)
            wrapper.buildProtocol(LB).makeConnection(transport)
            transports.append(transport)
        # Arrivals at 0, 4, 8, 9.
        closed = []
        for now in (9.9, 10, 13.9, 14, 17.9, 18, 18.9, 19):
            clock.advance(now - clock.seconds())
            closed.append(sum(bool(t.disconnecting) for t in transports))
        self.assertEqual(closed, [0, 1, 1, 2, 2, 3, 3, 4])
        self.assertEqual(wrapper.stats.timed_out, 4)

    def test_completed_connection_not_timed_out(self) -> None:
        """A connection that completed is forgotten by the timer."""
        clock = MemoryReactorClock()
        wrapper = ProxyProtocolWrapper(
            RecordingFactory(), ProxyProtocolPolicy(timeout=3), clock=clock
        )
        first = StringTransport(peerAddress=LB, hostAddress=SELF)
        protocol = wrapper.buildProtocol(LB)
        protocol.makeConnection(first)
        protocol.dataReceived(V1_TCP4)
        clock.advance(1)
        second = StringTransport(peerAddress=LB, hostAddress=SELF)
        wrapper.buildProtocol(LB).makeConnection(second)
        clock.advance(2.5)
        self.assertFalse(first.disconnecting)
        self.assertFalse(second.disconnecting)
        clock.advance(0.5)
        self.assertFalse(first.disconnecting)
        self.assertTrue(second.disconnecting)
        self.assertEqual(wrapper.stats.timed_out, 1)

    def test_timer_dropped_when_stopped(self) -> None:
        """When the last port stops and nothing waits, no timer is left behind."""
        h = Harness()
        h.wrapper.doStart()
        h.feed(V1_TCP4)
        self.assertEqual(len(h.wrapper.deadlines), 0)
        h.wrapper.doStop()
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_timer_kept_for_waiting_connections(self) -> None:
        """Stopping the factory does not cancel the timeout of a waiting connection."""
        h = Harness(ProxyProtocolPolicy(timeout=3))
        h.wrapper.doStart()
        h.wrapper.doStop()
        h.clock.advance(3)
        self.assertTrue(h.closed)

    def test_cancelled_on_rejection(self) -> None:
        h = Harness(ProxyProtocolPolicy(timeout=3))
        h.feed(b"nope")
        self.assertEqual(len(h.wrapper.deadlines), 0)


V4_MAPPED_LB = IPv6Address("TCP", "::ffff:10.0.0.9", 40000)


class PolicyMatrixTests(SynchronousTestCase):
    """required/optional x trusted/untrusted x v1/v2/no header."""

    def run_case(
        self, require: bool, trusted: bool, untrusted: str, sent: bytes
    ) -> tuple[Harness, RecordingFactory]:
        policy = ProxyProtocolPolicy(
            require_header=require,
            trusted=("10.0.0.0/8",) if trusted else ("172.16.0.0/12",),
            untrusted=untrusted,  # type: ignore[arg-type]
        )
        factory = RecordingFactory()
        h = Harness(policy, factory=factory)
        h.feed(sent + b"payload")
        return h, factory

    def test_matrix(self) -> None:
        for require in (True, False):
            for untrusted in ("refuse", "direct"):
                for trusted in (True, False):
                    for label, sent in (("v1", V1_TCP4), ("v2", V2_TCP4), ("none", b"")):
                        case = f"require={require} trusted={trusted} untrusted={untrusted} {label}"
                        h, factory = self.run_case(require, trusted, untrusted, sent)
                        if not trusted and untrusted == "refuse":
                            self.assertTrue(h.closed, case)
                            self.assertEqual(factory.events, [], case)
                            self.assertEqual(h.wrapper.stats.rejected, {"untrusted": 1}, case)
                        elif not trusted:
                            # Served direct: the header is just data, never an address.
                            self.assertEqual(factory.addresses, [LB], case)
                            self.assertEqual(factory.protocols[0].received, sent + b"payload", case)
                            self.assertEqual(h.wrapper.stats.direct, 1, case)
                        elif label != "none":
                            self.assertEqual(factory.addresses, [CLIENT], case)
                            self.assertEqual(factory.protocols[0].received, b"payload", case)
                        elif require:
                            self.assertTrue(h.closed, case)
                            self.assertEqual(factory.events, [], case)
                            self.assertEqual(h.wrapper.stats.rejected, {"signature": 1}, case)
                        else:
                            self.assertEqual(factory.addresses, [LB], case)
                            self.assertEqual(factory.protocols[0].received, b"payload", case)

    def test_optional_passthrough_bytewise(self) -> None:
        """In optional mode, non-PROXY bytes split finely pass through intact."""
        factory = RecordingFactory()
        h = Harness(ProxyProtocolPolicy(require_header=False), factory=factory)
        h.feed(b"PRO", bytewise=True)
        self.assertEqual(factory.events, [])
        h.feed(b"PFIND / HTTP/1.1\r\n", bytewise=True)
        self.assertEqual(factory.protocols[0].received, b"PROPFIND / HTTP/1.1\r\n")
        h2 = Harness(ProxyProtocolPolicy(require_header=False), factory=RecordingFactory())
        h2.feed(b"\r\n\r\nhello")
        assert isinstance(h2.factory, RecordingFactory)
        self.assertEqual(h2.factory.protocols[0].received, b"\r\n\r\nhello")

    def test_optional_still_rejects_broken_header(self) -> None:
        """Optional mode does not serve a broken PROXY header as direct."""
        h = Harness(ProxyProtocolPolicy(require_header=False))
        h.feed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n")
        self.assertTrue(h.closed)

    def test_ipv4_mapped_peer_trusted(self) -> None:
        """A dual-stack listener's ::ffff:a.b.c.d peer matches IPv4 networks."""
        factory = RecordingFactory()
        h = Harness(
            ProxyProtocolPolicy(trusted=("10.0.0.0/8",)), peer=V4_MAPPED_LB, factory=factory
        )
        h.feed(V1_TCP4)
        self.assertEqual(factory.addresses, [CLIENT])

    def test_ipv6_network(self) -> None:
        peer = IPv6Address("TCP", "fd00::5", 1)
        policy = ProxyProtocolPolicy(trusted=("fd00::/8",))
        factory = RecordingFactory()
        h = Harness(policy, peer=peer, factory=factory)
        h.feed(V1_TCP4)
        self.assertEqual(factory.addresses, [CLIENT])
        h2 = Harness(policy, peer=IPv6Address("TCP", "fe80::5", 1))
        self.assertTrue(h2.closed)

    def test_unix_peer_trusted(self) -> None:
        """UNIX-socket peers have no IP: they are trusted (file permissions guard them)."""
        factory = RecordingFactory()
        h = Harness(
            ProxyProtocolPolicy(trusted=("10.0.0.0/8",)),
            peer=UNIXAddress(None),
            host=UNIXAddress(b"/run/app.sock"),
            factory=factory,
        )
        h.feed(V1_TCP4)
        self.assertEqual(factory.addresses, [CLIENT])

    def test_policy_validation(self) -> None:
        self.assertRaises(ValueError, ProxyProtocolPolicy, versions=frozenset({3}))
        self.assertRaises(ValueError, ProxyProtocolPolicy, versions=frozenset())
        self.assertRaises(ValueError, ProxyProtocolPolicy, timeout=0)
        self.assertRaises(ValueError, ProxyProtocolPolicy, untrusted="maybe")
        self.assertRaises(ValueError, ProxyProtocolPolicy, trusted=("not-a-network",))
        self.assertRaises(ValueError, ProxyProtocolPolicy, max_v2_length=70000)


class ProtocolInterfaceTests(SynchronousTestCase):
    def test_provides_iprotocol(self) -> None:
        h = Harness()
        self.assertTrue(IProtocol.providedBy(h.protocol))
        self.assertIn("PROXY", repr(h.protocol) + h.wrapper.logPrefix())

    def test_header_tlvs_available(self) -> None:
        header = ProxyHeader.proxy(CLIENT, DEST, tlvs=[TLV(0xE1, b"custom")])
        factory = RecordingFactory()
        h = Harness(factory=factory)
        h.feed(header.to_bytes(crc32c=True))
        parsed = get_proxy_header(factory.protocols[0].transport)
        assert parsed is not None
        self.assertEqual(parsed.get_tlv(0xE1), b"custom")
        self.assertIsNotNone(parsed.crc32c)


def connect(wrapper: ProxyProtocolWrapper, transport: StringTransport | None = None) -> Any:
    """One more connection to C{wrapper} on a StringTransport; its header reader."""
    transport = transport or StringTransport(peerAddress=LB, hostAddress=SELF)
    reader = wrapper.buildProtocol(LB)
    reader.makeConnection(transport)
    return reader


class PolicyChangeTests(SynchronousTestCase):
    """A new C{wrapper.policy} applies, whole, to the connections that follow."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.wrapper = ProxyProtocolWrapper(
            RecordingFactory(), ProxyProtocolPolicy(timeout=10), clock=self.clock
        )
        self.old = connect(self.wrapper)
        self.wrapper.policy = ProxyProtocolPolicy(
            versions=frozenset({2}), max_v2_length=100, timeout=2
        )

    def test_versions(self) -> None:
        reader = connect(self.wrapper)
        reader.dataReceived(V1_TCP4)
        self.assertTrue(reader.transport.disconnecting)
        self.assertEqual(self.wrapper.stats.rejected, {"version-not-accepted": 1})

    def test_cap(self) -> None:
        reader = connect(self.wrapper)
        reader.dataReceived(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x65")
        self.assertEqual(self.wrapper.stats.rejected, {"v2-length-cap": 1})

    def test_timeout(self) -> None:
        """The new timeout for new connections; the old deadline stays."""
        new = connect(self.wrapper)
        self.clock.advance(2)
        self.assertTrue(new.transport.disconnecting)
        self.assertFalse(self.old.transport.disconnecting)
        self.assertEqual(self.wrapper.pending, 1)
        self.clock.advance(8)
        self.assertTrue(self.old.transport.disconnecting)
        self.assertEqual(self.wrapper.stats.timed_out, 2)
        self.assertEqual(self.wrapper.pending, 0)

    def test_trusted(self) -> None:
        self.wrapper.policy = ProxyProtocolPolicy(trusted=("192.0.2.0/24",))
        reader = connect(self.wrapper)
        self.assertTrue(reader.transport.disconnecting)
        self.assertEqual(self.wrapper.stats.rejected, {"untrusted": 1})


class StateTests(SynchronousTestCase):
    """The reader's named states, end states included."""

    def test_states(self) -> None:
        from pptwisted.stream._connection import ConnectionState

        clock = MemoryReactorClock()

        class Refusing(Factory):
            def buildProtocol(self, addr: IAddress) -> None:
                return None

        cases: list[tuple[ConnectionState, Any]] = []
        wrapper = ProxyProtocolWrapper(RecordingFactory(), clock=clock)
        reader = connect(wrapper)
        cases.append((ConnectionState.READING, reader))
        relaying = connect(wrapper)
        relaying.dataReceived(V1_TCP4)
        cases.append((ConnectionState.RELAYING, relaying))
        rejected = connect(wrapper)
        rejected.dataReceived(b"GET / HTTP/1.0\r\n")
        cases.append((ConnectionState.REJECTED, rejected))
        lost = connect(wrapper)
        lost.connectionLost(Failure(ConnectionDone()))
        cases.append((ConnectionState.CLOSED, lost))
        refused = connect(ProxyProtocolWrapper(Refusing(), clock=clock))
        refused.dataReceived(V1_TCP4)
        cases.append((ConnectionState.REFUSED, refused))
        for state, which in cases:
            self.assertIs(which.state, state)
        clock.advance(10)
        self.assertIs(reader.state, ConnectionState.TIMED_OUT)


class RelayedDeliveryTests(SynchronousTestCase):
    """On the relay path, the bytes after the header go where Twisted would send them."""

    def test_paused_in_connection_made(self) -> None:
        class Pausing(RecordingProtocol):
            def connectionMade(self) -> None:
                super().connectionMade()
                self.transport.pauseProducing()  # type: ignore[union-attr]

        factory = RecordingFactory(Pausing)
        h = Harness(factory=factory)
        h.feed(V1_TCP4 + b"early")
        app = factory.protocols[0]
        self.assertEqual(app.received, b"")
        app.transport.resumeProducing()  # type: ignore[union-attr]
        self.assertEqual(app.received, b"")
        h.clock.advance(0)
        self.assertEqual(app.received, b"early")

    def test_start_tls_in_connection_made(self) -> None:
        """
        After startTLS() the bytes go to the TLS layer it put between the
        socket and the reader (as Twisted's does: the socket transport's new
        protocol).
        """
        tls = RecordingProtocol([])

        class Upgrading(StringTransport):
            protocol: object = None

            def startTLS(self, options: object) -> None:
                self.protocol = tls

        class Starting(RecordingProtocol):
            def connectionMade(self) -> None:
                super().connectionMade()
                self.transport.startTLS(None)  # type: ignore[union-attr]

        factory = RecordingFactory(Starting)
        transport = Upgrading(peerAddress=LB, hostAddress=SELF)
        reader = connect(ProxyProtocolWrapper(factory, clock=MemoryReactorClock()), transport)
        reader.dataReceived(V1_TCP4 + b"\x16\x03\x01hello")
        self.assertEqual(tls.received, b"\x16\x03\x01hello")
        self.assertEqual(factory.protocols[0].received, b"")

    def test_wrapping_transport(self) -> None:
        """
        The wrapper inside another wrapping factory whose protocol decodes
        what the socket reads (as TLS does): the bytes that came with the
        header reach the application once, decoded once. (They used to be
        given to the socket transport's protocol, the decoding layer, again.)
        """

        def xor(data: bytes) -> bytes:
            return bytes(b ^ 0x5A for b in data)

        class Decoding(ProtocolWrapper):
            def dataReceived(self, data: bytes) -> None:
                super().dataReceived(xor(data))

        factory = RecordingFactory()
        reader_factory = ProxyProtocolWrapper(factory, clock=MemoryReactorClock())
        outer = WrappingFactory(reader_factory)
        outer.protocol = Decoding
        socket_transport = StringTransport(peerAddress=LB, hostAddress=SELF)
        layer = outer.buildProtocol(LB)
        socket_transport.protocol = layer  # type: ignore[attr-defined]
        layer.makeConnection(socket_transport)
        layer.dataReceived(xor(V1_TCP4 + b"first"))
        layer.dataReceived(xor(b" second"))
        app = factory.protocols[0]
        self.assertEqual(app.received, b"first second")
        self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr]
        # The transport under the application is the wrapping layer's.
        self.assertIs(app.transport.transport, layer)  # type: ignore[union-attr]

    def test_error_under_wrapping_transport_aborts(self) -> None:
        """
        The application raises on the bytes that came with the header, its
        transport a wrapping layer: the socket is closed (aborted), not the
        layer told, as a protocol, that its connection was lost.
        """

        class Raising(RecordingProtocol):
            def dataReceived(self, data: bytes) -> None:
                raise ZeroDivisionError()

        factory = RecordingFactory(Raising)
        outer = WrappingFactory(ProxyProtocolWrapper(factory, clock=MemoryReactorClock()))
        socket_transport = StringTransport(peerAddress=LB, hostAddress=SELF)
        layer = outer.buildProtocol(LB)
        layer.makeConnection(socket_transport)
        layer.dataReceived(V1_TCP4 + b"boom")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(socket_transport.disconnecting)
        self.assertNotIn("lost", [event for event, _ in factory.events])

    def test_connection_made_raises(self) -> None:
        """Logged, the connection kept and the bytes delivered, as on plain tcp."""

        class Raising(RecordingProtocol):
            def connectionMade(self) -> None:
                super().connectionMade()
                raise ZeroDivisionError()

        factory = RecordingFactory(Raising)
        h = Harness(factory=factory)
        h.feed(V1_TCP4 + b"data")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertFalse(h.closed)
        self.assertEqual(factory.protocols[0].received, b"data")


class Greeting(RecordingProtocol):
    """A server that speaks first (SMTP, FTP, POP3, IMAP): a greeting on connect."""

    def connectionMade(self) -> None:
        super().connectionMade()
        assert self.transport is not None
        self.transport.write(b"220 ready\r\n")

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        assert self.transport is not None
        self.transport.write(b"250 " + data)


class ServerFirstTests(SynchronousTestCase):
    """
    A server that speaks first, behind a sender that sends the header only
    with the client's first bytes (AWS NLB's default header placement,
    C{on_first_ack_with_payload}): the greeting goes out only after the
    header, never before; a client that waits for the greeting is closed at
    the header timeout.
    """

    def test_greeting_only_after_the_header(self) -> None:
        factory = RecordingFactory(Greeting)
        h = Harness(ProxyProtocolPolicy(timeout=10), factory=factory)
        h.clock.advance(9)
        self.assertEqual(h.transport.value(), b"")
        self.assertEqual(factory.events, [])
        # The header and the client's first bytes, in one read.
        h.feed(V2_TCP4 + b"EHLO client\r\n")
        self.assertEqual(h.transport.value(), b"220 ready\r\n250 EHLO client\r\n")
        self.assertEqual(factory.addresses, [CLIENT])
        self.assertEqual([event for event, _ in factory.events], ["build", "made", "data"])

    def test_client_waiting_for_the_greeting_is_closed(self) -> None:
        """What happens with NLB's default placement and a server-first protocol."""
        factory = RecordingFactory(Greeting)
        h = Harness(ProxyProtocolPolicy(timeout=3), factory=factory)
        h.clock.advance(3)
        self.assertTrue(h.closed)
        self.assertEqual(h.transport.value(), b"")
        self.assertEqual(factory.events, [])
        self.assertEqual(h.wrapper.stats.timed_out, 1)


class DeadlinesTests(SynchronousTestCase):
    def test_shorter_timeout_keeps_earlier_deadlines(self) -> None:
        """A shorter timeout never postpones a deadline already due sooner."""
        from pptwisted.stream._deadlines import Deadlines

        clock = MemoryReactorClock()
        expired: list[str] = []

        class Waiting:
            def __init__(self, name: str) -> None:
                self.name = name

            def header_timed_out(self) -> None:
                expired.append(self.name)

        deadlines = Deadlines(clock, 10)
        deadlines.add(Waiting("first"))
        clock.advance(9)
        deadlines.timeout = 5  # the first is due at 10, before 9 + 5
        deadlines.add(Waiting("second"))
        clock.advance(1)
        self.assertEqual(expired, ["first"])
        clock.advance(4)
        self.assertEqual(expired, ["first", "second"])
        self.assertEqual(len(deadlines), 0)

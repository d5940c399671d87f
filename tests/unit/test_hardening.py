"""
The receiver under attack, on StringTransport and a fake clock: the TLV cap
and required CRC32C wired to the parser, the rate-limited rejection log, the
per-process cap on pending connections, the policy's C{check}, optional mode
serving server-first clients at the timeout, and the counters behind the
metrics (pending, evicted, header delay).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogEvent, LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import ProxyHeader, ProxyProtocolPolicy, ProxyProtocolWrapper
from pptwisted.endpoints._server import policy_from_options
from pptwisted.stream._connection import ConnectionState, ProxyProtocolConnection
from pptwisted.stream._pending import default_max_pending, pending_connections
from pptwisted.stream._stats import HEADER_DELAY_BUCKETS
from pptwisted.tlv import aws_vpce_tlv

from ..helpers import inet4, seal_crc32c, tlv, v2

LB = IPv4Address("TCP", "10.0.0.9", 40000)
OTHER_LB = IPv4Address("TCP", "10.0.0.10", 40001)
SELF = IPv4Address("TCP", "10.0.0.1", 8080)

V1_TCP4 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
ADDRESSES = inet4("192.0.2.7", "198.51.100.1", 4321, 443)
#: A v2 header with three TLVs (ALPN, AUTHORITY, NOOP).
V2_THREE_TLVS = v2(
    0x21, 0x11, ADDRESSES + tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0x04, b"")
)
#: A v2 header with a CRC32C TLV (type 0x03), sealed.
V2_CRC = seal_crc32c(v2(0x21, 0x11, ADDRESSES + tlv(0x03, b"\0\0\0\0")), 16 + 12 + 3)


class App(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.made = False

    def connectionMade(self) -> None:
        self.made = True

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class AppFactory(Factory):
    def __init__(self) -> None:
        self.built: list[App] = []

    def buildProtocol(self, addr: Any) -> App:
        app = App()
        app.factory = self
        self.built.append(app)
        return app


def capture(case: SynchronousTestCase) -> list[LogEvent]:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    case.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


def warnings(events: list[LogEvent]) -> list[LogEvent]:
    return [
        e
        for e in events
        if e.get("log_namespace") == "pptwisted" and e.get("log_level") == LogLevel.warn
    ]


def summaries(events: list[LogEvent]) -> list[LogEvent]:
    return [e for e in warnings(events) if "suppressed" in e]


class Server:
    """A wrapper on a fake clock, and its connections on StringTransports."""

    def __init__(self, policy: ProxyProtocolPolicy | None = None, **kwargs: Any) -> None:
        self.clock = MemoryReactorClock()
        self.app = AppFactory()
        self.wrapper = ProxyProtocolWrapper(self.app, policy, clock=self.clock, **kwargs)

    def connect(self, peer: IPv4Address = LB) -> tuple[ProxyProtocolConnection, StringTransport]:
        protocol = self.wrapper.buildProtocol(peer)
        transport = StringTransport(hostAddress=SELF, peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    @staticmethod
    def lose(protocol: ProxyProtocolConnection) -> None:
        protocol.connectionLost(Failure(ConnectionDone()))


class ParserOptionsTests(SynchronousTestCase):
    """C{max_tlvs} and C{require_crc32c} reach the parser, one read or many."""

    def test_too_many_tlvs(self) -> None:
        for split in (False, True):
            server = Server(ProxyProtocolPolicy(max_tlvs=2))
            protocol, transport = server.connect()
            if split:
                for i in range(len(V2_THREE_TLVS)):
                    protocol.dataReceived(V2_THREE_TLVS[i : i + 1])
            else:
                protocol.dataReceived(V2_THREE_TLVS)
            self.assertTrue(transport.disconnecting)
            self.assertEqual(server.wrapper.stats.rejected, {"v2-too-many-tlvs": 1})
            self.assertEqual(server.app.built, [])

    def test_three_tlvs_under_the_cap(self) -> None:
        server = Server(ProxyProtocolPolicy(max_tlvs=3))
        protocol, transport = server.connect()
        protocol.dataReceived(V2_THREE_TLVS)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.accepted, 1)

    def test_crc32c_required(self) -> None:
        server = Server(ProxyProtocolPolicy(require_crc32c=True))
        protocol, transport = server.connect()
        protocol.dataReceived(V2_THREE_TLVS)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.rejected, {"v2-crc32c-required": 1})
        protocol, transport = server.connect()
        protocol.dataReceived(V2_CRC + b"hello")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(server.app.built[0].received, b"hello")

    def test_crc32c_not_required_by_default(self) -> None:
        server = Server()
        protocol, _transport = server.connect()
        protocol.dataReceived(V2_THREE_TLVS)
        self.assertEqual(server.wrapper.stats.accepted, 1)

    def test_policy_replaced(self) -> None:
        """A new policy's caps apply to the connections that come after."""
        server = Server()
        server.wrapper.policy = ProxyProtocolPolicy(max_tlvs=1, require_crc32c=True)
        protocol, _transport = server.connect()
        protocol.dataReceived(V2_THREE_TLVS)
        self.assertEqual(server.wrapper.stats.rejected, {"v2-too-many-tlvs": 1})

    def test_options(self) -> None:
        policy = policy_from_options(
            {"proxyMaxTLVs": "5", "proxyRequireCrc32c": "yes", "proxyMaxPending": "7"}
        )
        self.assertEqual((policy.max_tlvs, policy.require_crc32c, policy.max_pending), (5, True, 7))
        with self.assertRaises(ValueError):
            policy_from_options({"proxyMaxPending": "0"})
        with self.assertRaises(ValueError):
            policy_from_options({"proxyMaxPending": "many"})


class StatsTests(SynchronousTestCase):
    """The C{pending} gauge, the header delay and the eviction counter."""

    def test_pending_on_every_exit(self) -> None:
        server = Server(ProxyProtocolPolicy(timeout=5))
        stats = server.wrapper.stats
        accepted, _ = server.connect()
        rejected, _ = server.connect()
        lost, _ = server.connect()
        timed_out, _ = server.connect()
        self.assertEqual(stats.pending, 4)
        server.clock.advance(0.3)
        accepted.dataReceived(V1_TCP4)
        self.assertEqual(stats.pending, 3)
        rejected.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertEqual(stats.pending, 2)
        server.lose(lost)
        self.assertEqual(stats.pending, 1)
        server.clock.advance(5)
        self.assertEqual(stats.pending, 0)
        self.assertEqual(
            (stats.accepted, sum(stats.rejected.values()), stats.lost, stats.timed_out),
            (1, 1, 1, 1),
        )
        # Closing after the verdict changes nothing.
        for protocol in (accepted, rejected, timed_out):
            server.lose(protocol)
        self.assertEqual((stats.pending, stats.lost), (0, 1))
        self.assertEqual(len(pending_connections), 0)

    def test_header_delay(self) -> None:
        server = Server()
        protocol, _ = server.connect()
        server.clock.advance(0.3)
        protocol.dataReceived(V1_TCP4)
        stats = server.wrapper.stats
        expected = [0] * (len(HEADER_DELAY_BUCKETS) + 1)
        expected[HEADER_DELAY_BUCKETS.index(0.5)] = 1
        self.assertEqual(stats.header_delay_counts, expected)
        self.assertAlmostEqual(stats.header_delay_sum, 0.3)

    def test_direct_is_no_header_delay(self) -> None:
        server = Server(ProxyProtocolPolicy(require_header=False))
        protocol, _ = server.connect()
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertEqual(server.wrapper.stats.direct, 1)
        self.assertEqual(sum(server.wrapper.stats.header_delay_counts), 0)
        self.assertEqual(server.wrapper.stats.pending, 0)


class RejectionLogTests(SynchronousTestCase):
    """Per listener and per rule: the first ones in full, then a summary."""

    def test_burst_then_summary(self) -> None:
        events = capture(self)
        server = Server()
        peers = [IPv4Address("TCP", f"10.0.0.{i % 7}", 1000 + i) for i in range(50)]
        for peer in peers:
            protocol, transport = server.connect(peer)
            protocol.dataReceived(b"GET / HTTP/1.1\r\n")
            self.assertTrue(transport.disconnecting)
        for _ in range(3):
            protocol, transport = server.connect()
            protocol.dataReceived(b"PROXY TCP4 999.0.0.1 1.2.3.4 1 2\r\n")
        full = [e for e in warnings(events) if "suppressed" not in e]
        self.assertEqual([e["rule"] for e in full], ["signature"] * 10 + ["v1-ipv4"] * 3)
        self.assertEqual(full[0]["reason"], "signature")
        self.assertEqual(full[0]["excerpt"], b"GET / HTTP/1.1\r\n".hex(" "))
        self.assertEqual(summaries(events), [])
        # The counters stay exact.
        self.assertEqual(server.wrapper.stats.rejected, {"signature": 50, "v1-ipv4": 3})
        server.clock.advance(10)
        [summary] = summaries(events)
        self.assertEqual(summary["suppressed"], {"signature": 40})
        self.assertEqual(summary["count"], 40)
        self.assertEqual(summary["peers"], 7)
        # A new interval: in full again.
        protocol, _ = server.connect()
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertEqual(len(warnings(events)), 15)

    def test_new_rule_visible_at_once(self) -> None:
        events = capture(self)
        server = Server(ProxyProtocolPolicy(timeout=3))
        for _ in range(30):
            protocol, _ = server.connect()
            protocol.dataReceived(b"\x16\x03\x01")
        server.connect()
        server.clock.advance(3)
        rules = [e["rule"] for e in warnings(events) if "suppressed" not in e]
        self.assertEqual(rules, ["signature"] * 10 + ["timeout"])

    def test_configurable(self) -> None:
        events = capture(self)
        server = Server(log_burst=2, log_interval=60)
        for _ in range(5):
            protocol, _ = server.connect()
            protocol.dataReceived(b"x")
        self.assertEqual(len(warnings(events)), 2)
        server.clock.advance(59)
        self.assertEqual(len(warnings(events)), 2)
        server.clock.advance(1)
        self.assertEqual(summaries(events)[0]["suppressed"], {"signature": 3})

    def test_per_listener(self) -> None:
        events = capture(self)
        one, two = Server(log_burst=1), Server(log_burst=1)
        for server in (one, two, one, two):
            protocol, _ = server.connect()
            protocol.dataReceived(b"x")
        self.assertEqual(len(warnings(events)), 2)

    def test_stop_flushes(self) -> None:
        events = capture(self)
        server = Server(log_burst=0)
        server.wrapper.doStart()
        protocol, _ = server.connect()
        protocol.dataReceived(b"x")
        server.wrapper.doStop()
        self.assertEqual(summaries(events)[0]["suppressed"], {"signature": 1})
        self.assertEqual(server.clock.getDelayedCalls(), [])


class PendingCapTests(SynchronousTestCase):
    """The oldest waiting connection goes when the process is over the cap."""

    def test_default_is_half_the_fd_limit(self) -> None:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            self.assertEqual(default_max_pending(), soft // 2)
            self.assertEqual(Server().wrapper.max_pending, soft // 2)

    def test_evicts_oldest(self) -> None:
        events = capture(self)
        server = Server(ProxyProtocolPolicy(max_pending=3))
        connections = [server.connect() for _ in range(5)]
        connections[2][0].dataReceived(b"PROXY TCP4 ")
        stats = server.wrapper.stats
        self.assertEqual(
            [t.disconnecting for _, t in connections], [True, True, False, False, False]
        )
        self.assertEqual(connections[0][0].state, ConnectionState.EVICTED)
        self.assertEqual((stats.evicted, stats.pending), (2, 3))
        self.assertEqual(len(server.wrapper.deadlines), 3)
        # Their connectionLost is not a loss.
        server.lose(connections[0][0])
        self.assertEqual(stats.lost, 0)
        [event, _] = warnings(events)
        self.assertEqual(event["rule"], "evicted")
        self.assertEqual(event["cap"], 3)
        # One that got its header out of the way makes room.
        connections[2][0].dataReceived(b"192.0.2.7 198.51.100.1 4321 443\r\n")
        server.connect()
        self.assertEqual(stats.evicted, 2)
        self.assertEqual(stats.pending, 3)

    def test_shared_by_listeners(self) -> None:
        one = Server(ProxyProtocolPolicy(max_pending=3))
        two = Server(ProxyProtocolPolicy(max_pending=3))
        _first, first_transport = one.connect()
        one.connect()
        two.connect()
        self.assertFalse(first_transport.disconnecting)
        two.connect()
        self.assertTrue(first_transport.disconnecting)
        self.assertEqual((one.wrapper.stats.evicted, two.wrapper.stats.evicted), (1, 0))
        self.assertEqual(len(pending_connections), 3)

    def test_optional_mode_silent_counts(self) -> None:
        server = Server(ProxyProtocolPolicy(require_header=False, max_pending=1))
        _, old = server.connect()
        server.connect()
        self.assertTrue(old.disconnecting)
        self.assertEqual(server.wrapper.stats.evicted, 1)

    def test_a_checking_connection_counts(self) -> None:
        never: Deferred[bool] = Deferred()
        server = Server(ProxyProtocolPolicy(max_pending=1, check=lambda h, p: never))
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        self.assertIs(protocol.state, ConnectionState.CHECKING)
        server.connect()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.evicted, 1)
        self.assertEqual(server.app.built, [])


class CheckTests(SynchronousTestCase):
    """C{ProxyProtocolPolicy(check=f)}: bool or Deferred, rule C{policy}."""

    def setUp(self) -> None:
        self.calls: list[tuple[ProxyHeader | None, Any]] = []

    def only(self, vpce: str) -> Any:
        def check(header: ProxyHeader | None, peer: Any) -> bool:
            self.calls.append((header, peer))
            return header is not None and header.aws_vpce_id == vpce

        return check

    def header(self, vpce: str) -> bytes:
        return ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.7", 4321),
            IPv4Address("TCP", "198.51.100.1", 443),
            tlvs=[aws_vpce_tlv(vpce)],
        ).to_bytes()

    def test_bool(self) -> None:
        events = capture(self)
        server = Server(ProxyProtocolPolicy(check=self.only("vpce-0a1b2c3d")))
        good, good_transport = server.connect()
        good.dataReceived(self.header("vpce-0a1b2c3d") + b"hi")
        bad, bad_transport = server.connect()
        bad.dataReceived(self.header("vpce-ffffffff"))
        self.assertFalse(good_transport.disconnecting)
        self.assertEqual(server.app.built[0].received, b"hi")
        self.assertTrue(bad_transport.disconnecting)
        self.assertEqual(len(server.app.built), 1)
        self.assertEqual(server.wrapper.stats.rejected, {"policy": 1})
        self.assertEqual(self.calls[0][1], LB)
        [event] = warnings(events)
        self.assertEqual(event["rule"], "policy")

    def test_exception_refuses(self) -> None:
        def check(header: ProxyHeader | None, peer: Any) -> bool:
            raise KeyError("boom")

        server = Server(ProxyProtocolPolicy(check=check))
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.rejected, {"policy": 1})
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_truthy_is_not_true(self) -> None:
        server = Server(ProxyProtocolPolicy(check=lambda h, p: 1))  # type: ignore[arg-type,return-value]
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        self.assertTrue(transport.disconnecting)

    def test_deferred(self) -> None:
        answer: Deferred[bool] = Deferred()
        server = Server(ProxyProtocolPolicy(check=lambda h, p: answer))
        protocol, _transport = server.connect()
        protocol.dataReceived(V1_TCP4 + b"one ")
        protocol.dataReceived(b"two")
        self.assertEqual(server.app.built, [])
        self.assertEqual(server.wrapper.stats.pending, 1)
        answer.callback(True)
        [app] = server.app.built
        self.assertEqual(app.received, b"one two")
        self.assertEqual(server.wrapper.stats.pending, 0)
        self.assertEqual(server.wrapper.stats.accepted, 1)

    def test_bytes_while_checking_are_bounded(self) -> None:
        """Past 64 KiB the connection stops reading until the check answers."""
        from pptwisted.stream._connection import CHECK_BUFFER_BYTES

        answer: Deferred[bool] = Deferred()
        server = Server(ProxyProtocolPolicy(check=lambda h, p: answer))
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        chunk = b"x" * 4096
        sent = 0
        while transport.producerState != "paused" and sent <= 2 * CHECK_BUFFER_BYTES:
            protocol.dataReceived(chunk)
            sent += len(chunk)
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(sent, CHECK_BUFFER_BYTES + len(chunk))
        answer.callback(True)
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(len(server.app.built[0].received), sent)

    def test_deferred_false_and_failure(self) -> None:
        for result in (succeed(False), fail(ValueError("lookup failed"))):
            server = Server(ProxyProtocolPolicy(check=lambda h, p, r=result: r))
            protocol, transport = server.connect()
            protocol.dataReceived(V1_TCP4)
            self.assertTrue(transport.disconnecting)
            self.assertEqual(server.wrapper.stats.rejected, {"policy": 1})
            self.assertEqual(server.wrapper.stats.pending, 0)

    def test_deferred_never_fires(self) -> None:
        """The header timeout covers the check; the Deferred is cancelled."""
        cancelled: list[object] = []
        never: Deferred[bool] = Deferred(cancelled.append)
        server = Server(ProxyProtocolPolicy(timeout=3, check=lambda h, p: never))
        protocol, transport = server.connect()
        server.clock.advance(1)
        protocol.dataReceived(V1_TCP4)
        server.clock.advance(2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.timed_out, 1)
        self.assertEqual(server.wrapper.stats.pending, 0)
        self.assertEqual(cancelled, [never])
        self.assertEqual(server.app.built, [])

    def test_lost_while_checking(self) -> None:
        cancelled: list[object] = []
        answer: Deferred[bool] = Deferred(cancelled.append)
        server = Server(ProxyProtocolPolicy(check=lambda h, p: answer))
        protocol, _ = server.connect()
        protocol.dataReceived(V1_TCP4)
        server.lose(protocol)
        self.assertEqual((server.wrapper.stats.lost, server.wrapper.stats.pending), (1, 0))
        self.assertEqual(cancelled, [answer])
        self.assertEqual(server.app.built, [])

    def test_direct_sees_none(self) -> None:
        server = Server(ProxyProtocolPolicy(require_header=False, check=self.only("x")))
        protocol, transport = server.connect()
        protocol.dataReceived(b"GET /")
        self.assertEqual(self.calls, [(None, LB)])
        self.assertTrue(transport.disconnecting)

    def test_untrusted_direct_has_a_timeout(self) -> None:
        never: Deferred[bool] = Deferred()
        policy = ProxyProtocolPolicy(
            trusted=("10.9.0.0/16",), untrusted="direct", timeout=3, check=lambda h, p: never
        )
        server = Server(policy)
        _protocol, transport = server.connect()
        self.assertEqual(server.wrapper.stats.pending, 1)
        server.clock.advance(3)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.timed_out, 1)

    def test_replaced_at_run_time(self) -> None:
        server = Server(ProxyProtocolPolicy(check=lambda h, p: False))
        server.wrapper.policy = ProxyProtocolPolicy(check=lambda h, p: True)
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        self.assertFalse(transport.disconnecting)
        server.wrapper.policy = ProxyProtocolPolicy()
        protocol, transport = server.connect()
        protocol.dataReceived(V1_TCP4)
        self.assertEqual(len(server.app.built), 2)

    def test_not_callable(self) -> None:
        with self.assertRaises(ValueError):
            ProxyProtocolPolicy(check="yes")  # type: ignore[arg-type]


class ServerFirstTests(SynchronousTestCase):
    """Optional mode serves a silent or never-complete client at the timeout."""

    def test_silent_served_direct(self) -> None:
        server = Server(ProxyProtocolPolicy(require_header=False, timeout=2))
        protocol, transport = server.connect()
        server.clock.advance(1.9)
        self.assertEqual(server.app.built, [])
        server.clock.advance(0.1)
        [app] = server.app.built
        self.assertTrue(app.made)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(app.transport.getPeer(), LB)
        self.assertEqual(server.wrapper.stats.direct, 1)
        self.assertEqual(server.wrapper.stats.timed_out, 0)
        self.assertEqual(server.wrapper.stats.pending, 0)
        protocol.dataReceived(b"EHLO me\r\n")
        self.assertEqual(app.received, b"EHLO me\r\n")

    def test_prefix_passed_through(self) -> None:
        """Bytes that can still begin a header reach the application untouched."""
        for prefix in (b"\r\n", b"\r\n\r\n\x00\r\nQU", b"PROXY TCP4 192.0.2.7", b"P"):
            server = Server(ProxyProtocolPolicy(require_header=False, timeout=2))
            protocol, transport = server.connect()
            for i in range(len(prefix)):
                protocol.dataReceived(prefix[i : i + 1])
            server.clock.advance(2)
            [app] = server.app.built
            self.assertEqual(app.received, prefix)
            self.assertFalse(transport.disconnecting)

    def test_required_mode_closes(self) -> None:
        server = Server(ProxyProtocolPolicy(timeout=2))
        protocol, transport = server.connect()
        protocol.dataReceived(b"\r\n")
        server.clock.advance(2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.app.built, [])
        self.assertEqual(server.wrapper.stats.timed_out, 1)

    def test_check_gets_a_timeout_of_its_own(self) -> None:
        never: Deferred[bool] = Deferred()
        policy = ProxyProtocolPolicy(require_header=False, timeout=2, check=lambda h, p: never)
        server = Server(policy)
        protocol, transport = server.connect()
        server.clock.advance(2)
        self.assertFalse(transport.disconnecting)
        self.assertIs(protocol.state, ConnectionState.CHECKING)
        server.clock.advance(2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(server.wrapper.stats.timed_out, 1)


class AmplificationTests(SynchronousTestCase):
    """
    The memory a header holds for the life of a connection is at most 2x
    its size on the wire plus a small constant (issue 12: 5,452 empty TLVs
    held 401 KiB, 25x), TLVs decoded and vendor fields read included.
    """

    CONSTANT = 4096

    def held(self, wire: bytes) -> int:
        from bench.hardening import held_bytes

        return held_bytes(wire)

    def test_bounded(self) -> None:
        from bench.parse import worst_header
        from pptwisted import TLV

        a = (IPv4Address("TCP", "192.0.2.1", 1), IPv4Address("TCP", "192.0.2.2", 2))
        cases = {
            "worst accepted (16 KiB, 64 TLVs, CRC32C)": worst_header(),
            "64 empty TLVs": ProxyHeader.proxy(*a, tlvs=[TLV(0x04, b"")] * 64).to_bytes(),
            "64 TLVs of 250 bytes": ProxyHeader.proxy(
                *a, tlvs=[TLV(0xE0, b"y" * 250)] * 64
            ).to_bytes(),
            "63 empty SSL records": ProxyHeader.proxy(
                *a, tlvs=[TLV(0x20, b"\x01\0\0\0\0")] * 63
            ).to_bytes(crc32c=True),
        }
        for name, wire in cases.items():
            held = self.held(wire)
            self.assertLessEqual(held, 2 * len(wire) + self.CONSTANT, f"{name}: {held} bytes")


class EndpointOptionsTests(SynchronousTestCase):
    def test_log_budget_reaches_the_wrapper(self) -> None:
        from twisted.internet.endpoints import TCP4ServerEndpoint

        from pptwisted import ProxyProtocolServerEndpoint

        reactor = MemoryReactorClock()
        endpoint = ProxyProtocolServerEndpoint(
            TCP4ServerEndpoint(reactor, 0), clock=reactor, log_burst=3, log_interval=5.0
        )
        self.successResultOf(endpoint.listen(AppFactory()))
        wrapper = reactor.tcpServers[0][1]
        self.assertIsInstance(wrapper, ProxyProtocolWrapper)
        self.assertEqual((wrapper.rejection_log.burst, wrapper.rejection_log.interval), (3, 5.0))


class RescanTests(SynchronousTestCase):
    """
    A short incomplete header is kept as bytes and parsed again on the next
    read; past C{RESCAN_BYTES} the incremental parser takes over. Either way
    the same header, the same bytes after it, the same excerpt.
    """

    LONG = v2(0x21, 0x11, ADDRESSES + tlv(0xE0, b"z" * 400))

    def test_long_header_bytewise(self) -> None:
        from pptwisted.stream._connection import RESCAN_BYTES

        self.assertGreater(len(self.LONG), RESCAN_BYTES)
        for data in (self.LONG, V2_THREE_TLVS, V1_TCP4):
            server = Server()
            protocol, _ = server.connect()
            wire = data + b"after"
            for i in range(len(wire)):
                protocol.dataReceived(wire[i : i + 1])
            [app] = server.app.built
            self.assertEqual(app.received, b"after")
            self.assertEqual(app.transport.getPeer(), IPv4Address("TCP", "192.0.2.7", 4321))

    def test_parser_only_past_the_bound(self) -> None:
        server = Server()
        protocol, _ = server.connect()
        protocol.dataReceived(V1_TCP4[:-3])
        self.assertIsNone(protocol._parser)
        protocol, _ = server.connect()
        protocol.dataReceived(self.LONG[:300])
        self.assertIsNotNone(protocol._parser)
        self.assertEqual(protocol._prefix, b"")
        self.assertEqual(protocol._excerpt, self.LONG[:32])

    def test_long_header_rejected_excerpt(self) -> None:
        events = capture(self)
        server = Server(ProxyProtocolPolicy(max_tlvs=0))
        protocol, transport = server.connect()
        for i in range(0, len(self.LONG), 100):
            protocol.dataReceived(self.LONG[i : i + 100])
        self.assertTrue(transport.disconnecting)
        [event] = warnings(events)
        self.assertEqual(event["rule"], "v2-too-many-tlvs")
        self.assertEqual(event["excerpt"], self.LONG[:32].hex(" "))

    def test_optional_passes_long_prefix(self) -> None:
        server = Server(ProxyProtocolPolicy(require_header=False, timeout=2))
        protocol, _ = server.connect()
        for i in range(0, 300, 7):
            protocol.dataReceived(self.LONG[i : min(i + 7, 300)])
        server.clock.advance(2)
        [app] = server.app.built
        self.assertEqual(app.received, self.LONG[:300])

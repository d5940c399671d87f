"""
ProxyProtocolDatagramWrapper (PROXY v2 over UDP, spec section 2.2) and the
sender, on a fake port and a task.Clock; one test over a real socket.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.internet.threads import deferToThread
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pptwisted import (
    TLV,
    ProxyDatagramSender,
    ProxyHeader,
    ProxyProtocolDatagramWrapper,
    ProxyProtocolError,
    ProxyProtocolPolicy,
    get_proxy_header,
    get_proxy_transport,
)
from pptwisted.datagram import ProxyDatagramStats
from pptwisted.datagram._sender import datagram_header

from ..interop.harness import run_as_deferred

SIG = bytes.fromhex("0d0a0d0a000d0a515549540a")
#: What dnsdist sends in front of a query: v2 PROXY, INET DGRAM, 12 bytes of
#: addresses: client 192.0.2.10:40000 to the frontend 198.51.100.1:53.
HEADER_A = SIG + bytes.fromhex("21 12 000c c000020a c6336401 9c40 0035")
CLIENT_A = ("192.0.2.10", 40000)
#: Client 192.0.2.11:40001, same frontend.
HEADER_B = SIG + bytes.fromhex("21 12 000c c000020b c6336401 9c41 0035")
CLIENT_B = ("192.0.2.11", 40001)
#: Client 192.0.2.12:40002.
HEADER_C = SIG + bytes.fromhex("21 12 000c c000020c c6336401 9c42 0035")
CLIENT_C = ("192.0.2.12", 40002)
#: dnsdist's UDP health check header: v2 LOCAL, UNSPEC, no addresses.
LOCAL = SIG + bytes.fromhex("20 00 0000")
#: An IPv6 client [2001:db8::1]:5353 to [2001:db8::53]:53.
HEADER_V6 = SIG + bytes.fromhex(
    "21 22 002420010db8000000000000000000000001 20010db8000000000000000000000053 14e9 0035"
)
PROXY_SOCKET = ("127.0.0.1", 41000)
OTHER_PROXY = ("127.0.0.1", 41001)
QUERY = b"\x12\x34query"


class FakePort:
    """The bits of udp.Port the wrapper uses; records writes."""

    maxPacketSize = 8192

    def __init__(self, protocol: DatagramProtocol) -> None:
        self.protocol = protocol
        self.written: list[tuple[bytes, Any]] = []
        protocol.makeConnection(self)  # type: ignore[arg-type]

    def write(self, data: bytes, addr: Any = None) -> None:
        self.written.append((data, addr))

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", 5300)

    def connect(self, host: str, port: int) -> None:
        raise AssertionError("the real port must never be connected")

    def stopListening(self) -> None:
        self.protocol.doStop()


class Recorder(DatagramProtocol):
    """Keeps what it got, with the header and real peer seen meanwhile."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.headers: list[ProxyHeader | None] = []
        self.real_peers: list[Any] = []
        self.reply = reply
        self.started = self.stopped = 0

    def startProtocol(self) -> None:
        self.started += 1

    def stopProtocol(self) -> None:
        self.stopped += 1

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        self.headers.append(get_proxy_header(self))
        proxied = get_proxy_transport(self)
        assert proxied is not None
        self.real_peers.append(proxied.getRealPeer())
        if self.reply is not None:
            assert self.transport is not None
            self.transport.write(self.reply + datagram, addr)


def make(
    reply: bytes | None = None, **kwargs: Any
) -> tuple[ProxyProtocolDatagramWrapper, Recorder, FakePort, Clock]:
    clock = Clock()
    app = Recorder(reply)
    wrapper = ProxyProtocolDatagramWrapper(app, clock=clock, **kwargs)
    port = FakePort(wrapper)
    return wrapper, app, port, clock


class EveryModeTests(SynchronousTestCase):
    def test_payload_with_header_source(self) -> None:
        """The payload reaches the protocol with the header's source address."""
        wrapper, app, _port, _ = make()
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, CLIENT_A)])
        header = app.headers[0]
        assert header is not None
        self.assertEqual(header.source, IPv4Address("UDP", *CLIENT_A))
        self.assertEqual(header.destination, IPv4Address("UDP", "198.51.100.1", 53))
        self.assertEqual(app.real_peers, [IPv4Address("UDP", *PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.delivered, 1)
        self.assertIsNone(get_proxy_header(app), "the header is only set during delivery")

    def test_reply_goes_to_proxy_without_header(self) -> None:
        """transport.write(data, client) sends data, bare, to the proxy socket."""
        wrapper, _app, port, _ = make(reply=b"re:")
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        self.assertEqual(port.written, [(b"re:" + QUERY, PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.replies, 1)

    def test_many_clients_one_proxy_socket(self) -> None:
        """Each client's reply goes to the socket its own datagram came from."""
        wrapper, app, port, _ = make()
        wrapper.datagramReceived(HEADER_A + b"a", PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_B + b"b", PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_C + b"c", OTHER_PROXY)
        assert app.transport is not None
        app.transport.write(b"to-b", CLIENT_B)
        app.transport.write(b"to-c", CLIENT_C)
        app.transport.write(b"to-a", CLIENT_A)
        self.assertEqual(
            port.written, [(b"to-b", PROXY_SOCKET), (b"to-c", OTHER_PROXY), (b"to-a", PROXY_SOCKET)]
        )
        self.assertEqual(app.received, [(b"a", CLIENT_A), (b"b", CLIENT_B), (b"c", CLIENT_C)])
        self.assertEqual(wrapper.flow_count, 3)

    def test_tlv_and_length_at_the_cap(self) -> None:
        """A NOOP TLV (04 0001 00) after the addresses, the length at the cap: delivered."""
        wrapper, app, _port, _ = make(policy=ProxyProtocolPolicy(max_v2_length=16))
        header = SIG + bytes.fromhex("21 12 0010") + HEADER_A[16:] + bytes.fromhex("04 0001 00")
        wrapper.datagramReceived(header + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, CLIENT_A)])
        seen = app.headers[0]
        assert seen is not None
        self.assertEqual([(t.type, t.value) for t in seen.tlvs], [(0x04, b"\0")])
        self.assertEqual(wrapper.stats.delivered, 1)

    def test_client_moves_to_another_proxy_socket(self) -> None:
        """A known client's entry follows the proxy socket of its latest datagram."""
        wrapper, app, port, _ = make()
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_A + QUERY, OTHER_PROXY)
        assert app.transport is not None
        app.transport.write(b"r", CLIENT_A)
        self.assertEqual(port.written, [(b"r", OTHER_PROXY)])
        self.assertEqual(wrapper.flow_count, 1)

    def test_ipv6_client(self) -> None:
        wrapper, app, port, _ = make(reply=b"")
        wrapper.datagramReceived(HEADER_V6 + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, ("2001:db8::1", 5353))])
        header = app.headers[0]
        assert header is not None
        self.assertEqual(header.source, IPv6Address("UDP", "2001:db8::1", 5353))
        self.assertEqual(port.written, [(QUERY, PROXY_SOCKET)])

    def test_local_health_check(self) -> None:
        """
        dnsdist's health check (v2 LOCAL, 20 00 0000) is delivered with the
        real socket address, and the answer goes straight back to it.
        """
        wrapper, app, port, _ = make(reply=b"ok:")
        wrapper.datagramReceived(LOCAL + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, PROXY_SOCKET)])
        header = app.headers[0]
        assert header is not None
        self.assertTrue(header.uses_real_addresses)
        self.assertEqual(port.written, [(b"ok:" + QUERY, PROXY_SOCKET)])
        self.assertEqual((wrapper.stats.local, wrapper.stats.delivered), (1, 0))

    def test_header_per_datagram(self) -> None:
        """Every datagram is parsed on its own: a bare one after a header is dropped."""
        wrapper, app, _port, _ = make()
        wrapper.datagramReceived(HEADER_A + b"1", PROXY_SOCKET)
        wrapper.datagramReceived(b"2", PROXY_SOCKET)
        self.assertEqual(app.received, [(b"1", CLIENT_A)])
        self.assertEqual(dict(wrapper.stats.dropped), {"headerless": 1})

    def test_app_gets_wrapped_transport(self) -> None:
        wrapper, app, _port, _ = make()
        self.assertEqual(app.started, 1)
        assert app.transport is not None
        self.assertEqual(app.transport.getHost(), IPv4Address("UDP", "127.0.0.1", 5300))
        self.assertEqual(app.transport.maxPacketSize, 8192)  # type: ignore[attr-defined]
        self.assertIn("Recorder (PROXY)", wrapper.logPrefix())

    def test_connect_raises_and_spares_the_socket(self) -> None:
        """connect() on the inner transport raises; the real port is untouched."""
        wrapper, app, _port, _ = make()
        assert app.transport is not None
        self.assertRaises(ProxyProtocolError, app.transport.connect, "192.0.2.10", 40000)
        self.assertRaises(ProxyProtocolError, app.transport.setBroadcastAllowed, True)
        wrapper.datagramReceived(HEADER_A + b"x", PROXY_SOCKET)
        self.assertEqual(len(app.received), 1)

    def test_stop_listening(self) -> None:
        """Stopping the port stops the protocol, the sweep timer and the table."""
        wrapper, app, _port, clock = make()
        wrapper.datagramReceived(HEADER_A + b"x", PROXY_SOCKET)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        assert app.transport is not None
        app.transport.stopListening()
        self.assertEqual(app.stopped, 1)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(wrapper.flow_count, 0)


class DropTests(SynchronousTestCase):
    def assert_dropped(self, datagram: bytes, reason: str, **kwargs: Any) -> None:
        wrapper, app, _port, _ = make(**kwargs)
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        wrapper.datagramReceived(datagram, PROXY_SOCKET)
        self.assertEqual(app.received, [])
        self.assertEqual(dict(wrapper.stats.dropped), {reason: 1})
        self.assertEqual(wrapper.flow_count, 0)
        events = [e for e in observer if e.get("rule") == reason]
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["peer"], "127.0.0.1:41000")

    def test_v1_header(self) -> None:
        self.assert_dropped(
            b"PROXY TCP4 192.0.2.10 198.51.100.1 40000 53\r\nq", "version-not-accepted"
        )

    def test_stream_transport(self) -> None:
        """21 11: STREAM over INET is a TCP header, not for a datagram."""
        self.assert_dropped(
            SIG + bytes.fromhex("21 11 000c c000020a c6336401 9c40 0035") + QUERY, "stream"
        )

    def test_unix_family(self) -> None:
        body = b"/a".ljust(108, b"\0") + b"/b".ljust(108, b"\0")
        self.assert_dropped(SIG + bytes.fromhex("21 32 00d8") + body + QUERY, "unix")

    def test_truncated(self) -> None:
        """The length says 12 bytes of addresses, the datagram ends after 8."""
        self.assert_dropped(HEADER_A[:24], "truncated")

    def test_truncated_signature(self) -> None:
        self.assert_dropped(SIG[:7], "truncated")

    def test_malformed_version(self) -> None:
        self.assert_dropped(SIG + bytes.fromhex("31 12 000c") + HEADER_A[16:], "v2-version")

    def test_malformed_family(self) -> None:
        self.assert_dropped(SIG + bytes.fromhex("21 42 000c") + HEADER_A[16:], "v2-family")

    def test_crc32c_mismatch(self) -> None:
        good = datagram_header(CLIENT_A, ("198.51.100.1", 53), crc32c=True)
        self.assertEqual(good[28:31], bytes.fromhex("03 0004"))
        bad = good[:-1] + bytes([good[-1] ^ 0xFF])
        self.assert_dropped(bad + QUERY, "v2-crc32c-mismatch")

    def test_crc32c_good(self) -> None:
        wrapper, app, _port, _ = make()
        good = datagram_header(CLIENT_A, ("198.51.100.1", 53), crc32c=True)
        wrapper.datagramReceived(good + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, CLIENT_A)])

    def test_length_short_of_the_address_block(self) -> None:
        """21 12 000b: 11 bytes cannot hold the 12-byte IPv4 address block."""
        self.assert_dropped(SIG + bytes.fromhex("21 12 000b") + HEADER_A[16:27], "v2-length-short")

    def test_length_past_the_datagram(self) -> None:
        """21 12 0010: the length promises 16 bytes, the datagram holds 12."""
        self.assert_dropped(SIG + bytes.fromhex("21 12 0010") + HEADER_A[16:], "truncated")

    def test_length_over_the_cap(self) -> None:
        """A NOOP TLV makes the length 16, one over the policy's cap."""
        datagram = SIG + bytes.fromhex("21 12 0010") + HEADER_A[16:] + bytes.fromhex("04 0001 00")
        self.assert_dropped(
            datagram + QUERY, "v2-length-cap", policy=ProxyProtocolPolicy(max_v2_length=15)
        )

    def test_tlv_past_the_header(self) -> None:
        """A TLV whose length (2) runs past the header's end (1 byte left)."""
        datagram = SIG + bytes.fromhex("21 12 0010") + HEADER_A[16:] + bytes.fromhex("04 0002 00")
        self.assert_dropped(datagram + QUERY, "v2-tlv-truncated")

    def test_headerless(self) -> None:
        self.assert_dropped(QUERY, "headerless")

    def test_empty(self) -> None:
        self.assert_dropped(b"", "headerless")

    def test_untrusted(self) -> None:
        self.assert_dropped(
            HEADER_A + QUERY, "untrusted", policy=ProxyProtocolPolicy(trusted=("10.0.0.0/8",))
        )

    def test_trusted(self) -> None:
        wrapper, app, _port, _ = make(policy=ProxyProtocolPolicy(trusted=("127.0.0.0/8",)))
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_B + QUERY, PROXY_SOCKET)
        self.assertEqual([a for _, a in app.received], [CLIENT_A, CLIENT_B])

    def test_untrusted_direct(self) -> None:
        """untrusted="direct": the datagram arrives untouched, with the real address."""
        policy = ProxyProtocolPolicy(trusted=("10.0.0.0/8",), untrusted="direct")
        wrapper, app, port, _ = make(reply=b"", policy=policy)
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(HEADER_A + QUERY, PROXY_SOCKET)])
        self.assertEqual(port.written, [(HEADER_A + QUERY, PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.direct, 1)

    def test_optional_headerless(self) -> None:
        """require_header=False: a datagram without header is served directly."""
        wrapper, app, _port, _ = make(policy=ProxyProtocolPolicy(require_header=False))
        wrapper.datagramReceived(QUERY, PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        self.assertEqual(app.received, [(QUERY, PROXY_SOCKET), (QUERY, CLIENT_A)])
        self.assertEqual(app.headers[0], None)

    def test_v1_only_policy_refused(self) -> None:
        self.assertRaises(
            ValueError,
            ProxyProtocolDatagramWrapper,
            Recorder(),
            ProxyProtocolPolicy(versions=frozenset({1})),
            clock=Clock(),
        )

    def test_bad_arguments(self) -> None:
        for kwargs in ({"header_on": "all"}, {"max_flows": 0}, {"flow_timeout": 0}):
            self.assertRaises(
                ValueError, ProxyProtocolDatagramWrapper, Recorder(), clock=Clock(), **kwargs
            )

    def test_application_error_not_raised(self) -> None:
        """An exception of the protocol is logged and counted, not raised."""

        class Broken(DatagramProtocol):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                raise ZeroDivisionError()

        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        app = Broken()
        wrapper = ProxyProtocolDatagramWrapper(app, clock=Clock())
        FakePort(wrapper)
        wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
        self.assertEqual(wrapper.stats.dropped["error"], 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(any("log_failure" in e for e in observer))
        self.assertIsNone(get_proxy_header(app))

    def test_reply_address_any_sequence(self) -> None:
        """A reply to the client as a list, or as IPv6's 4-tuple, finds its flow."""
        for header_on in ("every", "first"):
            wrapper, app, port, _ = make(header_on=header_on)
            wrapper.datagramReceived(HEADER_A + QUERY, PROXY_SOCKET)
            wrapper.datagramReceived(HEADER_V6 + QUERY, OTHER_PROXY)
            assert app.transport is not None
            app.transport.write(b"list", list(CLIENT_A))  # type: ignore[arg-type]
            app.transport.write(b"4-tuple", ("2001:db8::1", 5353, 0, 0))  # type: ignore[arg-type]
            app.transport.write(b"unhashable", [[CLIENT_A[0]], CLIENT_A[1]])  # type: ignore[arg-type]
            self.assertEqual(port.written, [(b"list", PROXY_SOCKET), (b"4-tuple", OTHER_PROXY)])
            self.assertEqual(wrapper.stats.replies_dropped, 1)

    def test_reply_to_unknown_client(self) -> None:
        """A reply to a client never seen is dropped and counted, not sent to it."""
        wrapper, app, port, _ = make()
        assert app.transport is not None
        app.transport.write(b"x", CLIENT_A)
        app.transport.write(b"x", None)  # type: ignore[arg-type]
        app.transport.write(b"x", "nonsense")  # type: ignore[arg-type]
        self.assertEqual(port.written, [])
        self.assertEqual((wrapper.stats.replies, wrapper.stats.replies_dropped), (0, 3))


class FlowTableTests(SynchronousTestCase):
    def test_max_flows_evicts_oldest(self) -> None:
        wrapper, app, port, _ = make(max_flows=2)
        wrapper.datagramReceived(HEADER_A + b"a", PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_B + b"b", PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_A + b"a", OTHER_PROXY)  # A is now the newest
        wrapper.datagramReceived(HEADER_C + b"c", PROXY_SOCKET)  # evicts B
        self.assertEqual(wrapper.stats.flows_evicted, 1)
        self.assertEqual(wrapper.flow_count, 2)
        assert app.transport is not None
        for client in (CLIENT_A, CLIENT_B, CLIENT_C):
            app.transport.write(b"r", client)
        self.assertEqual(port.written, [(b"r", OTHER_PROXY), (b"r", PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.replies_dropped, 1)

    def test_flow_timeout(self) -> None:
        wrapper, app, port, clock = make(flow_timeout=10)
        wrapper.datagramReceived(HEADER_A + b"a", PROXY_SOCKET)
        clock.advance(6)
        wrapper.datagramReceived(HEADER_B + b"b", PROXY_SOCKET)
        clock.advance(5)  # A idle for 11 s: expired (swept or not)
        assert app.transport is not None
        app.transport.write(b"r", CLIENT_A)
        app.transport.write(b"r", CLIENT_B)
        self.assertEqual(port.written, [(b"r", PROXY_SOCKET)])
        clock.advance(5)  # the sweep every 5 s forgets A; B (idle 10 s) stays
        self.assertEqual(wrapper.stats.flows_expired, 1)
        self.assertEqual(wrapper.flow_count, 1)
        clock.advance(5)
        self.assertEqual(wrapper.stats.flows_expired, 2)
        self.assertEqual(wrapper.flow_count, 0)
        self.assertEqual(len(clock.getDelayedCalls()), 1)

    def test_large_table(self) -> None:
        """100 000 clients through one socket, the table bounded at 50 000."""
        wrapper, _app, _port, _clock = make(max_flows=50_000)
        dst = ("198.51.100.1", 53)
        for i in range(100_000):
            client = (f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", 1024 + i % 60000)
            wrapper.datagramReceived(datagram_header(client, dst) + b"q", PROXY_SOCKET)
        self.assertEqual(wrapper.flow_count, 50_000)
        self.assertEqual(wrapper.stats.flows_evicted, 50_000)
        self.assertEqual(wrapper.stats.delivered, 100_000)


class FirstModeTests(SynchronousTestCase):
    def test_header_then_bare_datagrams(self) -> None:
        """The first datagram carries the header; later ones belong to its flow."""
        wrapper, app, port, _ = make(header_on="first", reply=b"")
        wrapper.datagramReceived(HEADER_A + b"1", PROXY_SOCKET)
        wrapper.datagramReceived(b"2", PROXY_SOCKET)
        wrapper.datagramReceived(b"PROXY is payload here", PROXY_SOCKET)
        self.assertEqual(
            app.received, [(b"1", CLIENT_A), (b"2", CLIENT_A), (b"PROXY is payload here", CLIENT_A)]
        )
        self.assertEqual(app.headers[1], app.headers[0])
        self.assertEqual(app.real_peers[2], IPv4Address("UDP", *PROXY_SOCKET))
        self.assertEqual([a for _, a in port.written], [PROXY_SOCKET] * 3)
        self.assertEqual(wrapper.stats.delivered, 3)

    def test_header_only_datagram(self) -> None:
        """A datagram that is only a header registers the flow, delivers nothing."""
        wrapper, app, port, _ = make(header_on="first")
        wrapper.datagramReceived(HEADER_A, PROXY_SOCKET)
        self.assertEqual(app.received, [])
        self.assertEqual(wrapper.stats.header_only, 1)
        wrapper.datagramReceived(b"data", PROXY_SOCKET)
        self.assertEqual(app.received, [(b"data", CLIENT_A)])
        assert app.transport is not None
        app.transport.write(b"back", CLIENT_A)
        self.assertEqual(port.written, [(b"back", PROXY_SOCKET)])

    def test_unknown_address_bare(self) -> None:
        wrapper, app, _port, _ = make(header_on="first")
        wrapper.datagramReceived(b"data", PROXY_SOCKET)
        wrapper.datagramReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_SOCKET)
        wrapper.datagramReceived(SIG[:5], PROXY_SOCKET)
        self.assertEqual(app.received, [])
        self.assertEqual(
            dict(wrapper.stats.dropped),
            {"headerless": 1, "version-not-accepted": 1, "truncated": 1},
        )

    def test_new_header_replaces_flow(self) -> None:
        wrapper, app, port, _ = make(header_on="first")
        wrapper.datagramReceived(HEADER_A + b"1", PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_B + b"2", PROXY_SOCKET)
        wrapper.datagramReceived(b"3", PROXY_SOCKET)
        self.assertEqual([a for _, a in app.received], [CLIENT_A, CLIENT_B, CLIENT_B])
        assert app.transport is not None
        app.transport.write(b"to-a", CLIENT_A)
        app.transport.write(b"to-b", CLIENT_B)
        self.assertEqual(port.written, [(b"to-b", PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.replies_dropped, 1)

    def test_bad_header_in_flow(self) -> None:
        """A datagram starting with the signature is a header, even in a flow."""
        wrapper, _app, _port, _ = make(header_on="first")
        wrapper.datagramReceived(HEADER_A + b"1", PROXY_SOCKET)
        wrapper.datagramReceived(SIG + bytes.fromhex("21 11 000c") + HEADER_A[16:], PROXY_SOCKET)
        self.assertEqual(dict(wrapper.stats.dropped), {"stream": 1})

    def test_local_flow(self) -> None:
        wrapper, app, port, _ = make(header_on="first", reply=b"")
        wrapper.datagramReceived(LOCAL + b"check", PROXY_SOCKET)
        wrapper.datagramReceived(b"again", PROXY_SOCKET)
        self.assertEqual(app.received, [(b"check", PROXY_SOCKET), (b"again", PROXY_SOCKET)])
        self.assertEqual(port.written, [(b"check", PROXY_SOCKET), (b"again", PROXY_SOCKET)])
        self.assertEqual(wrapper.stats.local, 2)

    def test_eviction_and_expiry(self) -> None:
        wrapper, app, port, clock = make(header_on="first", max_flows=2, flow_timeout=4)
        wrapper.datagramReceived(HEADER_A, PROXY_SOCKET)
        wrapper.datagramReceived(HEADER_B, OTHER_PROXY)
        wrapper.datagramReceived(HEADER_C, ("127.0.0.1", 41002))  # evicts A's flow
        self.assertEqual(wrapper.stats.flows_evicted, 1)
        wrapper.datagramReceived(b"x", PROXY_SOCKET)
        self.assertEqual(dict(wrapper.stats.dropped), {"headerless": 1})
        assert app.transport is not None
        app.transport.write(b"r", CLIENT_A)
        self.assertEqual(wrapper.stats.replies_dropped, 1)
        clock.advance(6)
        self.assertEqual(wrapper.stats.flows_expired, 2)
        flows = wrapper._first_flows
        assert flows is not None
        self.assertEqual(flows.replies, {})
        app.transport.write(b"r", CLIENT_B)
        self.assertEqual(port.written, [])


class RateLimitTests(SynchronousTestCase):
    def test_burst_then_summary(self) -> None:
        """The first N drops per rule are logged, then one summary per interval."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        wrapper, _app, _port, clock = make(log_burst=2, log_interval=10)
        for i in range(5):
            wrapper.datagramReceived(b"junk", ("127.0.0.1", 42000 + i))
        wrapper.datagramReceived(HEADER_A[:20], PROXY_SOCKET)
        full = [e for e in observer if "rule" in e]
        self.assertEqual([e["rule"] for e in full], ["headerless", "headerless", "truncated"])
        self.assertEqual(
            full[0]["log_format"],
            "Dropped datagram from {peer}: {rule}: {detail}; received {excerpt}",
        )
        self.assertEqual(full[0]["excerpt"], "6a 75 6e 6b")
        clock.advance(10)
        summaries = [e for e in observer if "suppressed" in e]
        self.assertEqual(len(summaries), 1)
        self.assertEqual(summaries[0]["suppressed"], {"headerless": 3})
        self.assertEqual(summaries[0]["peers"], 3)
        self.assertEqual(wrapper.stats.dropped["headerless"], 5)
        # A new interval logs in full again.
        wrapper.datagramReceived(b"junk", PROXY_SOCKET)
        self.assertEqual(len([e for e in observer if "rule" in e]), 4)

    def test_summary_on_stop(self) -> None:
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        wrapper, _app, port, clock = make(log_burst=0)
        wrapper.datagramReceived(b"junk", PROXY_SOCKET)
        self.assertEqual([e for e in observer if "rule" in e], [])
        port.stopListening()
        self.assertEqual(
            [e["suppressed"] for e in observer if "suppressed" in e], [{"headerless": 1}]
        )
        self.assertEqual(clock.getDelayedCalls(), [])


class SenderTests(SynchronousTestCase):
    def test_datagram_header_bytes(self) -> None:
        self.assertEqual(datagram_header(CLIENT_A, ("198.51.100.1", 53)), HEADER_A)
        self.assertEqual(
            datagram_header(("2001:db8::1", 5353), IPv6Address("UDP", "2001:db8::53", 53)),
            HEADER_V6,
        )
        self.assertRaises(ValueError, datagram_header, CLIENT_A, ("2001:db8::53", 53))

    def test_send_and_receive(self) -> None:
        """What the sender writes, the wrapper reads back: both modes."""
        client_port = FakePort(DatagramProtocol())
        sender = ProxyDatagramSender(
            client_port,  # type: ignore[arg-type]
            ("198.51.100.1", 53),
            tlvs=[TLV(0xE0, b"\0" * 8)],
        )
        sender.send(b"one", ("127.0.0.1", 53), source=CLIENT_A)
        sender.send(b"two", ("127.0.0.1", 53), source=CLIENT_A, with_header=False)
        sender.send_local(b"check", ("127.0.0.1", 53))
        self.assertEqual(client_port.written[0][0][:16], SIG + bytes.fromhex("21 12 0017"))
        self.assertEqual(client_port.written[2][0], LOCAL + b"check")
        stats = ProxyDatagramStats()
        wrapper, app, _port, _ = make(header_on="first", stats=stats)
        for data, _to in client_port.written:
            wrapper.datagramReceived(data, PROXY_SOCKET)
        self.assertEqual(
            app.received, [(b"one", CLIENT_A), (b"two", CLIENT_A), (b"check", PROXY_SOCKET)]
        )
        header = app.headers[0]
        assert header is not None
        self.assertEqual(header.gcp_psc_connection_id, 0)
        self.assertIs(wrapper.stats, stats)


class RealSocketTests(TestCase):
    """The wrapper on a real UDP port of the reactor, a client socket in a thread."""

    @run_as_deferred
    async def test_round_trip(self) -> None:
        app = Recorder(reply=b"seen:")
        wrapper = ProxyProtocolDatagramWrapper(app)
        port = reactor.listenUDP(0, wrapper, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        server = ("127.0.0.1", port.getHost().port)

        def exchange() -> tuple[bytes, Any, Any]:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.bind(("127.0.0.1", 0))
                s.sendto(HEADER_A + QUERY, server)
                data, source = s.recvfrom(65536)
                return data, source, s.getsockname()

        data, source, local = await deferToThread(exchange)
        self.assertEqual(data, b"seen:" + QUERY)
        self.assertEqual(source, server)
        self.assertEqual(app.received, [(QUERY, CLIENT_A)])
        self.assertEqual(app.real_peers, [IPv4Address("UDP", *local)])
        d: Deferred[None] = port.stopListening()  # type: ignore[assignment]
        await d
        self.assertEqual(app.stopped, 1)

"""
Abuse resistance over real loopback sockets: slowloris, silent connections,
an oversized v2 length field, spoofed headers from untrusted peers, a
10,000-connection random run of valid and broken headers, and applications
that raise. The unit tests of the same rules on StringTransport are in
C{test_wrapper}; these check that they hold on Twisted's real TCP transports,
under load, with real timing and file descriptors.

Every loop here is bounded in count and in time, and every socket and port
is closed in the cleanups.
"""

from __future__ import annotations

import collections
import itertools
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any, Literal

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress, IConnector, IDelayedCall, IListeningPort
from twisted.internet.protocol import ClientFactory, Factory, Protocol, connectionDone
from twisted.internet.task import LoopingCall, deferLater
from twisted.internet.testing import EventLoggingObserver
from twisted.internet.threads import deferToThread
from twisted.logger import LogEvent, LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

import pptwisted
import pptwisted.codec
import pptwisted.tlv
from pptwisted import (
    TLV,
    IncompleteHeader,
    InvalidHeader,
    ProxyHeader,
    ProxyProtocolPolicy,
    ProxyProtocolServerEndpoint,
    ProxyProtocolStats,
    ProxyProtocolWrapper,
    get_proxy_header,
    parse_header,
)
from pptwisted.codec import V2_SIGNATURE

LOOPBACK = "127.0.0.1"
#: Bound on any single wait for the network, in seconds.
WAIT = 10.0
#: Seconds between the polls of L{wait_until}.
POLL = 0.02

V1_SPOOF = b"PROXY TCP4 10.1.2.3 10.9.8.7 4321 443\r\n"
SPOOFED = IPv4Address("TCP", "10.1.2.3", 4321)
#: Trusted sources that do not contain the loopback peer.
UNTRUSTED = (ip_network("10.0.0.0/8"),)


class ExpectedError(Exception):
    """Raised on purpose by the misbehaving applications below."""


# -- small helpers ------------------------------------------------------------------


def sleep(seconds: float) -> Deferred[None]:
    """A Deferred that fires after C{seconds}."""
    return deferLater(reactor, seconds)


async def wait_until(predicate: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    """Poll C{predicate} until it is true; fail naming C{what} after C{seconds}."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {seconds}s for {what}")
        await sleep(POLL)


async def bounded(d: Deferred[Any], what: str, seconds: float = WAIT) -> Any:
    """Wait for C{d}, failing with a message naming C{what} after C{seconds}."""
    try:
        return await d.addTimeout(seconds, reactor)
    except defer.TimeoutError:
        raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None


def fd_count() -> int | None:
    """Open file descriptors of this process, or C{None} without /proc."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def ensure_fd_limit(case: TestCase, needed: int) -> None:
    """
    Make sure this process may open C{needed} descriptors: raise the soft
    limit up to the hard one if needed (restored in a cleanup), or skip.
    """
    import resource  # POSIX only

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft == unlimited or soft >= needed:
        return
    if hard != unlimited and hard < needed:
        raise SkipTest(f"needs {needed} file descriptors; the hard limit (ulimit -Hn) is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != unlimited else needed, hard))
    case.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


def describe(address: IAddress) -> str:
    """An address as the test servers write it back to their clients."""
    if isinstance(address, (IPv4Address, IPv6Address)):
        return f"{address.type} {address.host} {address.port}"
    if isinstance(address, UNIXAddress):
        return f"UNIX {address.name!r}"
    return repr(address)


def greeting(peer: IAddress, host: IAddress) -> bytes:
    """The first line an L{EchoApp} writes: the addresses its transport tells."""
    return f"{describe(peer)} > {describe(host)}\n".encode()


def errors_in(events: Sequence[LogEvent]) -> list[LogEvent]:
    """Events at level error or critical (unhandled errors, failures)."""
    return [
        e
        for e in events
        if e.get("log_level") in (LogLevel.error, LogLevel.critical) or "log_failure" in e
    ]


def rejections(events: Sequence[LogEvent], reason: str | None = None) -> list[LogEvent]:
    """
    The warnings of pptwisted about rejected or timed-out connections, logged
    in full (not the summaries of the rate limit).
    """
    return [
        e
        for e in events
        if e.get("log_namespace") == "pptwisted"
        and e.get("log_level") == LogLevel.warn
        and "suppressed" not in e
        and (reason is None or e.get("reason") == reason)
    ]


def logged_or_suppressed(server: Server, events: list[LogEvent]) -> int:
    """
    Rejections logged in full plus those the rate limit suppressed: every
    rejection is accounted for, once.
    """
    assert server.wrapper is not None
    return len(rejections(events)) + sum(server.wrapper.rejection_log.total_suppressed.values())


# -- the server side ----------------------------------------------------------------


class EchoApp(Protocol):
    """
    Writes L{greeting} (what C{getPeer()}/C{getHost()} say) as soon as it is
    connected, then echoes every byte; records what its factory asks.
    """

    factory: AppFactory
    address: IAddress

    def connectionMade(self) -> None:
        factory = self.factory
        factory.live.add(self)
        transport = self.transport
        assert transport is not None
        peer = transport.getPeer()
        if peer != self.address:
            factory.mismatches.append((self.address, peer))
        transport.write(greeting(peer, transport.getHost()))
        if factory.made is not None and not factory.made.called:
            factory.made.callback(self)

    def dataReceived(self, data: bytes) -> None:
        if self.factory.record:
            self.factory.received.append(data)
        assert self.transport is not None
        self.transport.write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.live.discard(self)
        self.factory.lost_reasons.append(reason.type)


class AppFactory(Factory):
    """Builds L{EchoApp}s (or a subclass) and keeps count."""

    noisy = False

    def __init__(self, app: type[EchoApp] = EchoApp, record: bool = False) -> None:
        self.app = app
        self.record = record
        self.built = 0
        self.live: set[EchoApp] = set()
        self.addresses: list[IAddress] = []
        self.received: list[bytes] = []
        self.mismatches: list[tuple[IAddress, IAddress]] = []
        self.lost_reasons: list[type[BaseException] | None] = []
        self.made: Deferred[EchoApp] | None = None

    @property
    def open(self) -> int:
        """Application protocols connected and not yet lost."""
        return len(self.live)

    def all_closed(self) -> bool:
        """Has every application protocol seen connectionLost?"""
        return not self.live

    def buildProtocol(self, addr: IAddress) -> EchoApp:  # type: ignore[override]
        self.built += 1
        if self.record:
            self.addresses.append(addr)
        app = self.app()
        app.factory = self
        app.address = addr
        return app


@dataclass
class Server:
    """A listening port, its wrapper's counters and its application factory."""

    port: IListeningPort
    app: AppFactory
    stats: ProxyProtocolStats
    wrapper: ProxyProtocolWrapper | None

    @property
    def number(self) -> int:
        return int(self.port.getHost().port)  # type: ignore[attr-defined]

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.number

    def pending(self) -> int:
        """Connections still waiting for their header."""
        return self.wrapper.pending if self.wrapper is not None else 0

    def abort_all(self) -> None:
        """Abort every server-side connection still open."""
        protocols: list[Protocol] = [*self.app.live]
        if self.wrapper is not None:
            protocols += self.wrapper.protocols
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.abortConnection()  # type: ignore[attr-defined]


async def serve_description(
    case: TestCase, options: str, app: AppFactory | None = None, backlog: int = 50
) -> Server:
    """Listen on C{proxy:tcp:0:interface=127.0.0.1...}, closed (and drained) in cleanup."""
    app = app if app is not None else AppFactory()
    endpoint = serverFromString(
        reactor, f"proxy:tcp:0:interface={LOOPBACK}:backlog={backlog}{options}"
    )
    assert isinstance(endpoint, ProxyProtocolServerEndpoint)
    port = await endpoint.listen(app)
    factory = getattr(port, "factory", None)
    wrapper = factory if isinstance(factory, ProxyProtocolWrapper) else None
    server = Server(port, app, endpoint.stats, wrapper)
    add_server_cleanup(case, server)
    return server


async def serve_policy(
    case: TestCase, policy: ProxyProtocolPolicy, app: AppFactory | None = None
) -> Server:
    """Listen with a L{ProxyProtocolWrapper} of C{policy} on 127.0.0.1."""
    app = app if app is not None else AppFactory()
    wrapper = ProxyProtocolWrapper(app, policy)
    port = reactor.listenTCP(0, wrapper, interface=LOOPBACK)  # type: ignore[arg-type]
    server = Server(port, app, wrapper.stats, wrapper)
    add_server_cleanup(case, server)
    return server


def add_server_cleanup(case: TestCase, server: Server) -> None:
    async def close() -> None:
        stopped = server.port.stopListening()
        if stopped is not None:
            await stopped
        # Accepted connections outlive the port: close what a failed test
        # left open, and wait for them to go.
        server.abort_all()
        await wait_until(
            lambda: server.app.open <= 0 and server.pending() == 0,
            "the server's connections to close",
        )

    case.addCleanup(lambda: Deferred.fromCoroutine(close()))


def serve_plain(case: TestCase, app: AppFactory) -> Server:
    """The same application on a plain TCP port, for comparison."""
    port = reactor.listenTCP(0, app, interface=LOOPBACK)  # type: ignore[arg-type]
    server = Server(port, app, ProxyProtocolStats(), None)
    add_server_cleanup(case, server)
    return server


# -- blocking clients, run in threads -------------------------------------------------


def read_until_closed(sock: socket.socket, limit: float = WAIT) -> tuple[bytes, str]:
    """
    Read until the peer closes; return what came and how it ended: C{"eof"},
    C{"reset"} or C{"timeout"}. Bounded by C{limit} seconds.
    """
    deadline = time.monotonic() + limit
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(chunks), "reset"
        except TimeoutError:
            return b"".join(chunks), "timeout"
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)


def read_exactly(sock: socket.socket, count: int, limit: float = WAIT) -> bytes:
    """Read C{count} bytes (fewer if the peer closes or C{limit} passes)."""
    deadline = time.monotonic() + limit
    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(count - len(data))
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_until_end(sock: socket.socket, end: bytes, limit: float = WAIT) -> tuple[bytes, str]:
    """
    Read until what came ends with C{end}: C{"complete"}; or until the peer
    closes (C{"eof"}, C{"reset"}) or C{limit} seconds pass (C{"timeout"}).
    """
    deadline = time.monotonic() + limit
    data = bytearray()
    while not data.endswith(end):
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), "reset"
        except TimeoutError:
            return bytes(data), "timeout"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
    return bytes(data), "complete"


@dataclass
class Exchange:
    """What a blocking client saw."""

    local: tuple[str, int]
    received: bytes
    ending: str
    seconds: float


def exchange(
    address: tuple[str, int], data: bytes, until: bytes | None = None, limit: float = WAIT
) -> Exchange:
    """
    Connect, send C{data} and read: until what came ends with C{until} (then
    close), or until the server closes. Runs in a thread.
    """
    start = time.monotonic()
    with socket.create_connection(address, timeout=limit) as sock:
        local = sock.getsockname()
        try:
            sock.sendall(data)
        except OSError:
            # Refused early: the server may close before we are done.
            pass
        if until is not None:
            received, ending = read_until_end(sock, until, limit)
        else:
            received, ending = read_until_closed(sock, limit)
    return Exchange(local, received, ending, time.monotonic() - start)


@dataclass
class LastByte:
    """What L{last_byte_closes} saw."""

    #: How the wait for the server after all but the last byte ended.
    before_last: str
    #: What came after the last byte, and how long until the server closed.
    exchange: Exchange


def last_byte_closes(address: tuple[str, int], data: bytes, pause: float) -> LastByte:
    """
    Send all but the last byte of C{data}, check for C{pause} seconds that
    the server keeps the connection open, then send the last byte and time
    how long the server takes to close. Runs in a thread.
    """
    with socket.create_connection(address, timeout=WAIT) as sock:
        local = sock.getsockname()
        sock.sendall(data[:-1])
        early, before_last = read_until_closed(sock, pause)
        start = time.monotonic()
        try:
            sock.sendall(data[-1:])
        except OSError:
            pass
        received, ending = read_until_closed(sock, WAIT)
        seconds = time.monotonic() - start
    return LastByte(before_last, Exchange(local, early + received, ending, seconds))


def send_in_two_reads(address: tuple[str, int], header: bytes, split: bool) -> Exchange:
    """
    Send C{header} and C{b"hello"}: in one segment, or (C{split}) the data
    after the server's first byte came back (so in a later read); then read
    until the server closes. Runs in a thread.
    """
    with socket.create_connection(address, timeout=WAIT) as sock:
        if split:
            sock.sendall(header)
            read_exactly(sock, 1, WAIT)
            sock.sendall(b"hello")
        else:
            sock.sendall(header + b"hello")
        received, ending = read_until_closed(sock, 4.0)
        return Exchange(sock.getsockname(), received, ending, 0.0)


def round_trip(address: tuple[str, int], header: bytes, payload: bytes) -> float:
    """
    A well-behaved client: connect, send header and payload, read the
    greeting line and the echo; return the seconds it all took.
    """
    start = time.monotonic()
    with socket.create_connection(address, timeout=WAIT) as sock:
        sock.sendall(header + payload)
        data = bytearray()
        deadline = start + WAIT
        while not (b"\n" in data and data.endswith(payload)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no echo within {WAIT}s; got {bytes(data)!r}")
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed after {bytes(data)!r}")
            data += chunk
    return time.monotonic() - start


# -- reactor clients ----------------------------------------------------------------


class OneShot(ClientFactory):
    """A client factory for one given protocol instance."""

    noisy = False

    def __init__(self, protocol: Watched) -> None:
        self.instance = protocol

    def buildProtocol(self, addr: IAddress) -> Watched:  # type: ignore[override]
        return self.instance

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self.instance.failed(reason)


class Watched(Protocol):
    """A reactor client that records when it connected and when it was closed."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.made_at: float | None = None
        self.lost_at: float | None = None
        self.reason: Failure | None = None
        self.closed: Deferred[None] = Deferred()
        self.connector: IConnector | None = None

    def connectionMade(self) -> None:
        self.made_at = time.monotonic()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost_at = time.monotonic()
        self.reason = reason
        self.closed.callback(None)

    def failed(self, reason: Failure) -> None:
        self.reason = reason
        self.closed.callback(None)

    @property
    def lifetime(self) -> float:
        assert self.made_at is not None and self.lost_at is not None
        return self.lost_at - self.made_at

    def abort(self) -> None:
        """Abort the connection, or the attempt to connect."""
        if self.closed.called:
            return
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]
        elif self.connector is not None:
            self.connector.stopConnecting()


class Dribbler(Watched):
    """Sends C{script} one byte every C{interval} seconds, until closed."""

    def __init__(self, script: bytes, interval: float) -> None:
        super().__init__()
        self.script = script
        self.interval = interval
        self.sent = 0
        self.loop = LoopingCall(self.dribble)
        self.loop.clock = reactor

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.setTcpNoDelay(True)  # type: ignore[union-attr]
        self.loop.start(self.interval, now=True)

    def dribble(self) -> None:
        if self.sent < len(self.script):
            assert self.transport is not None
            self.transport.write(self.script[self.sent : self.sent + 1])
            self.sent += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.loop.running:
            self.loop.stop()
        super().connectionLost(reason)


def connect(server: Server, protocol: Watched) -> None:
    """Connect C{protocol} to C{server} from the reactor."""
    factory = OneShot(protocol)
    protocol.connector = reactor.connectTCP(LOOPBACK, server.number, factory, timeout=WAIT)


def abort_all(clients: Sequence[Watched]) -> Deferred[Any]:
    """Cleanup: abort the clients still open and wait (bounded) until they are gone."""
    for client in clients:
        client.abort()

    async def gone() -> None:
        await wait_until(
            lambda: all(c.closed.called for c in clients), "the clients to close", WAIT
        )

    return Deferred.fromCoroutine(gone())


# -- the tests ----------------------------------------------------------------------


class SlowlorisTests(TestCase):
    """Clients that send their header too slowly are cut off at the timeout."""

    timeout = 60
    CONNECTIONS = 500
    HEADER_TIMEOUT = 2.0
    INTERVAL = 0.3

    async def test_slowloris(self) -> None:
        """
        500 connections dribbling a valid header a byte every 0.3 s (which,
        at 28 bytes and more, would take 8 s and more) are all closed by the
        server at the 2 s timeout, not later and not sooner (the timeout is
        a deadline from the accept, which bytes arriving do not push back);
        while they hang, a well-behaved client is served; afterwards the
        process has as many descriptors open as before. (Behaviour only: the
        timings are printed, never asserted; they belong in C{bench/}.)
        """
        n = self.CONNECTIONS
        if type(reactor).__name__ == "SelectReactor":
            raise SkipTest("select() cannot watch 1000 descriptors; needs epoll/poll/kqueue")
        ensure_fd_limit(self, 2 * n + 256)
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        server = await serve_description(
            self, f":proxyTimeout={self.HEADER_TIMEOUT:g}", backlog=1024
        )
        v1 = b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"
        # Warm up (Twisted opens a spare descriptor on the first accept, the
        # thread pool starts), then count the descriptors.
        await deferToThread(round_trip, server.address, v1, b"warm-up")
        await wait_until(server.app.all_closed, "the warm-up connection to close")
        before = fd_count()
        v2 = ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.1", 56324), IPv4Address("TCP", "198.51.100.1", 443)
        ).to_bytes()
        clients = [Dribbler(v1 if i % 2 else v2, self.INTERVAL) for i in range(n)]
        self.addCleanup(abort_all, clients)
        started = time.monotonic()
        for i, client in enumerate(clients):
            connect(server, client)
            if i % 100 == 99:
                # Let the server accept as we go, as a real flood would.
                await sleep(0)
        await wait_until(lambda: server.pending() == n, f"{n} pending connections")
        connected = time.monotonic() - started
        peak = fd_count()

        # While all 500 hang, a well-behaved client is served promptly.
        latencies = []
        for _ in range(5):
            seconds = await deferToThread(round_trip, server.address, v1, b"ping " * 10)
            latencies.append(seconds)
        self.assertEqual(server.stats.timed_out, 0, "the measure ran past the timeout")
        self.assertEqual(server.pending(), n)
        self.assertEqual(server.stats.accepted, 6)

        await wait_until(
            lambda: all(c.closed.called for c in clients),
            "the server to close every slow connection",
            self.HEADER_TIMEOUT + WAIT,
        )
        lifetimes = sorted(c.lifetime for c in clients)
        # They kept dribbling until the end, every byte a valid prefix, none
        # finished its header, and the server closed on them at the timeout
        # (the clients never close themselves; timed_out counts them below).
        # When, to the millisecond, is a figure for bench/, not a test.
        sent = sorted(c.sent for c in clients)
        self.assertGreaterEqual(sent[0], 1)
        self.assertLess(sent[-1], len(v1))
        self.assertTrue(all(c.received == b"" for c in clients))
        self.assertEqual(server.stats.timed_out, n)
        self.assertEqual(server.stats.rejected, {})
        self.assertEqual(server.stats.lost, 0)
        self.assertEqual(server.app.built, 6)
        # Rate-limited: the first 10 in full, the rest counted.
        self.assertEqual(len(rejections(logs)), 10)
        self.assertEqual(logged_or_suppressed(server, logs), n)
        self.assertEqual(errors_in(logs), [])

        after: int | None = None
        if before is not None:
            assert peak is not None
            self.assertGreaterEqual(peak, before + 2 * n)
            # Closing is asynchronous: give the descriptors a moment to go.
            try:
                await wait_until(lambda: (fd_count() or 0) <= before + 2, "fds back", 5)
            finally:
                after = fd_count()
            self.assertLessEqual(after or 0, before + 2)
        print(
            f"\nslowloris: {n} connected in {connected:.2f}s;"
            f" well-behaved round trips {', '.join(f'{s * 1000:.1f}' for s in latencies)} ms;"
            f" closed after {lifetimes[0]:.3f}-{lifetimes[-1]:.3f}s"
            f" (timeout {self.HEADER_TIMEOUT:g}s); bytes sent {sent[0]}-{sent[-1]};"
            f" fds before {before}, with the {n} pending {peak}, after {after}"
        )


class SilentTests(TestCase):
    """Connections that send nothing are closed by the server at the timeout."""

    timeout = 30

    async def test_silent(self) -> None:
        """
        20 clients connect and send nothing: each sees the server close the
        connection (a clean EOF, nothing received) at the 1 s timeout: the
        server counts each as timed out.
        """
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        server = await serve_description(self, ":proxyTimeout=1")
        clients = [Watched() for _ in range(20)]
        self.addCleanup(abort_all, clients)
        for client in clients:
            connect(server, client)
        await wait_until(lambda: all(c.closed.called for c in clients), "the timeouts", 1 + WAIT)
        lifetimes = sorted(c.lifetime for c in clients)
        for client in clients:
            self.assertEqual(client.received, b"")
            assert client.reason is not None
            self.assertIs(client.reason.type, connectionDone.type)
        self.assertEqual(server.stats.timed_out, 20)
        self.assertEqual(server.app.built, 0)
        self.assertEqual(len(rejections(logs)), 10)
        self.assertEqual(logged_or_suppressed(server, logs), 20)
        self.assertEqual(errors_in(logs), [])
        print(f"\nsilent: closed after {lifetimes[0]:.3f}-{lifetimes[-1]:.3f}s (timeout 1s)")


class OversizedLengthTests(TestCase):
    """A v2 length field over the cap is rejected as soon as it is read."""

    timeout = 30

    async def check_rejected_at_once(self, options: str, length: int, cap: int) -> Server:
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        server = await serve_description(self, f":proxyTimeout=5{options}")
        fixed = V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, length)
        result = await deferToThread(last_byte_closes, server.address, fixed, 0.2)
        # Open while the length field is incomplete; closed once its last
        # byte came, by the cap (not the 5 s timeout), without any of the
        # body (never sent) being waited for; nothing sent to us.
        self.assertEqual(result.before_last, "timeout")
        self.assertIn(result.exchange.ending, ("eof", "reset"))
        self.assertEqual(result.exchange.received, b"")
        self.assertEqual(server.stats.rejected, {"v2-length-cap": 1})
        self.assertEqual(server.stats.timed_out, 0)
        self.assertEqual(server.app.built, 0)
        [event] = rejections(logs)
        self.assertEqual(event["reason"], "v2-length-cap")
        self.assertIn(f"length {length} exceeds the cap of {cap}", event["detail"])
        self.assertEqual(errors_in(logs), [])
        print(
            f"\nv2 length {length} > cap {cap}: closed"
            f" {result.exchange.seconds * 1000:.1f} ms after the last byte of the length"
        )
        return server

    async def test_default_cap(self) -> None:
        """Length 0xFFFF against the default cap of 16368."""
        await self.check_rejected_at_once("", 0xFFFF, pptwisted.codec.DEFAULT_MAX_V2_LENGTH)

    async def test_custom_cap(self) -> None:
        """
        With C{proxyMaxV2Length=64}, length 65 is rejected at once; a header
        of exactly 64 bytes of body is accepted (the control).
        """
        server = await self.check_rejected_at_once(":proxyMaxV2Length=64", 65, 64)
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.1", 1),
            IPv4Address("TCP", "192.0.2.2", 2),
            tlvs=[TLV(0x04, b"\0" * (64 - 12 - 3))],
        ).to_bytes()
        self.assertEqual(len(header), 16 + 64)
        await deferToThread(round_trip, server.address, header, b"ok")
        self.assertEqual(server.stats.accepted, 1)


class SpoofingTests(TestCase):
    """
    A header from a peer outside the trusted sources never sets the address
    the application sees. The loopback peer is untrusted when only
    10.0.0.0/8 is trusted.
    """

    timeout = 30
    V2_SPOOF = ProxyHeader.proxy(SPOOFED, IPv4Address("TCP", "10.9.8.7", 443)).to_bytes()

    async def test_refuse(self) -> None:
        """C{untrusted="refuse"}: closed at once, the application never built."""
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        policy = ProxyProtocolPolicy(trusted=UNTRUSTED, untrusted="refuse", timeout=5)
        server = await serve_policy(self, policy, AppFactory(record=True))
        for header in (V1_SPOOF, self.V2_SPOOF):
            result = await deferToThread(exchange, server.address, header + b"hello", None, 4.0)
            self.assertIn(result.ending, ("eof", "reset"))
            self.assertEqual(result.received, b"")
        self.assertEqual(server.app.built, 0)
        self.assertEqual(server.stats.rejected, {"untrusted": 2})
        self.assertEqual(server.stats.timed_out, 0)
        self.assertEqual(len(rejections(logs, "untrusted")), 2)
        self.assertEqual(errors_in(logs), [])

    async def test_direct(self) -> None:
        """
        C{untrusted="direct"}: the application is built for the real
        loopback address, its transport tells the real addresses, and the
        header reaches it as data, untouched.
        """
        policy = ProxyProtocolPolicy(trusted=UNTRUSTED, untrusted="direct", timeout=5)
        app = AppFactory(record=True)
        server = await serve_policy(self, policy, app)
        for header in (V1_SPOOF, self.V2_SPOOF):
            app.made = Deferred()
            sent = header + b"hello"
            host = IPv4Address("TCP", LOOPBACK, server.number)
            # Greeting line, then the echo of everything sent.
            result = await deferToThread(exchange, server.address, sent, sent)
            made = await bounded(app.made, "the application")
            peer = IPv4Address("TCP", *result.local)
            self.assertEqual(app.addresses[-1], peer)
            self.assertEqual(result.received, greeting(peer, host) + sent)
            self.assertIsNone(get_proxy_header(made.transport))
        self.assertEqual(b"".join(app.received), (V1_SPOOF + b"hello") + (self.V2_SPOOF + b"hello"))
        self.assertEqual(app.mismatches, [])
        self.assertEqual(server.stats.direct, 2)
        self.assertEqual(server.stats.accepted, 0)

    async def test_trusted_control(self) -> None:
        """Positive control: with 127.0.0.0/8 trusted, the header sets the address."""
        policy = ProxyProtocolPolicy(trusted=(ip_network("127.0.0.0/8"),), timeout=5)
        app = AppFactory(record=True)
        server = await serve_policy(self, policy, app)
        dest = IPv4Address("TCP", "10.9.8.7", 443)
        for header in (V1_SPOOF, self.V2_SPOOF):
            expected = greeting(SPOOFED, dest) + b"hello"
            result = await deferToThread(exchange, server.address, header + b"hello", expected)
            self.assertEqual(result.received, expected)
        self.assertEqual(app.addresses, [SPOOFED, SPOOFED])
        self.assertEqual(server.stats.accepted, 2)


# -- the random run -----------------------------------------------------------------

#: Fixed seed of the random run; PPTWISTED_ABUSE_SEED overrides it.
SEED = int(os.environ.get("PPTWISTED_ABUSE_SEED", "20261124"))
#: Number of connections of the random run; PPTWISTED_ABUSE_CASES overrides it.
CASES = int(os.environ.get("PPTWISTED_ABUSE_CASES", "10000"))
#: Connections in flight at once.
CONCURRENCY = 100
#: A connection that has not finished after this long is aborted and failed.
CASE_LIMIT = 10.0
#: Bound on the whole run, in seconds.
RUN_LIMIT = 90.0


@dataclass
class Case:
    """One connection of the random run: what is sent, and what must happen."""

    index: int
    kind: str
    chunks: list[bytes]
    delays: list[float]
    #: "header" (the payload after it is echoed), "invalid" (rejected: the
    #: server closes), or "incomplete" (the client closes after sending).
    outcome: str
    #: How the valid header was broken: "none", "corrupted", "truncated", "junk".
    mutation: str = "none"
    header: ProxyHeader | None = None
    rest: bytes = b""

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def _random_ipv4(rng: random.Random) -> str:
    return socket.inet_ntop(socket.AF_INET, rng.randbytes(4))


def _random_ipv6(rng: random.Random) -> str:
    raw = rng.choice(
        [
            rng.randbytes(16),
            bytes(10) + b"\xff\xff" + rng.randbytes(4),  # v4-mapped
            bytes(15) + bytes([rng.randrange(2)]),  # :: and ::1
            b"\x20\x01\x0d\xb8" + bytes(10) + rng.randbytes(2),
        ]
    )
    return socket.inet_ntop(socket.AF_INET6, raw)


def _random_tlvs(rng: random.Random) -> list[TLV]:
    tlvs = []
    for _ in range(rng.choice([0, 0, 1, 2, 5])):
        kind = rng.random()
        if kind < 0.15:
            tlvs.append(
                pptwisted.tlv.ssl_tlv(
                    rng.randrange(8),
                    rng.randrange(2),
                    version="TLSv1.3",
                    cn=rng.choice([None, "client.example"]),
                )
            )
        elif kind < 0.25:
            tlvs.append(pptwisted.tlv.aws_vpce_tlv("vpce-" + rng.randbytes(4).hex()))
        elif kind < 0.3:
            tlvs.append(pptwisted.tlv.azure_link_id_tlv(rng.getrandbits(32)))
        elif kind < 0.35:
            tlvs.append(pptwisted.tlv.gcp_psc_tlv(rng.getrandbits(64)))
        else:
            t = rng.choice([0x01, 0x02, 0x04, 0x05, 0x30, 0xE1, 0xF0, rng.randrange(256)])
            if t in (0x03, 0x20):
                t = 0x04
            tlvs.append(TLV(t, rng.randbytes(rng.choice([0, 1, 7, 40, 200]))))
    return tlvs


def random_header_bytes(rng: random.Random) -> tuple[str, bytes]:
    """A valid header of a random kind, and a name for the kind."""
    choice = rng.random()
    port = rng.randrange
    if choice < 0.2:
        src, dst = _random_ipv4(rng), _random_ipv4(rng)
        h = ProxyHeader.proxy(
            IPv4Address("TCP", src, port(65536)), IPv4Address("TCP", dst, port(65536)), version=1
        )
        return "v1 TCP4", h.to_bytes()
    if choice < 0.3:
        src, dst = _random_ipv6(rng), _random_ipv6(rng)
        h = ProxyHeader.proxy(
            IPv6Address("TCP", src, port(65536)), IPv6Address("TCP", dst, port(65536)), version=1
        )
        return "v1 TCP6", h.to_bytes()
    if choice < 0.33:
        return "v1 UNKNOWN", rng.choice([b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::2 1 2\r\n"])
    tlvs = _random_tlvs(rng)
    crc = rng.random() < 0.3
    kind: Literal["TCP", "UDP"] = "UDP" if rng.random() < 0.1 else "TCP"
    if choice < 0.6:
        h = ProxyHeader.proxy(
            IPv4Address(kind, _random_ipv4(rng), port(65536)),
            IPv4Address(kind, _random_ipv4(rng), port(65536)),
            tlvs=tlvs,
        )
        name = "v2 INET"
    elif choice < 0.8:
        h = ProxyHeader.proxy(
            IPv6Address(kind, _random_ipv6(rng), port(65536)),
            IPv6Address(kind, _random_ipv6(rng), port(65536)),
            tlvs=tlvs,
        )
        name = "v2 INET6"
    elif choice < 0.9:
        names = [b"/run/" + rng.randbytes(4).hex().encode() + b".sock", b"\0abstract", b""]
        h = ProxyHeader.proxy(
            UNIXAddress(rng.choice(names)), UNIXAddress(rng.choice(names)), tlvs=tlvs
        )
        name = "v2 UNIX"
    else:
        h = ProxyHeader.local(tlvs=tlvs)
        name = "v2 LOCAL"
    return name + (" crc32c" if crc else ""), h.to_bytes(crc32c=crc)


JUNK = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\r\n",
    b"PROXY",
    b"P",
    b"\x00",
]


def _chunk(rng: random.Random, data: bytes) -> tuple[list[bytes], list[float]]:
    """Cut C{data} at random places, mostly within the header."""
    if not data:
        return [], []
    cuts: set[int] = set()
    style = rng.random()
    if style < 0.1 and len(data) <= 300:
        cuts = set(range(1, len(data)))  # one byte at a time
    elif style > 0.3:
        head = min(len(data), 300)
        for _ in range(rng.choice([1, 2, 3, 6, 12])):
            cuts.add(rng.randrange(1, head + 1))
        if rng.random() < 0.3:
            cuts.add(rng.randrange(1, len(data) + 1))
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    delays = [rng.choice([0.0, 0.0, 0.0, 0.001, 0.003]) for _ in chunks]
    return chunks, delays


def random_case(rng: random.Random, index: int) -> Case:
    """A random connection: a valid header, possibly broken, then a payload."""
    kind, wire = random_header_bytes(rng)
    payload = rng.randbytes(rng.choice([0, 0, 1, 16, 300, 3000]))
    draw, mutation = rng.random(), "none"
    if draw < 0.2:
        mutation = "corrupted"
        corrupted = bytearray(wire)
        at = rng.randrange(len(corrupted))
        corrupted[at] ^= rng.randrange(1, 256)
        wire = bytes(corrupted)
        kind += f" corrupted at {at}"
    elif draw < 0.3:
        mutation = "truncated"
        cut = rng.randrange(len(wire))
        # The client closes once it has sent this (outcome "incomplete").
        wire, payload = wire[:cut], b""
        kind += f" truncated at {cut}"
    elif draw < 0.4:
        mutation = "junk"
        junk = rng.choice([*JUNK, rng.randbytes(rng.randrange(1, 40))])
        wire = junk + wire
        kind += f" after junk {junk[:8]!r}"
    data = wire + payload
    chunks, delays = _chunk(rng, data)
    # Which outcome the bytes call for: the codec's verdict on exactly what
    # is sent (a flipped address byte still makes a valid header).
    try:
        header, rest = parse_header(data)
    except IncompleteHeader:
        return Case(index, kind, chunks, delays, "incomplete", mutation)
    except InvalidHeader:
        return Case(index, kind, chunks, delays, "invalid", mutation)
    return Case(index, kind, chunks, delays, "header", mutation, header, rest)


class CaseClient(Watched):
    """Plays one L{Case}: sends its chunks with their delays and checks the answer."""

    def __init__(self, case: Case, done: Callable[[CaseClient], None]) -> None:
        super().__init__()
        self.case = case
        self.done = done
        self.expected: bytes | None = None
        self.next = 0
        self.call: IDelayedCall | None = None
        self.watchdog: IDelayedCall | None = None
        self.problem: str | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        transport: Any = self.transport
        transport.setTcpNoDelay(True)
        case = self.case
        if case.outcome == "header":
            header = case.header
            assert header is not None
            if header.source is None or header.destination is None:
                peer, host = transport.getHost(), transport.getPeer()
            else:
                peer, host = header.source, header.destination
            self.expected = greeting(peer, host) + case.rest
        self.watchdog = reactor.callLater(CASE_LIMIT, self.hung)
        self.send()

    def send(self) -> None:
        self.call = None
        chunks = self.case.chunks
        transport: Any = self.transport
        if self.next < len(chunks):
            transport.write(chunks[self.next])
            self.next += 1
        if self.next < len(chunks):
            delay = self.case.delays[self.next]
            self.call = reactor.callLater(delay, self.send)
        elif self.case.outcome == "incomplete":
            transport.loseConnection()
        else:
            self.check_complete()

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.check_complete()

    def check_complete(self) -> None:
        expected = self.expected
        if expected is None or len(self.received) < len(expected):
            return
        if self.next < len(self.case.chunks) and self.problem is None:
            self.problem = "the whole answer came before everything was sent"
        if self.received != expected and self.problem is None:
            self.problem = f"received {bytes(self.received[:80])!r}, expected {expected[:80]!r}"
        assert self.transport is not None
        self.transport.loseConnection()

    def hung(self) -> None:
        self.watchdog = None
        expected = "?" if self.expected is None else len(self.expected)
        self.problem = (
            f"still open after {CASE_LIMIT}s, {len(self.received)} of {expected} bytes back"
        )
        self.abort()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        for call in (self.call, self.watchdog):
            if call is not None and call.active():
                call.cancel()
        self.call = self.watchdog = None
        if self.problem is None:
            if self.expected is not None:
                if self.received != self.expected:
                    self.problem = (
                        f"closed ({reason.getErrorMessage()}) after {bytes(self.received[:80])!r},"
                        f" expected {self.expected[:80]!r}"
                    )
            elif self.received:
                self.problem = f"the application answered: {bytes(self.received[:80])!r}"
        super().connectionLost(reason)
        self.done(self)

    def failed(self, reason: Failure) -> None:
        self.problem = f"could not connect: {reason.getErrorMessage()}"
        super().failed(reason)
        self.done(self)


@dataclass
class Run:
    """Plays cases with at most C{concurrency} connections in flight."""

    server: Server
    cases: Sequence[Case]
    concurrency: int
    finished: Deferred[None] = field(default_factory=Deferred)
    live: set[CaseClient] = field(default_factory=set)
    results: list[CaseClient] = field(default_factory=list)
    started: int = 0

    def start(self) -> Deferred[None]:
        for _ in range(min(self.concurrency, len(self.cases))):
            self.start_next()
        if not self.cases:
            self.finished.callback(None)
        return self.finished

    def start_next(self) -> None:
        case = self.cases[self.started]
        self.started += 1
        client = CaseClient(case, self.one_done)
        self.live.add(client)
        connect(self.server, client)

    def one_done(self, client: CaseClient) -> None:
        self.live.discard(client)
        self.results.append(client)
        if self.started < len(self.cases):
            self.start_next()
        elif not self.live and not self.finished.called:
            self.finished.callback(None)

    def stop(self) -> Deferred[Any]:
        """Cleanup: abort what is still in flight, start nothing more."""
        self.started = len(self.cases)
        return abort_all(list(self.live))


class RandomRunTests(TestCase):
    """Thousands of random connections, valid and broken, over real sockets."""

    timeout = RUN_LIMIT + 30

    async def test_random_connections(self) -> None:
        """
        Every connection whose bytes hold a valid header is served: the
        application sees the header's addresses and receives exactly the
        bytes after the header; every other one is closed without the
        application ever being built; nothing is logged at error level; the
        counters add up; nothing is left pending afterwards.
        """
        print(f"\nrandom run: seed {SEED} (set PPTWISTED_ABUSE_SEED to change), {CASES} cases")
        rng = random.Random(SEED)
        cases = [random_case(rng, i) for i in range(CASES)]
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        server = await serve_description(self, ":proxyTimeout=30", backlog=1024)
        run = Run(server, cases, CONCURRENCY)
        self.addCleanup(run.stop)
        started = time.monotonic()
        await bounded(run.start(), f"{CASES} connections", RUN_LIMIT)
        elapsed = time.monotonic() - started
        await wait_until(
            lambda: server.app.open == 0 and server.pending() == 0, "the server side to close"
        )

        problems = [
            f"case {c.case.index} ({c.case.kind}, {c.case.outcome}): {c.problem};"
            f" sent {len(c.case.data)} bytes in {len(c.case.chunks)} chunks,"
            f" starting {c.case.data[:60].hex()}"
            for c in sorted(run.results, key=lambda c: c.case.index)
            if c.problem is not None
        ]
        if problems:
            self.fail(
                f"{len(problems)} of {CASES} connections went wrong (seed {SEED}):\n"
                + "\n".join(problems[:20])
            )
        self.assertEqual(len(run.results), CASES)
        by_outcome = {
            o: sum(c.outcome == o for c in cases) for o in ("header", "invalid", "incomplete")
        }
        stats = server.stats
        self.assertEqual(server.app.built, by_outcome["header"])
        self.assertEqual(stats.accepted, by_outcome["header"])
        self.assertEqual(sum(stats.rejected.values()), by_outcome["invalid"])
        self.assertEqual(stats.lost, by_outcome["incomplete"])
        self.assertEqual((stats.direct, stats.timed_out, stats.refused), (0, 0, 0))
        self.assertEqual(server.app.mismatches, [])
        self.assertLessEqual(len(rejections(logs)), by_outcome["invalid"])
        self.assertEqual(logged_or_suppressed(server, logs), by_outcome["invalid"])
        self.assertEqual(errors_in(logs), [])
        assert server.wrapper is not None
        self.assertEqual(len(server.wrapper.deadlines), 0)
        mutations = collections.Counter(c.mutation for c in cases)
        print(
            f"random run: {CASES} connections in {elapsed:.1f}s ({CASES / elapsed:.0f}/s),"
            f" {CONCURRENCY} in flight; mutations {dict(mutations)}; outcomes {by_outcome};"
            f" rejected by rule {dict(stats.rejected.most_common())}"
        )


# -- applications that raise --------------------------------------------------------


class RaisingInBuild(AppFactory):
    """Raises in C{buildProtocol} for its first connection only."""

    def buildProtocol(self, addr: IAddress) -> EchoApp:  # type: ignore[override]
        if self.built == 0:
            self.built += 1
            raise ExpectedError("buildProtocol")
        return super().buildProtocol(addr)


class RaisingInConnectionMade(EchoApp):
    def connectionMade(self) -> None:
        first = self.factory.built == 1
        super().connectionMade()
        if first:
            raise ExpectedError("connectionMade")


class RaisingInDataReceived(EchoApp):
    def dataReceived(self, data: bytes) -> None:
        if self.factory.built == 1:
            raise ExpectedError("dataReceived")
        super().dataReceived(data)


class ApplicationErrorTests(TestCase):
    """
    An application that raises is handled as Twisted handles it without the
    wrapper: the error is logged, and the server keeps serving.
    """

    timeout = 30

    async def serve_both(self, factory: Callable[[], AppFactory]) -> tuple[Server, Server]:
        """The same application behind the wrapper and on a plain port."""
        proxied = await serve_description(self, ":proxyTimeout=5", factory())
        plain = serve_plain(self, factory())
        return proxied, plain

    async def first_then_good(self, server: Server, header: bytes, data: bytes) -> Exchange:
        """Send C{header + data} (the failing connection), then a good one."""
        first = await deferToThread(exchange, server.address, header + data, None, 4.0)
        await deferToThread(round_trip, server.address, header, b"still serving")
        return first

    async def test_build_protocol_raises(self) -> None:
        """
        C{buildProtocol} raises: logged, the connection closed at once with
        nothing sent, the next connection served. (A plain Twisted port logs
        the error too, but leaves the accepted socket open: the logged
        failure's traceback holds it.)
        """
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        server = await serve_description(self, ":proxyTimeout=5", RaisingInBuild())
        first = await self.first_then_good(server, V1_SPOOF, b"hello")
        self.assertIn(first.ending, ("eof", "reset"))
        self.assertEqual(first.received, b"")
        self.assertEqual(server.stats.timed_out, 0)
        self.assertEqual(len(self.flushLoggedErrors(ExpectedError)), 1)
        self.assertEqual(server.app.built, 2)
        await wait_until(server.app.all_closed, "the good connection to close")
        self.assertEqual(server.pending(), 0)
        self.assertEqual(len(errors_in(logs)), 1)

    async def test_connection_made_raises(self) -> None:
        """
        C{connectionMade} raises: as on a plain Twisted port, the error is
        logged once and the connection stays open, greeting and echo
        included (the bytes that came with the header reach the
        application); the next connection is served.
        """
        proxied, plain = await self.serve_both(lambda: AppFactory(RaisingInConnectionMade))
        for server, header in ((proxied, V1_SPOOF), (plain, b"")):
            kept = await deferToThread(exchange, server.address, header + b"hello", b"hello")
            self.assertEqual(kept.ending, "complete", server)
            peer = SPOOFED if header else IPv4Address("TCP", *kept.local)
            host = (
                IPv4Address("TCP", "10.9.8.7", 443)
                if header
                else IPv4Address("TCP", *server.address)
            )
            self.assertEqual(kept.received, greeting(peer, host) + b"hello", server)
            self.assertEqual(len(self.flushLoggedErrors(ExpectedError)), 1, server)
            await deferToThread(round_trip, server.address, header, b"still serving")

    async def check_data_received_raises(self, split: bool) -> None:
        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        proxied, plain = await self.serve_both(lambda: AppFactory(RaisingInDataReceived))
        reasons = []
        for server, header in ((proxied, V1_SPOOF), (plain, b"")):
            made: Deferred[EchoApp] = Deferred()
            server.app.made = made

            first = await deferToThread(send_in_two_reads, server.address, header, split)
            await bounded(made, "the application")
            self.assertIn(first.ending, ("eof", "reset"), server)
            self.assertNotIn(b"hello", first.received)
            await wait_until(server.app.all_closed, "the application's connectionLost")
            reasons.append(server.app.lost_reasons[0])
            await deferToThread(round_trip, server.address, header, b"still serving")
        self.assertEqual(reasons, [ExpectedError, ExpectedError])
        self.assertEqual(len(self.flushLoggedErrors(ExpectedError)), 2)
        self.assertEqual(len(errors_in(logs)), 2)

    async def test_data_received_raises_with_header(self) -> None:
        """
        C{dataReceived} raises on bytes that came in the same read as the
        header (delivered by the wrapper): logged, dropped, the application
        told why; as on a plain port. The next connection is served.
        """
        await self.check_data_received_raises(split=False)

    async def test_data_received_raises_later(self) -> None:
        """The same for bytes of a later read (straight from the transport)."""
        await self.check_data_received_raises(split=True)

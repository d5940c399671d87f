"""
The hand-over suite: after the header, the application gets what the same
application gets on the plain endpoint, plus the header's addresses, on
every path (a port of ours creating the connections, the wrapper relaying,
TLS over each, UNIX sockets, IPv6, a bare wrapper on listenTCP, an adopted
socket) and on the asyncio, poll and select reactors. Real loopback sockets;
each check runs on the path and on its plain twin and compares.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import tempfile
from typing import Any, ClassVar

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IPushProducer,
    IReactorSocket,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import PrivateCertificate
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import LogEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, TestCase
from zope.interface import implementer, providedBy

import pptwisted.endpoints._server
from pptwisted import (
    IProxyProtocolTransport,
    ProxyProtocolWrapper,
    get_proxy_header,
    get_proxy_transport,
)
from pptwisted.stream import ProxiedTransport

from ..certs import write_self_signed
from ..compat import run_under_reactor

HEADER = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)
WAIT = 10.0
#: The TLS protocol class Twisted's ssl: uses, by name.
TLS_NAME = getattr(TLSMemoryBIOFactory, "protocol", TLSMemoryBIOProtocol).__name__


class ExpectedError(Exception):
    """Raised on purpose by the probe application."""


@implementer(IPushProducer)
class Probe(Protocol):
    """
    The application: records what it gets; in C{connectionMade} does what
    its factory's C{action} says; echoes what it reads.
    """

    factory: ProbeFactory

    def connectionMade(self) -> None:
        self.received = b""
        self.lost: Deferred[None] = Deferred()
        self.reason: Failure | None = None
        self.got: Deferred[bytes] = Deferred()
        self.expect = self.factory.expect
        factory = self.factory
        factory.apps.append(self)
        action = factory.action
        transport: Any = self.transport
        if action == "pause":
            transport.pauseProducing()
        elif action == "close":
            transport.write(b"bye")
            transport.loseConnection()
        elif action == "starttls":
            transport.startTLS(factory.tls_options)
        elif action == "producer":
            transport.registerProducer(self, True)
        factory.made.callback(self) if not factory.made.called else None
        if action == "raise-made":
            raise ExpectedError("connectionMade")

    def dataReceived(self, data: bytes) -> None:
        if self.factory.action == "raise-data":
            raise ExpectedError("dataReceived")
        self.received += data
        assert self.transport is not None
        self.transport.write(data)
        if len(self.received) >= self.expect and not self.got.called:
            self.got.callback(self.received)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.factory.live.discard(self)
        self.reason = reason
        self.lost.callback(None)

    # IPushProducer, for the "producer" action.
    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class ProbeFactory(Factory):
    protocol = Probe
    noisy = False

    def __init__(self, action: str = "", expect: int = 5, tls_options: object = None) -> None:
        self.action = action
        self.expect = expect
        self.tls_options = tls_options
        self.apps: list[Probe] = []
        self.live: set[Probe] = set()
        self.made: Deferred[Probe] = Deferred()

    def buildProtocol(self, addr: Any) -> Probe:
        app = super().buildProtocol(addr)
        assert isinstance(app, Probe)
        self.live.add(app)
        return app


def recv_until(sock: socket.socket, want: bytes) -> bytes:
    """Read until C{want} came (or the end of stream); runs in a thread."""
    got = b""
    while want not in got:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def recv_all(sock: socket.socket) -> bytes:
    """Read to the end of stream (or a reset); runs in a thread."""
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def tls_exchange(sock: socket.socket, first: bytes, payload: bytes) -> bytes:
    """
    Send C{first} and the ClientHello in one segment, finish the handshake,
    send C{payload} and read its echo. Runs in a thread.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(first + outgoing.read())
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if pending := outgoing.read():
                sock.sendall(pending)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake") from None
            incoming.write(chunk)
    tls.write(payload)
    sock.sendall(outgoing.read())
    got = b""
    while len(got) < len(payload):
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            if pending := outgoing.read():
                sock.sendall(pending)
            chunk = sock.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
    return got


def socket_transport(transport: Any) -> Any:
    """
    The socket's transport under C{transport}, as the application's side
    sees it (TLS layers walked through; the relay's transport when relayed).
    """
    from twisted.internet import tcp

    for _ in range(5):
        if isinstance(transport, (tcp.Server, ProxiedTransport)):
            return transport
        transport = transport.transport
    raise AssertionError(f"no socket transport under {transport!r}")


def normalised_repr(text: str) -> str:
    return re.sub(r"#\d+ on .*>$", "#N on P>", text)


class _Path:
    """
    One way of serving, and its plain twin. Subclasses say how to listen;
    the checks are in L{HandOverChecks}.
    """

    tls = False
    relayed = False
    family = socket.AF_INET

    def __init__(self, case: TestCase) -> None:
        self.case = case

    def plain(self) -> str:
        raise NotImplementedError

    def proxied(self, options: str = "") -> str:
        return f"proxy:{self.plain()}{options}"

    async def listen(self, description: str, factory: Factory) -> IListeningPort:
        if self.relayed:
            self.case.patch(
                pptwisted.endpoints._server, "construct_connections", lambda port: False
            )
        port: IListeningPort = await serverFromString(reactor, description).listen(factory)
        self.case.addCleanup(port.stopListening)
        return port

    def address(self, port: IListeningPort) -> Any:
        host = port.getHost()
        return (host.host, host.port)  # type: ignore[attr-defined]

    def connect(self, port: IListeningPort) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        self.case.addCleanup(sock.close)
        sock.connect(self.address(port))
        return sock

    def real_peer(self, sock: socket.socket) -> Any:
        host, port = sock.getsockname()[:2]
        return (host, port)

    def wrapper(self, port: IListeningPort) -> ProxyProtocolWrapper:
        wrapper = port.factory  # type: ignore[attr-defined]
        assert isinstance(wrapper, ProxyProtocolWrapper)
        return wrapper


class TCPPath(_Path):
    def plain(self) -> str:
        return "tcp:0:interface=127.0.0.1"


class TCP6Path(_Path):
    family = socket.AF_INET6

    def plain(self) -> str:
        if not socket.has_ipv6:
            raise SkipTest("no IPv6")
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            raise SkipTest("no IPv6 loopback") from None
        return r"tcp6:0:interface=\:\:1"


class UNIXPath(_Path):
    family = socket.AF_UNIX

    def plain(self) -> str:
        # A short path: AF_UNIX paths are limited to about 100 bytes.
        directory = tempfile.mkdtemp(prefix="pp")
        self.case.addCleanup(shutil.rmtree, directory, True)
        return f"unix:{quoteStringArgument(os.path.join(directory, 's'))}"

    def address(self, port: IListeningPort) -> Any:
        return port.getHost().name  # type: ignore[attr-defined]

    def real_peer(self, sock: socket.socket) -> Any:
        return None


class SSLPath(_Path):
    tls = True

    def plain(self) -> str:
        directory = FilePath(self.case.mktemp())
        directory.makedirs()
        key, cert = write_self_signed(directory, "localhost")
        return (
            "ssl:0:interface=127.0.0.1"
            f":privateKey={quoteStringArgument(key.path)}"
            f":certKey={quoteStringArgument(cert.path)}"
        )


class HandOverChecks:
    """The checks, run against C{path_class} (relayed or not)."""

    path_class: ClassVar[type[_Path]]
    relayed: ClassVar[bool] = False
    timeout = 15

    def make_path(self) -> _Path:
        path = self.path_class(self)  # type: ignore[arg-type]
        path.relayed = self.relayed
        return path

    async def serve(
        self, factory: Factory, proxied: bool, options: str = ""
    ) -> tuple[_Path, IListeningPort]:
        path = self.make_path()
        description = path.proxied(options) if proxied else path.plain()
        port = await path.listen(description, factory)
        return path, port

    async def open(
        self, proxied: bool, action: str = "", payload: bytes = b"hello", options: str = ""
    ) -> tuple[_Path, IListeningPort, socket.socket, Probe, ProbeFactory]:
        """Serve, connect, send the header (if proxied) and C{payload} in one segment."""
        factory = ProbeFactory(action, expect=len(payload))
        path, port = await self.serve(factory, proxied, options)
        sock = path.connect(port)
        first = HEADER if proxied else b""
        if path.tls:
            done = deferToThread(tls_exchange, sock, first, payload)
            app = await factory.made
            echoed = await done
            self.assertEqual(echoed, payload)  # type: ignore[attr-defined]
        else:
            sock.sendall(first + payload)
            app = await factory.made
        return path, port, sock, app, factory

    # -- the bytes that came with the header ---------------------------------------

    async def test_rest_delivered(self) -> None:
        for proxied in (False, True):
            path, _, sock, app, _ = await self.open(proxied)
            self.assertEqual(await app.got, b"hello")  # type: ignore[attr-defined]
            if not path.tls:
                self.assertEqual(await deferToThread(recv_until, sock, b"hello"), b"hello")  # type: ignore[attr-defined]

    async def test_pause_in_connection_made(self) -> None:
        """Bytes that came with the header wait for resumeProducing()."""
        if self.path_class.tls:
            raise SkipTest("the TLS layer reads the handshake whatever the app does")
        for proxied in (False, True):
            _, _, _sock, app, _ = await self.open(proxied, "pause")
            for _ in range(5):
                await deferLater(reactor, 0.01, lambda: None)
            self.assertEqual(app.received, b"", proxied)  # type: ignore[attr-defined]
            app.transport.resumeProducing()  # type: ignore[union-attr]
            self.assertEqual(await app.got, b"hello")  # type: ignore[attr-defined]

    async def test_close_in_connection_made(self) -> None:
        """Nothing is delivered to an application that closed in connectionMade."""
        if self.path_class.tls:
            raise SkipTest("TLS closes once its handshake is over")
        for proxied in (False, True):
            path, _, sock, app, _ = await self.open(proxied, "close", payload=b"ignored")
            await app.lost
            self.assertEqual(app.received, b"", proxied)  # type: ignore[attr-defined]
            if not path.tls and path.family != socket.AF_UNIX:
                # (UNIX sockets may reset a connection closed with unread bytes.)
                self.assertEqual(await deferToThread(recv_all, sock), b"bye")  # type: ignore[attr-defined]

    async def test_start_tls_in_connection_made(self) -> None:
        """The ClientHello in the header's segment reaches the TLS layer."""
        if self.path_class.tls:
            raise SkipTest("already TLS")
        directory = FilePath(self.mktemp())  # type: ignore[attr-defined]
        directory.makedirs()
        _key, cert = write_self_signed(directory, "localhost")
        options = PrivateCertificate.loadPEM(cert.getContent()).options()
        for proxied in (False, True):
            factory = ProbeFactory("starttls", expect=4, tls_options=options)
            path, port = await self.serve(factory, proxied)
            sock = path.connect(port)
            done = deferToThread(tls_exchange, sock, HEADER if proxied else b"", b"ping")
            app = await factory.made
            self.assertEqual(await done, b"ping")  # type: ignore[attr-defined]
            self.assertEqual(app.received, b"ping")  # type: ignore[attr-defined]
            if proxied:
                self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr, attr-defined]
                self.assertEqual(get_proxy_header(app).source, CLIENT)  # type: ignore[union-attr, attr-defined]

    async def test_producer_in_connection_made(self) -> None:
        for proxied in (False, True):
            _, _, sock, app, _ = await self.open(proxied, "producer")
            self.assertEqual(await app.got, b"hello")  # type: ignore[attr-defined]
            transport: Any = app.transport
            if not self.path_class.tls:
                self.assertIs(transport.producer, app)  # type: ignore[attr-defined]
            transport.unregisterProducer()
            transport.loseConnection()
            sock.close()
            await app.lost

    async def test_connection_made_raises(self) -> None:
        """As on plain tcp: logged, the connection kept, the bytes delivered."""
        for proxied in (False, True):
            _path, _, _sock, app, _ = await self.open(proxied, "raise-made")
            self.assertEqual(await app.got, b"hello")  # type: ignore[attr-defined]
            self.assertEqual(len(self.flushLoggedErrors(ExpectedError)), 1, proxied)  # type: ignore[attr-defined]
            self.assertFalse(app.lost.called)  # type: ignore[attr-defined]

    # -- what the application sees --------------------------------------------------

    async def test_interfaces(self) -> None:
        """The plain transport's interfaces, plus IProxyProtocolTransport."""
        seen = []
        for proxied in (False, True):
            _, _, _, app, _ = await self.open(proxied)
            seen.append(set(providedBy(app.transport)))
        plain, ours = seen
        self.assertEqual(ours, plain | {IProxyProtocolTransport})  # type: ignore[attr-defined]

    async def test_repr_hostname_client(self) -> None:
        seen = []
        for proxied in (False, True):
            path, _, sock, app, _ = await self.open(proxied)
            transport: Any = app.transport
            transport = socket_transport(transport)
            seen.append((normalised_repr(repr(transport)), transport))
            if proxied:
                self.assertEqual(transport.hostname, "192.0.2.7")  # type: ignore[attr-defined]
                self.assertEqual(transport.client, ("192.0.2.7", 4321))  # type: ignore[attr-defined]
                self.assertEqual(  # type: ignore[attr-defined]
                    re.sub(r",\d+,", ",N,", transport.logstr),
                    f"{'Probe (' + TLS_NAME + ')' if path.tls else 'Probe'},N,192.0.2.7",
                )
            elif path.real_peer(sock) is not None:
                self.assertEqual(
                    transport.hostname, "127.0.0.1" if path.family == socket.AF_INET else "::1"
                )  # type: ignore[attr-defined]
        self.assertEqual(seen[0][0], seen[1][0])  # type: ignore[attr-defined]

    async def test_exception_in_first_segment(self) -> None:
        """Logged under the application's prefix and the client's address."""
        if self.path_class.tls:
            raise SkipTest("the first segment is the handshake")
        events: list[LogEvent] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)  # type: ignore[attr-defined]
        systems = []
        for proxied in (False, True):
            _, _, _sock, app, _ = await self.open(proxied, "raise-data")
            await app.lost
            reason = app.reason
            assert reason is not None
            self.assertTrue(reason.check(ExpectedError), reason)  # type: ignore[attr-defined]
            self.assertEqual(len(self.flushLoggedErrors(ExpectedError)), 1)  # type: ignore[attr-defined]
            failures = [e for e in events if "log_failure" in e or "failure" in e]
            systems.append(failures[-1].get("log_system"))
        plain, ours = systems
        if plain is not None:  # (the asyncio reactor logs it without a system)
            self.assertEqual(re.sub(r",\d+,.*", ",", plain), "Probe,")  # type: ignore[attr-defined]
        self.assertEqual(re.sub(r",\d+,", ",N,", ours), "Probe,N,192.0.2.7")  # type: ignore[attr-defined]

    # -- lookups and bookkeeping ----------------------------------------------------

    async def test_lookups(self) -> None:
        path, _, sock, app, _ = await self.open(True)
        header = get_proxy_header(app)
        assert header is not None
        self.assertEqual((header.source, header.destination), (CLIENT, DEST))  # type: ignore[attr-defined]
        self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr, attr-defined]
        self.assertEqual(app.transport.getHost(), DEST)  # type: ignore[union-attr, attr-defined]
        proxied = get_proxy_transport(app)
        assert proxied is not None
        self.assertIs(proxied, app.transport)  # type: ignore[attr-defined]
        real = path.real_peer(sock)
        if real is not None:
            peer = proxied.getRealPeer()
            self.assertEqual((peer.host, peer.port), real)  # type: ignore[attr-defined]
        else:
            self.assertIsInstance(proxied.getRealPeer(), UNIXAddress)  # type: ignore[attr-defined]
        # After the connection is gone, the transport still tells the truth.
        app.transport.loseConnection()  # type: ignore[union-attr]
        sock.close()
        await app.lost
        self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr, attr-defined]
        self.assertEqual(get_proxy_header(app), header)  # type: ignore[attr-defined]

    async def test_direct_lookups(self) -> None:
        """A direct connection: a PROXY transport without a header."""
        path, _, sock, app, _ = await self.open(True, options=":proxyHeader=optional")
        # open() sent the header: open another connection without one.
        factory = ProbeFactory(expect=5)
        path, port = await self.serve(factory, True, ":proxyHeader=optional")
        sock = path.connect(port)
        if path.tls:
            done = deferToThread(tls_exchange, sock, b"", b"GET /")
            app = await factory.made
            await done
        else:
            sock.sendall(b"GET /")
            app = await factory.made
        self.assertEqual(await app.got, b"GET /")  # type: ignore[attr-defined]
        self.assertIsNone(get_proxy_header(app))  # type: ignore[attr-defined]
        proxied = get_proxy_transport(app)
        assert proxied is not None
        self.assertIsNone(proxied.proxy_header)  # type: ignore[attr-defined]
        self.assertEqual(proxied.getPeer(), proxied.getRealPeer())  # type: ignore[attr-defined]

    async def test_protocols_holds_live_connections(self) -> None:
        factory = ProbeFactory()
        path, port = await self.serve(factory, True)
        wrapper = path.wrapper(port)
        pending = path.connect(port)
        handed = []
        for _ in range(2):
            factory.made = Deferred()
            sock = path.connect(port)
            if path.tls:
                done = deferToThread(tls_exchange, sock, HEADER, b"hello")
                await factory.made
                await done
            else:
                sock.sendall(HEADER + b"hello")
                await factory.made
            handed.append(sock)
        while wrapper.pending < 1:
            await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(len(wrapper.protocols), 3)  # type: ignore[attr-defined]
        for sock in [pending, *handed]:
            sock.close()
        for app in factory.apps:
            await app.lost
        while wrapper.protocols:
            await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(wrapper.pending, 0)  # type: ignore[attr-defined]


class TCPTests(HandOverChecks, TestCase):
    path_class = TCPPath


class TCPRelayedTests(HandOverChecks, TestCase):
    path_class = TCPPath
    relayed = True


class TCP6Tests(HandOverChecks, TestCase):
    path_class = TCP6Path


class UNIXTests(HandOverChecks, TestCase):
    path_class = UNIXPath


class UNIXRelayedTests(HandOverChecks, TestCase):
    path_class = UNIXPath
    relayed = True


class SSLTests(HandOverChecks, TestCase):
    path_class = SSLPath


class SSLRelayedTests(HandOverChecks, TestCase):
    path_class = SSLPath
    relayed = True


class ConstructionTests(TestCase):
    """Which path each kind of port takes."""

    async def test_proxy_ports_construct(self) -> None:
        from pptwisted.stream._constructed import CONSTRUCTED

        for description in ("proxy:tcp:0:interface=127.0.0.1",):
            port = await serverFromString(reactor, description).listen(ProbeFactory())
            self.addCleanup(port.stopListening)
            self.assertIn(port.transport, CONSTRUCTED)  # type: ignore[attr-defined]

    def test_foreign_transport_classes_kept(self) -> None:
        """A port whose transport class is not Twisted's own keeps it (relayed)."""
        from twisted.internet import tcp

        from pptwisted.stream._constructed import CONSTRUCTED, construct_connections

        class Custom(tcp.Server):
            pass

        class Port:
            transport: type = Custom

        port = Port()
        self.assertFalse(construct_connections(port))  # type: ignore[arg-type]
        self.assertIs(port.transport, Custom)
        port.transport = tcp.Server
        self.assertTrue(construct_connections(port))  # type: ignore[arg-type]
        self.assertIn(port.transport, CONSTRUCTED)
        self.assertTrue(issubclass(port.transport, tcp.Server))

    async def test_bare_wrapper_relays(self) -> None:
        """A ProxyProtocolWrapper given to listenTCP: the wrapper relays."""
        factory = ProbeFactory()
        port = reactor.listenTCP(  # type: ignore[attr-defined]
            0, ProxyProtocolWrapper(factory), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        sock = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=WAIT)
        self.addCleanup(sock.close)
        sock.sendall(HEADER + b"hello")
        app = await factory.made
        self.assertEqual(await app.got, b"hello")
        self.assertIsInstance(app.transport, ProxiedTransport)
        self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr]
        self.assertEqual(normalised_repr(repr(app.transport)), "<Probe #N on P>")
        self.assertEqual(app.transport.hostname, "192.0.2.7")  # type: ignore[union-attr]

    async def test_adopted_connection_relays(self) -> None:
        """An adopted socket: the wrapper relays, the application sees the client."""
        if not IReactorSocket.providedBy(reactor):
            raise SkipTest("the reactor cannot adopt sockets")
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            client = socket.create_connection(listener.getsockname(), timeout=WAIT)
            self.addCleanup(client.close)
            accepted, _ = listener.accept()
        accepted.setblocking(False)
        factory = ProbeFactory()
        wrapper = ProxyProtocolWrapper(factory)
        self.addCleanup(wrapper.deadlines.stop)
        reactor.adoptStreamConnection(  # type: ignore[attr-defined]
            accepted.fileno(), socket.AF_INET, wrapper
        )
        accepted.close()
        client.sendall(HEADER + b"hello")
        app = await factory.made
        self.assertEqual(await app.got, b"hello")
        self.assertEqual(app.transport.getPeer(), CLIENT)  # type: ignore[union-attr]
        self.assertIsNotNone(get_proxy_transport(app))
        app.transport.loseConnection()  # type: ignore[union-attr]
        await app.lost
        self.assertEqual(wrapper.protocols, {})


REACTORS: dict[str, str] = {
    "asyncio": "twisted.internet.asyncioreactor",
    "poll": "twisted.internet.pollreactor",
    "select": "twisted.internet.selectreactor",
}


class OtherReactorsTests(TestCase):
    """The same suite, in a process running another reactor."""

    timeout = 300

    def run_under(self, name: str) -> None:
        if name == "poll" and not hasattr(__import__("select"), "poll"):
            raise SkipTest("no poll() here")
        run_under_reactor(self, REACTORS[name], __file__, "not OtherReactors", timeout=280)

    def test_asyncio(self) -> None:
        self.run_under("asyncio")

    def test_poll(self) -> None:
        self.run_under("poll")

    def test_select(self) -> None:
        self.run_under("select")

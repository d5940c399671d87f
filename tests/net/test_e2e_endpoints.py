"""
End-to-end tests of the C{proxy:} server endpoints over real loopback
sockets: TCP over IPv4 and IPv6, UNIX sockets, and C{ssl:} and C{tls:} (the
PROXY header sent in clear before the TLS handshake), with v1 and v2 headers.

For each, the application must see the header's addresses from the start
(the address given to C{buildProtocol}, C{getPeer()} and C{getHost()} in
C{connectionMade}), and 1 MiB sent after the header must come back intact.
A server-first application must write nothing before the header is complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import tempfile
from typing import TYPE_CHECKING, TypeVar, cast

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.defer import TimeoutError as DeferTimeoutError
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    UNIXClientEndpoint,
    connectProtocol,
    quoteStringArgument,
    serverFromString,
)
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IOpenSSLClientConnectionCreator,
    ISSLTransport,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from pptwisted import (
    ProxyHeader,
    ProxyProtocolServerEndpoint,
    get_proxy_header,
    get_proxy_transport,
)

from ..certs import write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object

T = TypeVar("T")
Address = IPv4Address | IPv6Address | UNIXAddress

#: Seconds any single wait of these tests may take.
WAIT = 10.0
#: Bytes sent after the header and echoed back.
PAYLOAD_SIZE = 1024 * 1024
#: How long a test watches a connection to see that nothing is written.
QUIET = 0.3
#: Seconds a client's orderly close may take before it is aborted.
CLOSE = 2.0

SOURCE4 = IPv4Address("TCP", "192.0.2.7", 4321)
DESTINATION4 = IPv4Address("TCP", "198.51.100.1", 443)
SOURCE6 = IPv6Address("TCP", "2001:db8::7", 4321)
DESTINATION6 = IPv6Address("TCP", "2001:db8:1::1", 443)
SOURCE_UNIX = UNIXAddress(b"/run/balancer/client.sock")
DESTINATION_UNIX = UNIXAddress(b"/run/app/listen.sock")

BANNER = b"220 example ESMTP ready\r\n"


def bounded(d: Deferred[T], what: str, seconds: float = WAIT) -> Deferred[T]:
    """
    A new Deferred with C{d}'s result, failing with a message naming C{what}
    after C{seconds}; C{d} itself is left alone (never cancelled), so it can
    be waited for again.
    """
    fresh: Deferred[T] = Deferred()

    def relay(result: T | Failure) -> T | None:
        fresh.callback(result)
        return None if isinstance(result, Failure) else result

    def explain(failure: Failure) -> T:
        failure.trap(DeferTimeoutError)
        raise DeferTimeoutError(f"timed out after {seconds}s waiting for {what}")

    fresh.addTimeout(seconds, reactor)
    fresh.addErrback(explain)
    d.addBoth(relay)
    return fresh


# -- the server side ---------------------------------------------------------------


class Echo(Protocol):
    """Records what it sees when connected, and echoes every byte."""

    factory: RecordingFactory
    received = 0

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.peer = self.transport.getPeer()
        self.host = self.transport.getHost()
        self.factory.made.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        assert self.transport is not None
        self.transport.write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.lost.callback(None)


class Banner(Echo):
    """A server-first protocol (SMTP-like): greets as soon as it is connected."""

    def connectionMade(self) -> None:
        super().connectionMade()
        assert self.transport is not None
        self.transport.write(BANNER)


class RecordingFactory(Factory):
    """Builds one protocol and records the address it was built for."""

    def __init__(self, app: type[Echo] = Echo) -> None:
        self.app = app
        self.addresses: list[IAddress | None] = []
        self.made: Deferred[Echo] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def buildProtocol(self, addr: IAddress | None) -> Echo:  # type: ignore[override]
        self.addresses.append(addr)
        app = self.app()
        app.factory = self
        return app


# -- the client side ---------------------------------------------------------------


class Client(Protocol):
    """
    Sends a PROXY header in clear, then (optionally) starts TLS, then sends
    C{payload}; collects what comes back.
    """

    def __init__(
        self,
        header: bytes,
        payload: bytes = b"",
        tls: IOpenSSLClientConnectionCreator | None = None,
        expect: int | None = None,
    ) -> None:
        self.header = header
        self.payload = payload
        self.tls = tls
        self.expect = len(payload) if expect is None else expect
        self.received = bytearray()
        self.done: Deferred[bytes] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        if self.header:
            self.transport.write(self.header)
        if self.tls is not None:
            # Twisted sends what was written before startTLS in clear.
            self.transport.startTLS(self.tls)  # type: ignore[attr-defined]
        if self.payload:
            self.transport.write(self.payload)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= self.expect and not self.done.called:
            self.done.callback(bytes(self.received))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.callback(None)
        if not self.done.called:
            self.done.errback(reason)


def blocking_tls_echo(
    address: tuple[str, int], header: bytes, payload: bytes, ca_pem: bytes
) -> bytes:
    """
    With Python's own C{ssl} module (not Twisted's): send C{header} in clear,
    then do a TLS handshake, send C{payload} and read as many bytes back.
    Runs in a thread.
    """
    context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    with socket.create_connection(address, timeout=WAIT) as raw:
        raw.sendall(header)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(payload)
            chunks: list[bytes] = []
            count = 0
            while count < len(payload):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                count += len(chunk)
            return b"".join(chunks)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the tests ---------------------------------------------------------------------


class _EndpointTests(_Base):
    """
    The checks, for one kind of inner endpoint; subclasses say which (and
    mix in L{TestCase}).
    """

    #: Header addresses the client sends.
    source: Address = SOURCE4
    destination: Address = DESTINATION4
    #: Whether the inner endpoint is ssl: or tls:.
    tls = False
    #: Trial's limit for a test (and for its cleanups), in seconds.
    timeout = 30.0

    def description(self) -> str:
        raise NotImplementedError

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------

    def temporary_directory(self) -> FilePath[str]:
        # Not self.mktemp(): under pytest it creates directories in the cwd.
        path = tempfile.mkdtemp(prefix="pptwisted-e2e-")
        self.addCleanup(shutil.rmtree, path, True)
        return FilePath(path)

    def certificates(self) -> tuple[FilePath[str], FilePath[str]]:
        """
        A new directory holding localhost.key and localhost.pem (certificate
        and key), the layout of Twisted's tls: endpoint; the certificate
        alone is kept in C{self.cert_pem} for the clients to trust.
        """
        directory = self.temporary_directory()
        key, cert = write_self_signed(directory, "localhost")
        self.cert_pem = Certificate.loadPEM(cert.getContent()).dumpPEM()
        return key, cert

    def client_tls(self) -> IOpenSSLClientConnectionCreator | None:
        if not self.tls:
            return None
        return optionsForClientTLS("localhost", trustRoot=Certificate.loadPEM(self.cert_pem))

    def header(self, version: int) -> tuple[ProxyHeader, bytes]:
        header = ProxyHeader.proxy(self.source, self.destination, version=version)
        return header, header.to_bytes()

    async def listen(self, factory: RecordingFactory) -> IListeningPort:
        description = self.description()
        endpoint = serverFromString(reactor, description)
        self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint)
        port: IListeningPort = await bounded(endpoint.listen(factory), f"listen {description}")
        self.addCleanup(port.stopListening)
        return port

    async def connect(
        self, port: IListeningPort, client: Client, factory: RecordingFactory
    ) -> Client:
        await bounded(connectProtocol(self.client_endpoint(port), client), "the connection")
        # ensureDeferred: trial before 24.x does not await a coroutine cleanup.
        self.addCleanup(lambda: ensureDeferred(self.disconnect(client, factory)))
        return client

    async def disconnect(self, client: Client, factory: RecordingFactory) -> None:
        """Close the client's side, then see both sides closed."""
        if not client.lost.called:
            assert client.transport is not None
            client.transport.loseConnection()
            try:
                await bounded(client.lost, "the client's connectionLost", CLOSE)
            except DeferTimeoutError:
                # A test that failed may leave a TLS shutdown hanging.
                cast(ITCPTransport, client.transport).abortConnection()
        await bounded(client.lost, "the client's connectionLost")
        if factory.made.called:
            await bounded(factory.lost, "the server's connectionLost")

    # -- checks -------------------------------------------------------------------

    def check_addresses(self, factory: RecordingFactory, app: Echo, header: ProxyHeader) -> None:
        """The application saw the header's addresses, and only those."""
        source, destination = self.source, self.destination
        self.assertEqual(factory.addresses, [source])
        self.assertIs(type(factory.addresses[0]), type(source))
        self.assertEqual(app.peer, source)
        self.assertIs(type(app.peer), type(source))
        self.assertEqual(app.host, destination)
        self.assertIs(type(app.host), type(destination))
        self.assertEqual(get_proxy_header(app.transport), header)
        self.assertEqual(get_proxy_header(app), header)
        proxied = get_proxy_transport(app.transport)
        assert proxied is not None
        real = proxied.getRealPeer()
        if isinstance(real, (IPv4Address, IPv6Address)):
            self.assertIn(real.host, ("127.0.0.1", "::1"))
        else:
            self.assertIsInstance(real, UNIXAddress)
        self.assertEqual(ISSLTransport.providedBy(app.transport), self.tls)

    async def check_echo(self, version: int) -> None:
        """Header, then 1 MiB: the addresses, and every byte echoed once."""
        header, wire = self.header(version)
        factory = RecordingFactory()
        port = await self.listen(factory)
        payload = os.urandom(PAYLOAD_SIZE)
        client = await self.connect(port, Client(wire, payload, self.client_tls()), factory)
        app = await bounded(factory.made, "the application's connectionMade")
        echoed = await bounded(client.done, f"{len(payload)} bytes echoed")
        self.check_addresses(factory, app, header)
        self.assertEqual(len(echoed), len(payload))
        self.assertEqual(digest(echoed), digest(payload))
        self.assertEqual(app.received, len(payload))

    async def check_banner(self, version: int) -> None:
        """
        A server-first application is neither built nor heard before the
        header's last byte has arrived, and greets right after it.
        """
        header, wire = self.header(version)
        factory = RecordingFactory(Banner)
        port = await self.listen(factory)
        client = await self.connect(port, Client(b"", expect=len(BANNER)), factory)
        assert client.transport is not None
        await deferLater(reactor, QUIET)
        self.assertEqual(bytes(client.received), b"")
        client.transport.write(wire[:-1])
        await deferLater(reactor, QUIET)
        self.assertEqual(bytes(client.received), b"")
        self.assertEqual(factory.addresses, [])
        self.assertFalse(factory.made.called)
        client.transport.write(wire[-1:])
        banner = await bounded(client.done, "the banner")
        self.assertEqual(banner, BANNER)
        app = await bounded(factory.made, "the application's connectionMade")
        self.check_addresses(factory, app, header)

    async def check_python_ssl_client(self) -> None:
        """
        A client that is not Twisted (Python's C{ssl} module, in a thread)
        sends the header in clear, then does its TLS handshake and 1 MiB.
        """
        header, wire = self.header(2)
        factory = RecordingFactory()
        port = await self.listen(factory)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        payload = os.urandom(PAYLOAD_SIZE)
        echoed = await bounded(
            deferToThread(
                blocking_tls_echo, ("127.0.0.1", address.port), wire, payload, self.cert_pem
            ),
            "the Python ssl client",
        )
        app = await bounded(factory.made, "the application's connectionMade")
        await bounded(factory.lost, "the server's connectionLost")
        self.check_addresses(factory, app, header)
        self.assertEqual(len(echoed), len(payload))
        self.assertEqual(digest(echoed), digest(payload))
        self.assertEqual(app.received, len(payload))

    # -- tests every kind of endpoint runs -----------------------------------------

    async def test_v1(self) -> None:
        """A v1 header (a v2 one for UNIX addresses), then 1 MiB echoed."""
        await self.check_echo(1 if not isinstance(self.source, UNIXAddress) else 2)

    async def test_v2(self) -> None:
        """A v2 header, then 1 MiB echoed."""
        await self.check_echo(2)


def tcp4_client(port: IListeningPort) -> IStreamClientEndpoint:
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    assert address.host == "127.0.0.1" and address.port != 0, address
    return TCP4ClientEndpoint(reactor, "127.0.0.1", address.port, timeout=int(WAIT))


class TCP4Tests(_EndpointTests, TestCase):
    """proxy:tcp: on 127.0.0.1."""

    def description(self) -> str:
        return "proxy:tcp:0:interface=127.0.0.1"

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        return tcp4_client(port)

    async def test_ipv6_header(self) -> None:
        """The header's address family need not be the socket's."""
        self.source, self.destination = SOURCE6, DESTINATION6
        await self.check_echo(1)

    async def test_banner_waits_for_v1_header(self) -> None:
        await self.check_banner(1)

    async def test_banner_waits_for_v2_header(self) -> None:
        await self.check_banner(2)

    async def test_banner_when_header_comes_with_first_bytes(self) -> None:
        """
        AWS NLB's default header placement (C{on_first_ack_with_payload}):
        the header comes only with the client's first bytes. The server-first
        application says nothing until then, and greets before it answers
        those bytes.
        """
        header, wire = self.header(2)
        factory = RecordingFactory(Banner)
        port = await self.listen(factory)
        first = b"EHLO client.example\r\n"
        client = await self.connect(port, Client(b"", expect=len(BANNER) + len(first)), factory)
        assert client.transport is not None
        await deferLater(reactor, QUIET)
        self.assertEqual(bytes(client.received), b"")
        self.assertFalse(factory.made.called)
        client.transport.write(wire + first)
        self.assertEqual(await bounded(client.done, "the banner and the echo"), BANNER + first)
        app = await bounded(factory.made, "the application's connectionMade")
        self.check_addresses(factory, app, header)


class TCP6Tests(_EndpointTests, TestCase):
    """proxy:tcp6: on ::1."""

    source: Address = SOURCE6
    destination: Address = DESTINATION6

    def description(self) -> str:
        return r"proxy:tcp6:0:interface=\:\:1"

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        address = port.getHost()
        assert isinstance(address, IPv6Address)
        assert address.host == "::1" and address.port != 0, address
        return TCP6ClientEndpoint(reactor, "::1", address.port, timeout=int(WAIT))

    async def test_ipv4_header(self) -> None:
        """The header's address family need not be the socket's."""
        self.source, self.destination = SOURCE4, DESTINATION4
        await self.check_echo(2)

    async def test_banner_waits_for_header(self) -> None:
        await self.check_banner(1)


class UNIXTests(_EndpointTests, TestCase):
    """proxy:unix: on a socket file in a temporary directory."""

    def description(self) -> str:
        self.path = self.temporary_directory().child("s.sock").path
        return f"proxy:unix:{quoteStringArgument(self.path)}"

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        address = port.getHost()
        assert isinstance(address, UNIXAddress)
        self.assertEqual(address.name, self.path.encode())
        return UNIXClientEndpoint(reactor, self.path, timeout=int(WAIT))

    async def test_unix_header(self) -> None:
        """A v2 AF_UNIX header gives UNIX addresses to the application."""
        self.source, self.destination = SOURCE_UNIX, DESTINATION_UNIX
        await self.check_echo(2)

    async def test_banner_waits_for_header(self) -> None:
        self.source, self.destination = SOURCE_UNIX, DESTINATION_UNIX
        await self.check_banner(2)


class SSLTests(_EndpointTests, TestCase):
    """proxy:ssl: on 127.0.0.1: the header comes before the TLS handshake."""

    tls = True

    def description(self) -> str:
        key, cert = self.certificates()
        return (
            "proxy:ssl:0:interface=127.0.0.1"
            f":privateKey={quoteStringArgument(key.path)}"
            f":certKey={quoteStringArgument(cert.path)}"
        )

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        return tcp4_client(port)

    async def test_python_ssl_client(self) -> None:
        await self.check_python_ssl_client()


class TLSTests(_EndpointTests, TestCase):
    """
    proxy:tls: (Twisted's SNI endpoint, over a directory of PEM files) on
    127.0.0.1: the header comes before the TLS handshake.
    """

    skip = NEEDS_TLS_ENDPOINT
    tls = True
    source: Address = SOURCE6
    destination: Address = DESTINATION6

    def description(self) -> str:
        key, _ = self.certificates()
        directory = key.parent().path
        return f"proxy:tls:{quoteStringArgument(directory)}:port=0:interface=127.0.0.1"

    def client_endpoint(self, port: IListeningPort) -> IStreamClientEndpoint:
        return tcp4_client(port)

    async def test_python_ssl_client(self) -> None:
        await self.check_python_ssl_client()

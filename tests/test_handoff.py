"""
The hand-over on Twisted's own TCP and UNIX server transports: the wrapper
steps aside and the application gets the real transport, whose getPeer() and
getHost() tell the header's addresses. Real loopback sockets.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor, tcp
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from pptwisted import get_proxy_header, get_proxy_transport

HEADER = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)


class Recorder(Protocol):
    """Records what it sees; the test drives it through C{factory}."""

    factory: RecorderFactory

    def connectionMade(self) -> None:
        self.received = b""
        self.factory.made.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.factory.expect and len(self.received) >= self.factory.expect:
            self.factory.got.callback(self.received)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.lost.callback(reason.type if reason is not None else None)


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    def readConnectionLost(self) -> None:
        assert self.transport is not None
        self.transport.write(b"got:" + self.received)
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


class Closer(Recorder):
    def connectionMade(self) -> None:
        super().connectionMade()
        assert self.transport is not None
        self.transport.write(b"bye")
        self.transport.loseConnection()


class RecorderFactory(Factory):
    def __init__(self, protocol: type[Recorder] = Recorder, expect: int = 0) -> None:
        self.protocol = protocol
        self.expect = expect
        self.made: Deferred[Recorder] = Deferred()
        self.got: Deferred[bytes] = Deferred()
        self.lost: Deferred[Any] = Deferred()


class HandOffTests(TestCase):
    timeout = 30

    @inlineCallbacks
    def serve(self, factory: Factory, options: str = "") -> Any:
        port = yield serverFromString(reactor, f"proxy:tcp:0:interface=127.0.0.1{options}").listen(
            factory
        )
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def connect(self, port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(sock.close)
        return sock

    @inlineCallbacks
    def test_application_gets_real_transport(self):  # type: ignore[no-untyped-def]
        factory = RecorderFactory(expect=5)
        port = yield self.serve(factory)
        sock = self.connect(port)
        sock.sendall(HEADER + b"hello")
        app = yield factory.made
        yield factory.got
        transport = app.transport
        self.assertIsInstance(transport, tcp.Server)
        self.assertIs(transport.protocol, app)  # type: ignore[union-attr]
        self.assertEqual(transport.getPeer(), CLIENT)  # type: ignore[union-attr]
        self.assertEqual(transport.getHost(), DEST)  # type: ignore[union-attr]
        header = get_proxy_header(transport)
        assert header is not None
        self.assertEqual(header.source, CLIENT)
        proxied = get_proxy_transport(app)
        assert proxied is not None
        real = proxied.getRealPeer()
        self.assertEqual((real.host, real.port), sock.getsockname())  # type: ignore[attr-defined]
        self.assertEqual(proxied.getRealHost().port, port)  # type: ignore[attr-defined]
        self.assertEqual(transport.logstr, f"Recorder,{transport.sessionno},192.0.2.7")  # type: ignore[union-attr]
        self.assertEqual(app.received, b"hello")
        # After the connection is gone, the transport still tells the truth.
        transport.loseConnection()  # type: ignore[union-attr]
        yield factory.lost
        self.assertEqual(transport.getPeer(), CLIENT)  # type: ignore[union-attr]
        self.assertEqual(transport.getHost(), DEST)  # type: ignore[union-attr]
        self.assertEqual(get_proxy_header(transport), header)

    @inlineCallbacks
    def test_close_in_connection_made(self):  # type: ignore[no-untyped-def]
        """Bytes after the header are not delivered to an app that closed."""
        factory = RecorderFactory(Closer)
        port = yield self.serve(factory)
        sock = self.connect(port)
        sock.sendall(HEADER + b"ignored")
        app = yield factory.made
        yield factory.lost
        self.assertEqual(app.received, b"")
        self.assertEqual(sock.recv(10), b"bye")

    @inlineCallbacks
    def test_half_close(self):  # type: ignore[no-untyped-def]
        factory = RecorderFactory(HalfCloser)
        port = yield self.serve(factory)
        sock = self.connect(port)
        sock.sendall(HEADER + b"part")
        yield factory.made
        sock.shutdown(socket.SHUT_WR)
        yield factory.lost
        answer = b""
        while chunk := sock.recv(100):
            answer += chunk
        self.assertEqual(answer, b"got:part")

    @inlineCallbacks
    def test_producer(self):  # type: ignore[no-untyped-def]
        """Producers registered by the application work on the real transport."""

        @implementer(IPushProducer)
        class Producer:
            def __init__(self) -> None:
                self.calls: list[str] = []

            def pauseProducing(self) -> None:
                self.calls.append("pause")

            def resumeProducing(self) -> None:
                self.calls.append("resume")

            def stopProducing(self) -> None:
                self.calls.append("stop")

        factory = RecorderFactory()
        port = yield self.serve(factory)
        self.connect(port).sendall(HEADER)
        app = yield factory.made
        producer = Producer()
        assert app.transport is not None
        app.transport.registerProducer(producer, True)  # type: ignore[attr-defined]
        self.assertIs(app.transport.producer, producer)  # type: ignore[attr-defined]
        app.transport.unregisterProducer()  # type: ignore[attr-defined]
        app.transport.loseConnection()
        yield factory.lost

    @inlineCallbacks
    def test_local_header_real_addresses(self):  # type: ignore[no-untyped-def]
        factory = RecorderFactory()
        port = yield self.serve(factory)
        sock = self.connect(port)
        sock.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
        app = yield factory.made
        peer = app.transport.getPeer()  # type: ignore[union-attr]
        self.assertEqual((peer.host, peer.port), sock.getsockname())
        header = get_proxy_header(app.transport)
        assert header is not None
        self.assertTrue(header.uses_real_addresses)
        app.transport.loseConnection()  # type: ignore[union-attr]
        yield factory.lost

    @inlineCallbacks
    def test_direct_connection(self):  # type: ignore[no-untyped-def]
        factory = RecorderFactory(expect=4)
        port = yield self.serve(factory, ":proxyHeader=optional")
        sock = self.connect(port)
        sock.sendall(b"GET /")
        app = yield factory.made
        yield factory.got
        self.assertEqual(app.received, b"GET /")
        self.assertIsNone(get_proxy_header(app.transport))
        peer = app.transport.getPeer()  # type: ignore[union-attr]
        self.assertEqual((peer.host, peer.port), sock.getsockname())
        app.transport.loseConnection()  # type: ignore[union-attr]
        yield factory.lost

"""
Twisted servers for the interop tests: they report what the application
saw (as JSON, and as objects the test can inspect), so that a test can
compare it with the real client.

No reactor import here: the scale-out test runs L{ReportResource} inside
C{twist web --class}, which installs its own reactor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from pptwisted import ProxyHeader, get_proxy_header, get_proxy_transport
from pptwisted.tools._report import describe_address, describe_connection


class ReportProtocol(Protocol):
    """Writes what it learnt about its connection (one JSON line), then closes."""

    factory: ReportFactory

    def connectionMade(self) -> None:
        assert self.transport is not None
        factory = self.factory
        factory.peers.append(self.transport.getPeer())
        factory.hosts.append(self.transport.getHost())
        factory.headers.append(get_proxy_header(self.transport))
        report = describe_connection(self.transport)
        report["build_address"] = describe_address(factory.addresses[-1])
        factory.reports.append(report)
        self.transport.write(json.dumps(report).encode() + b"\n")
        self.transport.loseConnection()


class ReportFactory(Factory):
    """
    Builds L{ReportProtocol}s and keeps, per connection, the address
    C{buildProtocol} got, C{getPeer()}, C{getHost()}, the header and the
    JSON report.
    """

    protocol = ReportProtocol

    def __init__(self) -> None:
        self.addresses: list[IAddress] = []
        self.peers: list[IAddress] = []
        self.hosts: list[IAddress] = []
        self.headers: list[ProxyHeader | None] = []
        self.reports: list[dict[str, Any]] = []

    def buildProtocol(self, addr: IAddress) -> Protocol | None:
        self.addresses.append(addr)
        return super().buildProtocol(addr)


class ReportResource(Resource):
    """
    A twisted.web resource (any path): what C{request.getClientAddress()}
    and the connection's PROXY header say, and which process answered.
    """

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        # Over HTTP/2 (a client that negotiated h2 with proxy:ssl:'s TLS, or
        # proxyALPN) a request has no transport of its own: its connection's.
        transport = request.transport
        if transport is None:
            transport = get_proxy_transport(request)
        report = describe_connection(transport)  # type: ignore[arg-type]
        report["protocol"] = request.clientproto.decode()
        report["client_address"] = describe_address(request.getClientAddress())
        report["pid"] = os.getpid()
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(report).encode()


def web_site() -> Site:
    """A twisted.web Site serving L{ReportResource}."""
    return Site(ReportResource())


class CaptureProtocol(Protocol):
    """Keeps every byte it receives (no PROXY layer): what a sender really sends."""

    factory: CaptureFactory

    def connectionMade(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        answer = self.factory.answer
        if answer is not None:
            reply = answer(self.received)
            if reply is not None:
                assert self.transport is not None
                self.transport.write(reply)
                self.transport.loseConnection()

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        assert self.transport is not None
        factory = self.factory
        factory.captured.append((self.transport.getPeer(), self.received))
        waiting, factory.waiting = factory.waiting, []
        for d in waiting:
            d.callback(None)


class CaptureFactory(Factory):
    """
    Records C{(real peer, bytes received)} per closed connection. C{answer},
    if given, sees the bytes received so far after each read, and returns
    what to write before closing, or C{None} to keep reading.
    """

    protocol = CaptureProtocol

    def __init__(self, answer: Callable[[bytes], bytes | None] | None = None) -> None:
        self.answer = answer
        self.captured: list[tuple[IAddress, bytes]] = []
        self.waiting: list[Deferred[None]] = []

    def next_capture(self) -> Deferred[None]:
        """Fires when the next connection closes."""
        d: Deferred[None] = Deferred()
        self.waiting.append(d)
        return d


def v2_header_length(data: bytes) -> int | None:
    """The length of the v2 header starting C{data}, once its first 16 bytes are in."""
    if len(data) < 16:
        return None
    return 16 + int.from_bytes(data[14:16], "big")

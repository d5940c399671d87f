"""
The server process of the connection benchmarks: listens on loopback with
one of the endpoints compared, runs one tiny application, prints its port on
stdout and serves until killed.

    python -m bench._server ENDPOINT APP

ENDPOINT is an endpoint string with port 0 (C{tcp:0:interface=127.0.0.1},
C{proxy:tcp:0:...}, C{haproxy:tcp:0:...}), or C{floor} (see L{listen_floor}).
APP is C{line} (read one line, answer one line, close), C{discard} (count
bytes; at end of stream write the count and close), C{idle} (accept and
wait) or C{web} (twisted.web answering C{ok}).
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet import reactor, tcp
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IHalfCloseableProtocol, IListeningPort
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from pptwisted import parse_header
from pptwisted.stream._alarm import call_later_for

RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Line(Protocol):
    """Read one request line, answer it, close."""

    def connectionMade(self) -> None:
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" in self.buffer:
            assert self.transport is not None
            self.transport.write(RESPONSE)
            self.transport.loseConnection()


@implementer(IHalfCloseableProtocol)
class Discard(Protocol):
    """Count what arrives; at the client's end of stream, report and close."""

    def connectionMade(self) -> None:
        self.count = 0

    def dataReceived(self, data: bytes) -> None:
        self.count += len(data)

    def readConnectionLost(self) -> None:
        assert self.transport is not None
        self.transport.write(b"%d\n" % self.count)
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


class Idle(Protocol):
    """Accept and wait."""


class FloorServer(tcp.Server):
    """A transport created with the right class: getPeer() is the header's."""

    proxy_header: Any = None

    def getPeer(self) -> Any:
        header = self.proxy_header
        if header is not None and header.source is not None:
            return header.source
        return tcp.Server.getPeer(self)


class FloorReader(Protocol):
    """Parse the header, build the application, one dispatch: nothing more."""

    def __init__(self, app_factory: Factory) -> None:
        self.app_factory = app_factory

    def dataReceived(self, data: bytes) -> None:
        header, rest = parse_header(data)
        transport: Any = self.transport
        transport.proxy_header = header
        app = self.app_factory.buildProtocol(header.source)
        assert app is not None
        transport.protocol = app
        app.makeConnection(transport)
        if rest:
            app.dataReceived(rest)


class FloorFactory(Factory):
    noisy = False

    def __init__(self, app_factory: Factory) -> None:
        self.app_factory = app_factory

    def buildProtocol(self, addr: Any) -> FloorReader:
        return FloorReader(self.app_factory)


def listen_floor(factory: Factory) -> IListeningPort:
    """
    The floor of the PROXY layer's cost on a connection: a port whose
    connections are created as L{FloorServer}, parsing with C{parse_header},
    one dispatch to the application, and a header timer kept armed (as the
    receiver's is while connections come and go, on a thread of
    L{pptwisted.stream._alarm}: with the reactor's C{callLater} instead, the floor
    is 11k instructions higher).
    """
    port = tcp.Port(0, FloorFactory(factory), 1024, "127.0.0.1", reactor)
    port.transport = FloorServer
    port.startListening()
    # The header timer, armed the cheapest way known: as the receiver's is
    # (pptwisted.stream._alarm), off the reactor's timed calls.
    call_later_for(reactor)(1e6, lambda: None)  # type: ignore[arg-type]
    return port


APPS: dict[str, type[Protocol]] = {"line": Line, "discard": Discard, "idle": Idle}


def web_factory() -> Factory:
    """The C{web} application: twisted.web answering C{ok} to every request."""
    from twisted.web.server import Site
    from twisted.web.static import Data

    ok = Data(b"ok", "text/plain")
    # A leaf, so that it answers every path, "/" included: otherwise Site
    # looks up the child "" of "/" and every request gets a 404 page.
    ok.isLeaf = True
    site = Site(ok)
    site.noisy = False
    return site


def main() -> None:
    description, app = sys.argv[1], sys.argv[2]
    if app == "web":
        factory = web_factory()
    else:
        factory = Factory.forProtocol(APPS[app])
        factory.noisy = False

    def listening(port: IListeningPort) -> None:
        print(port.getHost().port, flush=True)  # type: ignore[attr-defined]

    def failed(failure: object) -> None:
        print(f"listen failed: {failure}", file=sys.stderr, flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    if description == "floor":
        listening(listen_floor(factory))
    else:
        d = serverFromString(reactor, description).listen(factory)
        d.addCallbacks(listening, failed)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

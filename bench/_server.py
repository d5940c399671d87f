"""
The server process of the connection benchmarks: listens on loopback with
one of the endpoints compared, runs one tiny application, prints its port on
stdout and serves until killed.

    python -m bench._server ENDPOINT APP

ENDPOINT is an endpoint string with port 0 (C{tcp:0:interface=127.0.0.1},
C{proxy:tcp:0:...}, C{haproxy:tcp:0:...}). APP is C{line} (read one line,
answer one line, close), C{discard} (count bytes; at end of stream write the
count and close) or C{idle} (accept and wait).
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IHalfCloseableProtocol, IListeningPort
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

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


APPS: dict[str, type[Protocol]] = {"line": Line, "discard": Discard, "idle": Idle}


def main() -> None:
    description, app = sys.argv[1], sys.argv[2]
    factory = Factory.forProtocol(APPS[app])
    factory.noisy = False

    def listening(port: IListeningPort) -> None:
        print(port.getHost().port, flush=True)  # type: ignore[attr-defined]

    def failed(failure: object) -> None:
        print(f"listen failed: {failure}", file=sys.stderr, flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    d = serverFromString(reactor, description).listen(factory)
    d.addCallbacks(listening, failed)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

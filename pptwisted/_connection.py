"""
The header-reading side of one connection: the protocol a receiver's port
connects first. It reads the PROXY header (spec section 2: "the receiver
must not start processing the connection before it receives a complete and
valid PROXY protocol header"), applies the policy, and only then builds the
application's protocol with the client's address and hands the connection
over (L{pptwisted._handover}).

One place for each decision the hardening work builds on: L{_accept} is
where a header is accepted before the application is built, L{_reject} where
every rejection is logged, and the wrapper's L{Deadlines} (with its
C{protocols}) where pending connections are tracked.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    IProtocol,
    ITransport,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementedBy, implementer

from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader
from ._handover import CONSTRUCTED, app_log_prefix, forwarding_spec, hand_over, relay
from ._header import ProxyHeader
from ._parser import HeaderParser, parse_header

if TYPE_CHECKING:  # pragma: no cover
    from ._wrapper import ProxyProtocolWrapper

__all__ = ["EXCERPT_BYTES", "ConnectionState", "ProxyProtocolConnection", "describe"]

_log = Logger(namespace="pptwisted")

#: Bytes of a rejected connection shown, in hex, in the log event.
EXCERPT_BYTES = 32


class ConnectionState(enum.Enum):
    """Where a connection is in its life, as its header reader sees it."""

    #: Waiting for (the rest of) the header.
    READING = "reading the header"
    #: Handed over to the application, the reader relaying its events.
    RELAYING = "relaying to the application"
    #: Handed over to the application on a transport of ours: the reader is
    #: out of the path (end state).
    HANDED_OVER = "handed over"
    #: Closed for a bad header or an untrusted peer (end state).
    REJECTED = "rejected"
    #: Closed because the header did not come in time (end state).
    TIMED_OUT = "timed out"
    #: Closed because the application's factory refused it (end state).
    REFUSED = "refused"
    #: Lost, by either side (end state).
    CLOSED = "closed"


_READING = ConnectionState.READING
_RELAYING = ConnectionState.RELAYING


def describe(address: IAddress | None) -> str:
    """An address as log lines show it: C{host:port}, C{[v6]:port}, C{unix:...}."""
    host = getattr(address, "host", None)
    if host is not None:
        port = getattr(address, "port", "")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    name = getattr(address, "name", None)
    if name is not None:
        return f"unix:{name!r}"
    return repr(address)


@implementer(IProtocol, ILoggingContext)
class ProxyProtocolConnection:
    """
    The protocol of a connection until its header is in; then, on a
    transport of ours, nothing more (the application is the transport's
    protocol), and elsewhere the relay of the transport's events to the
    application.

    @ivar state: the L{ConnectionState}.
    @ivar transport: the real transport.
    @ivar wrappedProtocol: the application's protocol, once built.
    @ivar proxy_header: the header accepted (C{None} before, or if direct).
    """

    __slots__ = (
        "__provides__",
        "__weakref__",
        "_head",
        "_parser",
        "factory",
        "proxy_header",
        "state",
        "transport",
        "wrappedProtocol",
    )

    def __init__(self, factory: ProxyProtocolWrapper) -> None:
        # Set: zope reads it on every providedBy() (an unset slot would cost
        # it an AttributeError each time); _accept may widen it.
        self.__provides__ = _BASE_SPEC
        self.factory = factory
        self.transport: Any = None
        self.wrappedProtocol: IProtocol | None = None
        self.proxy_header: ProxyHeader | None = None
        self.state = _READING
        self._parser: HeaderParser | None = None
        self._head = b""

    # -- IProtocol, as seen by the real transport ---------------------------------

    def makeConnection(self, transport: ITransport) -> None:
        self.transport = transport
        factory = self.factory
        factory.protocols[self] = 1
        if factory.trusted and not factory.policy.is_trusted(transport.getPeer()):
            policy = factory.policy
            if policy.untrusted == "refuse":
                self._reject("untrusted", "peer is not in the trusted sources", b"")
            else:
                self._accept(None, b"")
            return
        factory.deadlines.add(self)

    def connectionMade(self) -> None:
        """Part of L{IProtocol}; L{makeConnection} does the work."""

    def dataReceived(self, data: bytes) -> None:
        if self.state is _RELAYING:
            app = self.wrappedProtocol
            assert app is not None
            app.dataReceived(data)
            return
        if self.state is not _READING:
            return
        # Keep the first bytes: the log excerpt, and in optional mode the
        # bytes to pass through (NotProxyHeader comes within 12 bytes).
        head = self._head
        if len(head) < EXCERPT_BYTES:
            self._head = head + data if head else data
        factory = self.factory
        parser = self._parser
        try:
            if parser is None:
                result: tuple[ProxyHeader, bytes] | None = parse_header(
                    data, versions=factory.versions, max_v2_length=factory.max_v2_length
                )
            else:
                result = parser.feed(data)
        except IncompleteHeader as e:
            self._parser = e.parser
            result = None
        except NotProxyHeader as e:
            if not factory.policy.require_header:
                self._accept(None, self._head)
            else:
                self._reject(e.rule.value, e.detail, self._head)
            return
        except InvalidHeader as e:
            self._reject(e.rule.value, e.detail, self._head)
            return
        if result is not None:
            self._accept(*result)
        elif len(self._head) > EXCERPT_BYTES:
            # The signature has been judged (it takes at most 12 bytes): keep
            # only the excerpt, not a whole first read beside the parser's copy.
            self._head = self._head[:EXCERPT_BYTES]

    def connectionLost(self, reason: Failure) -> None:
        state = self.state
        self.state = ConnectionState.CLOSED
        factory = self.factory
        factory.protocols.pop(self, None)
        if state is _READING:
            factory.deadlines.discard(self)
            factory.stats.lost += 1
        app = self.wrappedProtocol
        if app is not None and state is _RELAYING:
            app.connectionLost(reason)

    # Provided only while relaying to an application that provides them.

    def readConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).writeConnectionLost()

    def handshakeCompleted(self) -> None:
        IHandshakeListener(self.wrappedProtocol).handshakeCompleted()

    def logPrefix(self) -> str:
        app = self.wrappedProtocol
        if app is not None:
            return app_log_prefix(app)
        return self.factory.log_prefix or self.factory.logPrefix()

    # -- the header's verdict -----------------------------------------------------

    def _accept(self, header: ProxyHeader | None, rest: bytes) -> None:
        """
        The header is accepted (or the connection is served as direct when
        C{header} is C{None}): build the application with the client's
        address and hand the connection over, with the bytes that came after
        the header.
        """
        factory = self.factory
        if self.state is _READING:
            factory.deadlines.discard(self)
        self._parser = None
        self._head = b""
        transport = self.transport
        self.proxy_header = header
        peer: IAddress
        if header is not None and header.source is not None:
            peer = header.source
        else:
            peer = transport.getPeer()
        app = factory.wrappedFactory.buildProtocol(peer)
        if app is None:
            factory.stats.refused += 1
            self.state = ConnectionState.REFUSED
            transport.loseConnection()
            return
        self.wrappedProtocol = app
        if header is None:
            factory.stats.direct += 1
        else:
            factory.stats.accepted += 1
        if transport.__class__ in CONSTRUCTED:
            self.state = ConnectionState.HANDED_OVER
            hand_over(transport, app, header, rest, self)
            return
        self.state = _RELAYING
        spec = forwarding_spec(ProxyProtocolConnection, app)
        if spec is not None:
            self.__provides__ = spec
        relay(self, transport, app, header, rest, factory.clock)

    def _reject(self, reason: str, detail: str, received: bytes) -> None:
        """Close the connection for C{reason}: one log event, one count."""
        if self.state is _READING:
            self.factory.deadlines.discard(self)
        self.state = ConnectionState.REJECTED
        self._parser = None
        self._head = b""
        self.factory.stats.rejected[reason] += 1
        _log.warn(
            "Rejected connection from {peer}: {reason}: {detail}; received {excerpt}",
            peer=describe(self.transport.getPeer()),
            reason=reason,
            detail=detail,
            excerpt=received[:EXCERPT_BYTES].hex(" ") or "nothing",
        )
        self.transport.loseConnection()

    def header_timed_out(self) -> None:
        """The header deadline passed (called by the wrapper's L{Deadlines})."""
        if self.state is not _READING:
            return
        self.state = ConnectionState.TIMED_OUT
        parser = self._parser
        received = parser.buffered if parser is not None else len(self._head)
        self._parser = None
        self._head = b""
        self.factory.stats.timed_out += 1
        _log.warn(
            "Timed out after {timeout}s waiting for a PROXY header from {peer};"
            " received {count} byte(s)",
            timeout=self.factory.policy.timeout,
            peer=describe(self.transport.getPeer()),
            count=received,
        )
        self.transport.loseConnection()

    def __repr__(self) -> str:
        real = describe(self.transport.getPeer()) if self.transport is not None else "-"
        return f"<{type(self).__name__} {self.state.name} real={real}>"


_BASE_SPEC = implementedBy(ProxyProtocolConnection)  # type: ignore[no-untyped-call]

"""
L{ProxyProtocolWrapper}: a factory wrapper that reads the PROXY header of
each connection (spec section 2, "the receiver must not start processing the
connection before it receives a complete and valid PROXY protocol header")
and only then builds and connects the application's protocol, on a transport
whose C{getPeer()} and C{getHost()} tell the header's addresses.
"""

from __future__ import annotations

import collections
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from zope.interface import classImplements, implementedBy, implementer, providedBy

from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader
from ._header import ProxyHeader
from ._interfaces import IProxyProtocolTransport
from ._parser import HeaderParser, parse_header
from ._policy import ProxyProtocolPolicy

__all__ = ["ProxyProtocolStats", "ProxyProtocolWrapper", "get_proxy_header", "get_proxy_transport"]

_log = Logger(namespace="pptwisted")

_WAITING, _CONNECTED, _CLOSED = 0, 1, 2
#: Bytes of a rejected connection shown, in hex, in the log event.
EXCERPT_BYTES = 32
#: Interfaces of the application's protocol that the wrapper forwards to it.
_FORWARDED = (IHalfCloseableProtocol, IHandshakeListener)


#: Upper bounds (seconds) of the accept-to-header histogram buckets; one more
#: bucket, unbounded, follows. From a LAN's sub-millisecond to the timeout.
HEADER_DELAY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class StatsSnapshot(NamedTuple):
    """
    An immutable copy of a L{ProxyProtocolStats}, safe to read in another
    thread (e.g. a Prometheus collector's) while the reactor counts on.

    C{header_delay_counts} are per-bucket counts (not cumulative), one per
    bound of L{HEADER_DELAY_BUCKETS}, then one for larger delays.
    """

    accepted: int
    direct: int
    rejected: dict[str, int]
    timed_out: int
    lost: int
    refused: int
    evicted: int
    pending: int
    header_delay_counts: tuple[int, ...]
    header_delay_sum: float


@dataclass
class ProxyProtocolStats:
    """
    Counters of a L{ProxyProtocolWrapper}, since it was created.

    @ivar accepted: connections whose header was valid and whose application
        protocol was connected.
    @ivar direct: connections served without a header (optional mode, or an
        untrusted peer with C{untrusted="direct"}).
    @ivar rejected: connections closed for a bad header or an untrusted peer,
        by reason: a L{pptwisted.Rule} value, or C{"untrusted"}.
    @ivar timed_out: connections closed because the header did not arrive in
        time.
    @ivar lost: connections closed by the peer before a complete header.
    @ivar refused: connections closed because the application's
        C{buildProtocol} returned C{None}.
    @ivar evicted: waiting connections closed to make room under the cap on
        pending connections.
    @ivar pending: connections waiting for their header right now (a gauge).
    @ivar header_delay_counts: how many headers arrived within each bucket of
        L{HEADER_DELAY_BUCKETS} after the accept (see L{observe_header_delay}).
    @ivar header_delay_sum: the sum of those delays, in seconds.
    """

    accepted: int = 0
    direct: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    timed_out: int = 0
    lost: int = 0
    refused: int = 0
    evicted: int = 0
    pending: int = 0
    header_delay_counts: list[int] = field(
        default_factory=lambda: [0] * (len(HEADER_DELAY_BUCKETS) + 1)
    )
    header_delay_sum: float = 0.0

    def observe_header_delay(self, seconds: float) -> None:
        """Count one header that arrived C{seconds} after its connection was accepted."""
        self.header_delay_counts[bisect_left(HEADER_DELAY_BUCKETS, seconds)] += 1
        self.header_delay_sum += seconds

    def snapshot(self) -> StatsSnapshot:
        """
        A copy of the counters. Each field is copied whole (C{dict()} and
        C{tuple()} of builtins hold the GIL throughout), so a reader in
        another thread never sees a torn Counter; fields may be one event
        apart from each other, as with any scrape.
        """
        for _ in range(8):
            try:
                rejected = dict(self.rejected)
                break
            except RuntimeError:  # pragma: no cover - resized mid-copy (no GIL)
                continue
        else:  # pragma: no cover
            rejected = dict(self.rejected)
        return StatsSnapshot(
            self.accepted,
            self.direct,
            rejected,
            self.timed_out,
            self.lost,
            self.refused,
            self.evicted,
            self.pending,
            tuple(self.header_delay_counts),
            self.header_delay_sum,
        )


def _describe(address: IAddress | None) -> str:
    host = getattr(address, "host", None)
    if host is not None:
        port = getattr(address, "port", "")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    name = getattr(address, "name", None)
    if name is not None:
        return f"unix:{name!r}"
    return repr(address)


class _Deadlines:
    """
    The header deadlines of one wrapper's pending connections. The timeout
    is the same for all, so deadlines come in arrival order: one timer, set
    for the oldest, serves them all (no DelayedCall per connection).
    """

    __slots__ = ("_call", "_clock", "_pending", "_timeout")

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self._clock = clock
        self._timeout = timeout
        # Insertion-ordered: oldest first.
        self._pending: dict[ProxyProtocolConnection, float] = {}
        self._call: IDelayedCall | None = None

    def add(self, connection: ProxyProtocolConnection) -> None:
        self._pending[connection] = self._clock.seconds() + self._timeout
        if self._call is None:
            self.arm()

    def arm(self) -> None:
        """Set the timer for the oldest waiting connection."""
        self._call = self._clock.callLater(self._timeout, self._expire)

    def discard(self, connection: ProxyProtocolConnection) -> None:
        # The timer stays armed: the next connection usually comes before it
        # fires, and then costs no timer of its own.
        self._pending.pop(connection, None)

    def stop(self) -> None:
        """Cancel the timer if no connection waits (the wrapper stopped)."""
        if not self._pending and self._call is not None:
            self._call.cancel()
            self._call = None

    def __len__(self) -> int:
        return len(self._pending)

    def _expire(self) -> None:
        self._call = None
        now = self._clock.seconds()
        pending = self._pending
        while pending:
            connection, deadline = next(iter(pending.items()))
            if deadline > now:
                self._call = self._clock.callLater(deadline - now, self._expire)
                return
            del pending[connection]
            connection._timed_out()


@implementer(IProtocol, ILoggingContext, IProxyProtocolTransport)
class ProxyProtocolConnection:
    """
    One connection behind a L{ProxyProtocolWrapper}: the protocol of the real
    transport, and, once the header is in, the transport of the application's
    protocol. It then provides every interface the real transport provides;
    what it does not define itself (TLS details, TCP options, producer
    control) is the real transport's.
    """

    __slots__ = (
        "__provides__",
        "__weakref__",
        "_closing",
        "_head",
        "_host",
        "_parser",
        "_peer",
        "_state",
        "factory",
        "proxy_header",
        "transport",
        "wrappedProtocol",
        "write",
        "writeSequence",
    )

    def __init__(self, factory: ProxyProtocolWrapper) -> None:
        # Set, so that zope finds the declaration without raising (and
        # without reaching __getattr__) when Twisted asks what we provide.
        self.__provides__ = _BASE_SPEC
        self.factory = factory
        self.transport: ITransport | None = None
        self.wrappedProtocol: IProtocol | None = None
        self.proxy_header: ProxyHeader | None = None
        self._state = _WAITING
        self._closing = False
        self._parser: HeaderParser | None = None
        self._head = b""
        self._peer: IAddress | None = None
        self._host: IAddress | None = None

    # -- IProtocol, as seen by the real transport -----------------------------

    def makeConnection(self, transport: ITransport) -> None:
        self.transport = transport
        factory = self.factory
        factory.protocols[self] = 1
        policy = factory.policy
        if policy.trusted and not policy.is_trusted(transport.getPeer()):
            if policy.untrusted == "refuse":
                self._reject("untrusted", "peer is not in the trusted sources", b"")
            else:
                self._connect(None, b"")
            return
        deadlines = factory.deadlines
        deadlines._pending[self] = deadlines._clock.seconds() + deadlines._timeout
        if deadlines._call is None:
            deadlines.arm()

    def connectionMade(self) -> None:
        """Part of L{IProtocol}; L{makeConnection} does the work."""

    def dataReceived(self, data: bytes) -> None:
        if self._state == _CONNECTED:
            app = self.wrappedProtocol
            assert app is not None
            app.dataReceived(data)
            return
        if self._state != _WAITING:
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
                self._connect(None, self._head)
            else:
                self._reject(e.rule.value, e.detail, self._head)
            return
        except InvalidHeader as e:
            self._reject(e.rule.value, e.detail, self._head)
            return
        if result is not None:
            self._connect(*result)
        elif len(self._head) > EXCERPT_BYTES:
            # The signature has been judged (it takes at most 12 bytes): keep
            # only the excerpt, not a whole first read beside the parser's copy.
            self._head = self._head[:EXCERPT_BYTES]

    def connectionLost(self, reason: Failure) -> None:
        state = self._state
        self._state = _CLOSED
        factory = self.factory
        factory.protocols.pop(self, None)
        if state == _WAITING:
            factory.deadlines._pending.pop(self, None)
            factory.stats.lost += 1
        app = self.wrappedProtocol
        if app is not None:
            self.wrappedProtocol = None
            app.connectionLost(reason)

    # Called only when the application provides the interface (see _connect).

    def readConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).writeConnectionLost()

    def handshakeCompleted(self) -> None:
        IHandshakeListener(self.wrappedProtocol).handshakeCompleted()

    def logPrefix(self) -> str:
        app = self.wrappedProtocol
        if app is not None:
            return _app_log_prefix(app)
        return self.factory.logPrefix()

    # -- the hand-over ----------------------------------------------------------

    def _connect(self, header: ProxyHeader | None, rest: bytes) -> None:
        # One straight line of code: it runs once per connection, cold.
        factory = self.factory
        if self._state == _WAITING:
            factory.deadlines._pending.pop(self, None)
        self._state = _CONNECTED
        self._parser = None
        self._head = b""
        transport = self.transport
        assert transport is not None
        self.proxy_header = header
        peer: IAddress
        if header is not None and header.source is not None:
            peer = self._peer = header.source
            self._host = header.destination
        else:
            peer = self._peer = transport.getPeer()
        app = factory.wrappedFactory.buildProtocol(peer)
        if app is None:
            factory.stats.refused += 1
            self._state = _CLOSED
            transport.loseConnection()
            return
        self.wrappedProtocol = app
        if header is None:
            factory.stats.direct += 1
        else:
            factory.stats.accepted += 1
        if type(transport) in _STEP_ASIDE:
            self._step_aside(transport, app, peer, rest)
            return
        # Provide what the real transport provides, and the optional protocol
        # interfaces the application provides, through a cached subclass.
        transport_spec = providedBy(transport)
        app_spec = providedBy(app)
        cached = _CLASS_CACHE.get((transport_spec, app_spec))
        if cached is None:
            cached = _connected_class(transport_spec, app_spec)
        self.__class__, self.__provides__ = cached
        # The application's writes go straight to the real transport.
        self.write = transport.write
        self.writeSequence = transport.writeSequence
        # Twisted's TCP and UNIX transports log under "prefix,session,host"
        # chosen at accept time, i.e. the proxy's address: show the client.
        if getattr(transport, "logstr", None).__class__ is str:
            prefix = _PREFIX_CACHE.get(app.__class__) or _app_log_prefix(app)
            host = peer.host if isinstance(peer, (IPv4Address, IPv6Address)) else _describe(peer)
            session = getattr(transport, "sessionno", "-")
            transport.logstr = f"{prefix},{session},{host}"  # type: ignore[attr-defined]
        app.makeConnection(self)
        if rest and not self._closing and self.wrappedProtocol is app:
            app.dataReceived(rest)

    def _step_aside(
        self, transport: ITransport, app: IProtocol, peer: IAddress, rest: bytes
    ) -> None:
        """
        Hand the application the real transport and leave the path: from now
        on the transport calls the application directly (nothing is added
        per read or write). Only C{getPeer}/C{getHost} of that transport
        answer with the header's addresses, and the header stays with the
        transport for L{get_proxy_header}. This object is dropped.
        """
        self.factory.protocols.pop(self, None)
        self.transport = self.wrappedProtocol = None
        header = self.proxy_header
        if header is not None:
            # A subclass of the transport's class answers getPeer()/getHost()
            # from the header it carries: one attribute, which keeps the
            # instance's __dict__ shared (several would un-share it: +650
            # bytes per connection).
            transport.__class__ = _STEP_ASIDE[type(transport)]
            transport._pptwisted_header = header  # type: ignore[attr-defined]
        transport.protocol = app  # type: ignore[attr-defined]
        host = peer.host if isinstance(peer, (IPv4Address, IPv6Address)) else _describe(peer)
        prefix = _PREFIX_CACHE.get(app.__class__) or _app_log_prefix(app)
        transport.logstr = f"{prefix},{transport.sessionno},{host}"  # type: ignore[attr-defined]
        app.makeConnection(transport)
        if rest and transport.connected and not transport.disconnecting:  # type: ignore[attr-defined]
            if transport.protocol is app:  # type: ignore[attr-defined]
                app.dataReceived(rest)

    def _reject(self, reason: str, detail: str, received: bytes) -> None:
        if self._state == _WAITING:
            self.factory.deadlines._pending.pop(self, None)
        self._state = _CLOSED
        self._parser = None
        self._head = b""
        self.factory.stats.rejected[reason] += 1
        assert self.transport is not None
        _log.warn(
            "Rejected connection from {peer}: {reason}: {detail}; received {excerpt}",
            peer=_describe(self.transport.getPeer()),
            reason=reason,
            detail=detail,
            excerpt=received[:EXCERPT_BYTES].hex(" ") or "nothing",
        )
        self.transport.loseConnection()

    def _timed_out(self) -> None:
        if self._state != _WAITING:
            return
        self._state = _CLOSED
        parser = self._parser
        received = parser.buffered if parser is not None else len(self._head)
        self._parser = None
        self._head = b""
        self.factory.stats.timed_out += 1
        assert self.transport is not None
        _log.warn(
            "Timed out after {timeout}s waiting for a PROXY header from {peer};"
            " received {count} byte(s)",
            timeout=self.factory.policy.timeout,
            peer=_describe(self.transport.getPeer()),
            count=received,
        )
        self.transport.loseConnection()

    # -- ITransport, as seen by the application -------------------------------

    def loseConnection(self) -> None:
        self._closing = True
        self.transport.loseConnection()  # type: ignore[union-attr]

    def abortConnection(self) -> None:
        self._closing = True
        self.transport.abortConnection()  # type: ignore[union-attr]

    def getPeer(self) -> IAddress:
        """The client's address from the header (the real peer if none)."""
        if self._peer is None:
            return self.transport.getPeer()  # type: ignore[union-attr]
        return self._peer

    def getHost(self) -> IAddress:
        """The destination address from the header (the real host if none)."""
        if self._host is None:
            return self.transport.getHost()  # type: ignore[union-attr]
        return self._host

    def getRealPeer(self) -> IAddress:
        """The socket's peer: the load balancer."""
        return self.transport.getPeer()  # type: ignore[union-attr]

    def getRealHost(self) -> IAddress:
        """The socket's own address."""
        return self.transport.getHost()  # type: ignore[union-attr]

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.transport.registerProducer(producer, streaming)  # type: ignore[union-attr]

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()  # type: ignore[union-attr]

    def __getattr__(self, name: str) -> Any:
        # Everything else the real transport offers (getPeerCertificate,
        # setTcpNoDelay, pauseProducing, disconnecting, ...).
        if name.startswith("__") or name in ProxyProtocolConnection.__slots__:
            raise AttributeError(name)
        transport = self.transport
        if transport is None:
            raise AttributeError(name)
        return getattr(transport, name)

    def __repr__(self) -> str:
        name = ProxyProtocolConnection.__name__
        real = _describe(self.transport.getPeer()) if self.transport is not None else "-"
        return f"<{name} peer={_describe(self._peer)} real={real}>"


def _stepped_aside_class(base: Any) -> type:
    """
    The subclass a stepped-aside transport of class C{base} becomes: its
    C{getPeer}/C{getHost} are the addresses of the header it carries (the
    real ones when the header has none).
    """

    def getPeer(self: Any) -> IAddress:
        source: IAddress | None = self._pptwisted_header.source
        if source is None:
            peer: IAddress = base.getPeer(self)
            return peer
        return source

    def getHost(self: Any) -> IAddress:
        destination: IAddress | None = self._pptwisted_header.destination
        if destination is None:
            host: IAddress = base.getHost(self)
            return host
        return destination

    namespace = {
        "getPeer": getPeer,
        "getHost": getHost,
        "_pptwisted_base": base,
        "__module__": __name__,
        "__doc__": f"A {base.__name__} whose getPeer()/getHost() are a PROXY header's.",
    }
    return type(f"Proxied{base.__name__}", (base,), namespace)


@implementer(IProxyProtocolTransport)
class _SteppedAside:
    """The L{IProxyProtocolTransport} view of a transport the wrapper left."""

    __slots__ = ("_transport", "proxy_header")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.proxy_header: ProxyHeader | None = transport._pptwisted_header

    def getPeer(self) -> IAddress:
        peer: IAddress = self._transport.getPeer()
        return peer

    def getHost(self) -> IAddress:
        host: IAddress = self._transport.getHost()
        return host

    def getRealPeer(self) -> IAddress:
        peer: IAddress = type(self._transport)._pptwisted_base.getPeer(self._transport)
        return peer

    def getRealHost(self) -> IAddress:
        host: IAddress = type(self._transport)._pptwisted_base.getHost(self._transport)
        return host


def _step_aside_types() -> dict[type, type]:
    """
    Transports whose protocol can be replaced (C{.protocol}, read at each
    event), with the subclass each becomes: Twisted's own TCP and UNIX
    server connections. Others keep the wrapper.
    """
    from twisted.internet import tcp

    bases: list[type] = [tcp.Server]
    try:
        from twisted.internet import unix
    except ImportError:  # pragma: no cover - no UNIX sockets
        pass
    else:
        bases.append(unix.Server)
    return {base: _stepped_aside_class(base) for base in bases}


_STEP_ASIDE = _step_aside_types()


_PREFIX_CACHE: dict[type, str] = {}


def _app_log_prefix(app: IProtocol) -> str:
    """
    The application protocol's log prefix, as Twisted's transports compute
    it; cached per class when the class keeps Twisted's default (its name).
    """
    cls = type(app)
    prefix = _PREFIX_CACHE.get(cls)
    if prefix is not None:
        return prefix
    if getattr(cls, "logPrefix", None) is Protocol.logPrefix:
        _PREFIX_CACHE[cls] = prefix = cls.__name__
        return prefix
    if ILoggingContext.providedBy(app):
        return str(app.logPrefix())
    return cls.__name__


_CLASS_CACHE: dict[tuple[object, object], tuple[type[ProxyProtocolConnection], Any]] = {}
_CLASS_CACHE_LIMIT = 256
_BASE_SPEC = implementedBy(ProxyProtocolConnection)  # type: ignore[no-untyped-call]


def _connected_class(
    transport_spec: Any, app_spec: Any
) -> tuple[type[ProxyProtocolConnection], Any]:
    """
    A subclass of L{ProxyProtocolConnection} that provides the interfaces of
    C{transport_spec}, and the optional protocol interfaces the application
    provides (so that e.g. half-close reaches it), with its interface
    specification. Cached: building one per connection (C{directlyProvides})
    would cost more than the rest of the hand-over.
    """
    key = (transport_spec, app_spec)
    found = _CLASS_CACHE.get(key)
    if found is None:
        extra = [i for i in _FORWARDED if i in app_spec]
        cls = type("ProxyProtocolConnection", (ProxyProtocolConnection,), {"__slots__": ()})
        classImplements(cls, *list(transport_spec), *extra)  # type: ignore[misc]
        # classImplements gave the class a ClassProvides, hiding the instance
        # slot the connection sets; the class object needs no declaration.
        if "__provides__" in cls.__dict__:
            delattr(cls, "__provides__")
        found = (cls, implementedBy(cls))  # type: ignore[no-untyped-call]
        if len(_CLASS_CACHE) < _CLASS_CACHE_LIMIT:
            _CLASS_CACHE[key] = found
    return found


class ProxyProtocolWrapper(WrappingFactory):
    """
    Wrap any protocol factory so that its connections start with a PROXY
    header, read and checked according to C{policy} before the factory's
    C{buildProtocol} is called with the client's real address.

    @ivar policy: the L{ProxyProtocolPolicy} in force.
    @ivar stats: L{ProxyProtocolStats} counters (pass C{stats} to share them
        between several wrappers).
    """

    protocol = ProxyProtocolConnection  # type: ignore[assignment]

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        policy: ProxyProtocolPolicy | None = None,
        *,
        clock: IReactorTime | None = None,
        stats: ProxyProtocolStats | None = None,
    ) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        self.policy = policy if policy is not None else ProxyProtocolPolicy()
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.clock: IReactorTime = clock
        self.stats = stats if stats is not None else ProxyProtocolStats()
        self.versions = self.policy.versions
        self.max_v2_length = self.policy.max_v2_length
        self.deadlines = _Deadlines(clock, self.policy.timeout)
        self._log_prefix: str | None = None

    def buildProtocol(self, addr: IAddress) -> ProxyProtocolConnection:  # type: ignore[override]
        return ProxyProtocolConnection(self)

    def stopFactory(self) -> None:
        """The last port closed: drop the header timer if nothing waits."""
        self.deadlines.stop()
        super().stopFactory()  # type: ignore[no-untyped-call]

    def logPrefix(self) -> str:
        prefix = self._log_prefix
        if prefix is None:
            wrapped = self.wrappedFactory
            if ILoggingContext.providedBy(wrapped):
                name = str(wrapped.logPrefix())
            else:
                name = wrapped.__class__.__name__
            prefix = self._log_prefix = f"{name} (PROXY)"
        return prefix


def get_proxy_transport(obj: object) -> IProxyProtocolTransport | None:
    """
    Find the PROXY-aware transport under C{obj}: a transport, a protocol, a
    twisted.web C{Request} or an HTTP channel (TLS layers in between are
    walked through). C{None} when the connection has no PROXY layer.
    """
    seen = 0
    while obj is not None and seen < 16:
        if IProxyProtocolTransport.providedBy(obj):
            return obj
        # A transport the wrapper handed to the application directly.
        if getattr(type(obj), "_pptwisted_base", None) is not None:
            return _SteppedAside(obj)
        seen += 1
        nxt = None
        for attribute in ("transport", "channel", "_conn"):
            nxt = getattr(obj, attribute, None)
            if nxt is not None and nxt is not obj:
                break
        obj = nxt
    return None


def get_proxy_header(obj: object) -> ProxyHeader | None:
    """
    The L{ProxyHeader} of the connection under C{obj} (a transport, a
    protocol or a twisted.web C{Request}), or C{None} when there is none
    (no PROXY layer, or the connection was served as direct).
    """
    transport = get_proxy_transport(obj)
    if transport is None:
        return None
    header: ProxyHeader | None = transport.proxy_header
    return header

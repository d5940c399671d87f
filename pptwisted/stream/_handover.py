"""
The hand-over: once the header is in, the application gets the connection
exactly as plain C{tcp:} would give it, plus the header's addresses.

Two ways, one behaviour:

  - B{By construction}, where pptwisted owns the port (C{proxy:} over tcp,
    tcp6, unix, systemd, and the TCP under ssl/tls): the port creates each
    connection as one of our transport classes (L{ProxyTCPServer},
    L{ProxyUNIXServer}: subclasses of Twisted's C{tcp.Server}/C{unix.Server}
    that carry the header). The hand-over is C{transport.protocol = app},
    C{app.makeConnection(transport)}, then the bytes that came with the
    header. Nothing stays in the path.
  - B{Relayed} (a bare wrapper given to C{listenTCP}, an adopted socket, the
    IOCP reactor, any foreign transport): the header reader stays the real
    transport's protocol and the application's transport is a
    L{ProxiedTransport} in front of the real one.

In both, the bytes that came with the header go where Twisted would send
them (C{transport.protocol}, which C{startTLS()} replaces), not while the
application has paused reading, not after it closed; an exception from the
application is logged under its own log prefix with the client's address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    IProtocol,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import classImplements, implementer
from zope.interface.declarations import Provides

from .._interfaces import IProxyProtocolTransport
from ..codec._header import ProxyHeader
from ._secure import conform, secure_connection

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.interfaces import IListeningPort

__all__ = [
    "ProxiedTransport",
    "ProxyTCPServer",
    "ProxyUNIXServer",
    "construct_connections",
    "hand_over",
    "relay",
    "tls_protocol_class",
]

_log = Logger(namespace="pptwisted")

#: Interfaces of the application's protocol a relaying reader forwards to it.
FORWARDED = (IHalfCloseableProtocol, IHandshakeListener)


# -- log prefixes and names -------------------------------------------------------

_PREFIX_CACHE: dict[type, str] = {}


def app_log_prefix(app: object) -> str:
    """
    The log prefix Twisted's transports compute for C{app}; cached per class
    when the class keeps Twisted's default (its name).
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


def _display_name(app: object) -> str:
    """The class name Twisted would show for C{app} in a transport's repr."""
    cls = type(app)
    name: str = getattr(cls, "_pptwisted_display_name", None) or cls.__name__
    return name


def _log_app_failure(system: str, failure: Failure | None = None) -> None:
    """Log an application's exception as the reactor would, under C{system}."""
    _log.failure("Unhandled Error", failure, log_system=system)


def _close_after_error(transport: Any, failure: Failure) -> None:
    """
    Close a connection whose application raised in C{dataReceived}, as the
    reactor does: Twisted's own socket transports lose the connection at
    once with the exception as the reason; others (a TLS layer or another
    protocol wrapper, which has a C{connectionLost} of its own, as a
    protocol) are aborted.
    """
    lost = getattr(transport, "connectionLost", None)
    stop_reading = getattr(transport, "stopReading", None)
    if lost is not None and stop_reading is not None and not IProtocol.providedBy(transport):
        stop_reading()
        transport.stopWriting()
        lost(failure)
    elif hasattr(transport, "abortConnection"):
        transport.abortConnection()
    else:
        transport.loseConnection()


# -- by construction --------------------------------------------------------------


def _constructed_class(base: Any) -> Any:
    """
    The transport class a port of ours creates instead of C{base}
    (Twisted's C{tcp.Server} or C{unix.Server}): it provides
    L{IProxyProtocolTransport}, reports the header's addresses, and holds the
    bytes that came with the header while the application has paused reading.
    """
    base_get_peer = base.getPeer
    base_get_host = base.getHost
    base_pause = base.pauseProducing
    base_resume = base.resumeProducing
    base_abort = base.abortConnection
    base_connection_lost = base.connectionLost

    def getPeer(self: Any) -> IAddress:
        """The header's source address (the socket's peer when it has none)."""
        header = self.proxy_header
        if header is not None:
            source: IAddress | None = header.source
            if source is not None:
                return source
        peer: IAddress = base_get_peer(self)
        return peer

    def getHost(self: Any) -> IAddress:
        """The header's destination address (the socket's own when none)."""
        header = self.proxy_header
        if header is not None:
            destination: IAddress | None = header.destination
            if destination is not None:
                return destination
        host: IAddress = base_get_host(self)
        return host

    unix = base.__module__ == "twisted.internet.unix"

    def getRealPeer(self: Any) -> IAddress:
        """The socket's peer: the load balancer."""
        client = self._pptwisted_client
        if client is None:
            peer: IAddress = base_get_peer(self)
            return peer
        if unix:
            return UNIXAddress(client[0] or None)
        # As tcp.Server.getPeer: a 2-tuple is IPv4, a 4-tuple IPv6.
        if len(client) == 2:
            return IPv4Address("TCP", *client)
        return IPv6Address("TCP", *client)

    def getRealHost(self: Any) -> IAddress:
        """The socket's own address."""
        host: IAddress = base_get_host(self)
        return host

    def pauseProducing(self: Any) -> None:
        self._pptwisted_paused = True
        base_pause(self)

    def resumeProducing(self: Any) -> None:
        self._pptwisted_paused = False
        base_resume(self)
        if self._pptwisted_held is not None:
            self.reactor.callLater(0, _release_held, self)

    def abortConnection(self: Any) -> None:
        self._pptwisted_paused = True  # nothing more is read
        base_abort(self)

    def connectionLost(self: Any, reason: Failure) -> None:
        base_connection_lost(self, reason)
        reader = self._pptwisted_reader
        if reader is not None:
            self._pptwisted_reader = None
            reader.factory.protocols.pop(reader, None)

    def __conform__(self: Any, interface: Any) -> Any:
        # ISSLTransport when the proxy terminated TLS (pptwisted.stream._secure).
        return conform(self, self._pptwisted_secure, interface)

    def __repr__(self: Any) -> str:
        # Twisted's repstr names the protocol at accept time (our header
        # reader); once handed over, the application, as plain tcp: shows.
        # Computed here, when asked, rather than on every connection.
        repstr: str = self.repstr
        name = self._pptwisted_name
        if name is None:
            return repstr
        return f"<{name}{repstr[repstr.find(' #') :]}"

    namespace = {
        "__module__": __name__,
        "__doc__": f"A {base.__name__} created by a proxy: port: it carries the PROXY header.",
        "proxy_header": None,
        "_pptwisted_reader": None,
        "_pptwisted_client": None,
        "_pptwisted_paused": False,
        "_pptwisted_held": None,
        "_pptwisted_secure": None,
        "_pptwisted_name": None,
        "__conform__": __conform__,
        "__repr__": __repr__,
        "getPeer": getPeer,
        "getHost": getHost,
        "getRealPeer": getRealPeer,
        "getRealHost": getRealHost,
        "pauseProducing": pauseProducing,
        "resumeProducing": resumeProducing,
        "abortConnection": abortConnection,
        "connectionLost": connectionLost,
    }
    cls = type(f"Proxy{base.__name__}", (base,), namespace)
    classImplements(cls, IProxyProtocolTransport)  # type: ignore[misc]
    return cls


def _release_held(transport: Any) -> None:
    """Deliver the bytes held while the application had paused reading."""
    held = transport._pptwisted_held
    if held is None or transport._pptwisted_paused:
        return
    transport._pptwisted_held = None
    _deliver(transport, held)


def _deliver(transport: Any, data: bytes) -> None:
    """
    Give C{data} (read with the header) to C{transport.protocol}, as the
    transport's next read would: not once closing, held while paused.
    """
    if not transport.connected or transport.disconnecting:
        return
    if transport._pptwisted_paused:
        transport._pptwisted_held = data
        return
    try:
        transport.protocol.dataReceived(data)
    except BaseException:
        _fail_in_data_received(transport)


def _fail_in_data_received(transport: Any) -> None:
    """The application raised on the bytes that came with the header."""
    failure = Failure()  # type: ignore[no-untyped-call]
    _log_app_failure(transport.logstr, failure)
    _close_after_error(transport, failure)


def _bases() -> dict[type, Any]:
    from twisted.internet import tcp

    found: dict[type, Any] = {tcp.Server: _constructed_class(tcp.Server)}
    try:
        from twisted.internet import unix
    except ImportError:  # pragma: no cover - no UNIX sockets
        pass
    else:
        found[unix.Server] = _constructed_class(unix.Server)
    return found


_CONSTRUCTED_FOR = _bases()
#: The transport classes our ports create.
CONSTRUCTED = frozenset(_CONSTRUCTED_FOR.values())


def _tcp_class() -> Any:
    from twisted.internet import tcp

    return _CONSTRUCTED_FOR[tcp.Server]


ProxyTCPServer: Any = _tcp_class()
ProxyUNIXServer: Any = next(
    (cls for base, cls in _CONSTRUCTED_FOR.items() if base.__module__.endswith("unix")), None
)


def construct_connections(port: IListeningPort) -> bool:
    """
    Make C{port} create its connections as our transport classes, when it
    still uses Twisted's own C{tcp.Server}/C{unix.Server} (its C{transport}
    attribute, Twisted 22.4 and later). Return whether it does now; when not,
    its connections are relayed.
    """
    current = getattr(port, "transport", None)
    ours = _CONSTRUCTED_FOR.get(current) if isinstance(current, type) else None
    if ours is None:
        return current in CONSTRUCTED
    port.transport = ours  # type: ignore[attr-defined]
    return True


def hand_over(
    transport: Any, app: IProtocol, header: ProxyHeader | None, rest: bytes, reader: object
) -> None:
    """
    Give a connection created by our port to C{app}: from now on the
    transport calls C{app} directly and reports C{header}'s addresses in
    C{getPeer()}/C{getHost()}, C{hostname}, C{client}, C{logstr} and C{repr}.
    C{reader} stays the connection's entry in its wrapper's C{protocols}
    until the transport is lost.
    """
    transport._pptwisted_reader = reader
    transport.proxy_header = header
    if header is not None:
        if reader.factory.secure_from_header:  # type: ignore[attr-defined]
            transport._pptwisted_secure = secure_connection(header, True)
        source = header.source
        if isinstance(source, (IPv4Address, IPv6Address)):
            transport._pptwisted_client = transport.client
            transport.client = (source.host, source.port)
            transport.hostname = source.host
        elif isinstance(source, UNIXAddress):
            transport._pptwisted_client = transport.client
            transport.client = (source.name, None)
            transport.hostname = source.name
    transport.protocol = app
    names = _NAMES.get(app.__class__)
    if names is None:
        names = _names(app)
    prefix, name = names
    transport.logstr = f"{prefix},{transport.sessionno},{transport.hostname}"
    transport._pptwisted_name = name
    try:
        app.makeConnection(transport)
    except BaseException:
        # As Twisted's port does: log it, keep the connection.
        _log_app_failure(transport.logstr)
    if rest:
        if transport.connected and not (transport.disconnecting or transport._pptwisted_paused):
            try:
                transport.protocol.dataReceived(rest)
            except BaseException:
                _fail_in_data_received(transport)
        else:
            _deliver(transport, rest)


_NAMES: dict[type, tuple[str, str]] = {}


def _names(app: object) -> tuple[str, str]:
    """
    The log prefix and class name Twisted's transports show for C{app};
    cached per class when the log prefix does not depend on the instance.
    """
    found = (app_log_prefix(app), _display_name(app))
    if type(app) in _PREFIX_CACHE:
        _NAMES[type(app)] = found
    return found


# -- the TLS layer under a proxy: port --------------------------------------------

_TLS_CLASS: list[type] = []


def tls_protocol_class() -> type:
    """
    The TLS protocol C{proxy:ssl}/C{proxy:tls} use: Twisted's own
    (C{TLSMemoryBIOFactory.protocol}), declared to provide L{IProxyProtocolTransport}
    (its C{makeConnection} keeps only one of the transport's interfaces).
    """
    if _TLS_CLASS:
        return _TLS_CLASS[0]
    from twisted.protocols.tls import TLSMemoryBIOFactory

    # Twisted 22.8+ uses BufferingTLSTransport, a TLSMemoryBIOProtocol.
    base: Any = TLSMemoryBIOFactory.protocol
    base_name = base.__name__

    @implementer(IProxyProtocolTransport)
    class ProxyTLSProtocol(base):  # type: ignore[misc]
        """TLS over a connection of ours: the PROXY header stays reachable."""

        _pptwisted_display_name = base_name

        @property
        def proxy_header(self) -> ProxyHeader | None:
            header: ProxyHeader | None = getattr(self.transport, "proxy_header", None)
            return header

        def getRealPeer(self) -> IAddress:
            transport: Any = self.transport
            get = getattr(transport, "getRealPeer", None)
            peer: IAddress = get() if get is not None else transport.getPeer()
            return peer

        def getRealHost(self) -> IAddress:
            transport: Any = self.transport
            get = getattr(transport, "getRealHost", None)
            host: IAddress = get() if get is not None else transport.getHost()
            return host

        def logPrefix(self) -> str:
            # As Twisted's own TLS protocol's, which plain ssl: shows.
            return f"{app_log_prefix(self.wrappedProtocol)} ({base_name})"

    _TLS_CLASS.append(ProxyTLSProtocol)
    return ProxyTLSProtocol


# -- relayed ------------------------------------------------------------------------


@implementer(IProxyProtocolTransport)
class ProxiedTransport:
    """
    The application's transport when the header reader stays in the path:
    the real transport, with the header's addresses. Writes go straight to
    the real transport; what this class does not define is the real
    transport's (C{__getattr__}). Built as a subclass that provides the real
    transport's interfaces (see L{relay}).
    """

    __slots__ = (
        "_clock",
        "_held",
        "_paused",
        "_reader",
        "_secure",
        "_tls",
        "closing",
        "proxy_header",
        "transport",
        "write",
        "writeSequence",
    )

    def __init__(
        self, transport: Any, header: ProxyHeader | None, reader: IProtocol, clock: IReactorTime
    ) -> None:
        self.transport = transport
        self.proxy_header = header
        self._reader = reader
        self._clock = clock
        self._held: bytes | None = None
        self._paused = False
        self._secure = None
        # The TLS layer a startTLS() through this transport put under the
        # reader: the bytes that came with the header go through it.
        self._tls: IProtocol | None = None
        if reader.factory.secure_from_header:  # type: ignore[attr-defined]
            self._secure = secure_connection(header, True)
        self.closing = False
        self.write = transport.write
        self.writeSequence = transport.writeSequence

    def getPeer(self) -> IAddress:
        """The header's source address (the real peer when it has none)."""
        header = self.proxy_header
        if header is not None and header.source is not None:
            return header.source
        peer: IAddress = self.transport.getPeer()
        return peer

    def getHost(self) -> IAddress:
        """The header's destination address (the real host when none)."""
        header = self.proxy_header
        if header is not None and header.destination is not None:
            return header.destination
        host: IAddress = self.transport.getHost()
        return host

    def getRealPeer(self) -> IAddress:
        """The socket's peer: the load balancer."""
        peer: IAddress = self.transport.getPeer()
        return peer

    def getRealHost(self) -> IAddress:
        """The socket's own address."""
        host: IAddress = self.transport.getHost()
        return host

    def loseConnection(self) -> None:
        self.closing = True
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        self.closing = True
        self.transport.abortConnection()

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self._paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        self.transport.resumeProducing()
        if self._held is not None:
            self._clock.callLater(0, self._release)

    def stopProducing(self) -> None:
        self.closing = True
        self.transport.stopProducing()

    def startTLS(self, *args: Any, **kwargs: Any) -> None:
        """
        C{ITLSTransport.startTLS} on the real transport. Twisted's puts a TLS
        layer between the socket and its protocol (the new C{protocol} of the
        socket's transport): the bytes that came with the header, not yet
        given to the application, are the first the layer decrypts.
        """
        transport = self.transport
        before = getattr(transport, "protocol", None)
        transport.startTLS(*args, **kwargs)
        after = getattr(transport, "protocol", None)
        if after is not None and after is not before:
            self._tls = after

    def deliver(self, app: IProtocol, data: bytes) -> None:
        """
        Give C{data}, read with the header, to whom the next read would go:
        C{app}, the application the reader built, or the TLS layer that the
        application's own C{startTLS()} started. Never to the real
        transport's C{protocol}: when the real transport is itself a
        protocol wrapper (a TLS layer around the reader, a
        C{policies.ProtocolWrapper}), that attribute is passed on to the
        socket's transport, whose protocol is the wrapper: the bytes would
        go back through it (plaintext fed to TLS as ciphertext).
        """
        transport = self.transport
        if self.closing or getattr(transport, "disconnecting", False):
            return
        if self._paused:
            self._held = data
            return
        target = self._tls if self._tls is not None else app
        try:
            target.dataReceived(data)
        except BaseException:
            failure = Failure()  # type: ignore[no-untyped-call]
            system = getattr(transport, "logstr", None)
            _log_app_failure(system if isinstance(system, str) else app_log_prefix(app), failure)
            _close_after_error(transport, failure)

    def _release(self) -> None:
        held = self._held
        if held is None or self._paused:
            return
        self._held = None
        app = getattr(self._reader, "wrappedProtocol", None)
        if app is not None:
            self.deliver(app, held)

    def __conform__(self, interface: Any) -> Any:
        # ISSLTransport when the proxy terminated TLS (pptwisted.stream._secure).
        return conform(self, self._secure, interface)

    def __getattr__(self, name: str) -> Any:
        # Everything else the real transport offers (getPeerCertificate,
        # setTcpNoDelay, startTLS, disconnecting, ...).
        if name.startswith("__") or name in ProxiedTransport.__slots__:
            raise AttributeError(name)
        return getattr(self.transport, name)

    @property
    def hostname(self) -> object:
        """As Twisted's transports have it: the client's host (or socket name)."""
        peer = self.getPeer()
        if isinstance(peer, (IPv4Address, IPv6Address)):
            return peer.host
        if isinstance(peer, UNIXAddress):
            return peer.name
        return getattr(self.transport, "hostname", None)

    @property
    def client(self) -> object:
        """As Twisted's transports have it: the client's C{(host, port)}."""
        peer = self.getPeer()
        if isinstance(peer, (IPv4Address, IPv6Address)):
            return (peer.host, peer.port)
        if isinstance(peer, UNIXAddress):
            return (peer.name, None)
        return getattr(self.transport, "client", None)

    def __repr__(self) -> str:
        # The real transport's, which names the application (see relay).
        return repr(self.transport)


_PROXIED_CACHE: dict[object, type[ProxiedTransport]] = {}
_PROXIED_CACHE_LIMIT = 256


def _proxied_class(transport_spec: Any) -> type[ProxiedTransport]:
    """
    A L{ProxiedTransport} subclass providing the interfaces of
    C{transport_spec} (the real transport's), cached per specification.
    """
    found = _PROXIED_CACHE.get(transport_spec)
    if found is None:
        found = type("ProxiedTransport", (ProxiedTransport,), {"__slots__": ()})
        classImplements(found, *list(transport_spec))  # type: ignore[misc]
        if len(_PROXIED_CACHE) < _PROXIED_CACHE_LIMIT:
            _PROXIED_CACHE[transport_spec] = found
    return found


_SPEC_CACHE: dict[tuple[type, tuple[Any, ...]], Any] = {}


def forwarding_spec(reader_class: type, app: IProtocol) -> Any:
    """
    The interface specification of a relaying reader whose application is
    C{app}: the reader's own, plus the optional protocol interfaces C{app}
    provides (so that e.g. a half-close reaches it), or C{None} if none.
    """
    extra = tuple(i for i in FORWARDED if i.providedBy(app))
    if not extra:
        return None
    key = (reader_class, extra)
    spec = _SPEC_CACHE.get(key)
    if spec is None:
        spec = _SPEC_CACHE[key] = Provides(reader_class, *extra)
    return spec


def relay(
    reader: Any,
    transport: ITransport,
    app: IProtocol,
    header: ProxyHeader | None,
    rest: bytes,
    clock: IReactorTime,
) -> ProxiedTransport:
    """
    Connect C{app} through a L{ProxiedTransport} in front of C{transport},
    whose protocol stays C{reader}; return that transport.
    """
    from zope.interface import providedBy

    proxied = _proxied_class(providedBy(transport))(transport, header, reader, clock)
    # Twisted's TCP and UNIX transports log under "prefix,session,host"
    # chosen at accept time, i.e. the proxy's address: show the client.
    # (Not on a transport that is itself a protocol, a wrapper: it passes
    # these attributes on to the transport under it.)
    if not IProtocol.providedBy(transport) and isinstance(getattr(transport, "logstr", None), str):
        peer = proxied.getPeer()
        host = peer.host if isinstance(peer, (IPv4Address, IPv6Address)) else str(peer)
        session = getattr(transport, "sessionno", "-")
        transport.logstr = f"{app_log_prefix(app)},{session},{host}"  # type: ignore[attr-defined]
        repstr = getattr(transport, "repstr", None)
        if isinstance(repstr, str):
            name = _display_name(app)
            transport.repstr = f"<{name}{repstr[repstr.find(' #') :]}"  # type: ignore[attr-defined]
    try:
        app.makeConnection(cast(ITransport, proxied))
    except BaseException:
        _log_app_failure(str(getattr(transport, "logstr", app_log_prefix(app))))
    if rest:
        proxied.deliver(app, rest)
    return proxied

"""
The hand-over by construction, where pptwisted owns the port (C{proxy:}
over tcp, tcp6, unix, systemd, and the TCP under ssl/tls): the port creates
each connection as one of our transport classes (L{ProxyTCPServer},
L{ProxyUNIXServer}: subclasses of Twisted's C{tcp.Server}/C{unix.Server}
that carry the header), and L{hand_over_constructed} is
C{transport.protocol = app}, C{app.makeConnection(transport)}, then the
bytes that came with the header. Nothing stays in the path.

The bytes that came with the header go where Twisted would send them
(C{transport.protocol}, which C{startTLS()} replaces), not while the
application has paused reading, not after it closed; an exception from the
application is logged under its own log prefix with the client's address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import IAddress, IProtocol
from twisted.python.failure import Failure
from zope.interface import classImplements

from .._interfaces import IProxyProtocolTransport
from ..codec._header import ProxyHeader
from ._application import app_names, cached_app_names, close_after_error, log_failure
from ._secure import conform, negotiated_protocol, secure_connection

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.interfaces import IListeningPort

_INET = (IPv4Address, IPv6Address)

__all__ = [
    "CONSTRUCTED",
    "ProxyTCPServer",
    "ProxyUNIXServer",
    "construct_connections",
    "hand_over_constructed",
]


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
        close_after_error(transport, transport.logstr)


def _bases() -> dict[type, Any]:
    """Our transport class for each server class of Twisted this platform has."""
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


def hand_over_constructed(
    transport: Any,
    app: IProtocol,
    header: ProxyHeader | None,
    rest: bytes,
    reader: object,
    secure: bool,
    alpn: bool,
) -> None:
    """
    Give a connection created by our port to C{app}: from now on the
    transport calls C{app} directly and reports C{header}'s addresses in
    C{getPeer()}/C{getHost()}, C{hostname}, C{client}, C{logstr} and C{repr}
    (and, if C{secure}, the TLS facts of C{header}; if C{alpn}, its ALPN as
    C{negotiatedProtocol}: L{pptwisted.stream._secure}).
    C{reader} stays the connection's entry in its wrapper's C{protocols}
    until the transport is lost.
    """
    transport._pptwisted_reader = reader
    transport.proxy_header = header
    if header is not None:
        if secure:
            transport._pptwisted_secure = secure_connection(header, True)
        source = header.source
        if isinstance(source, _INET):
            host = source.host
            transport._pptwisted_client = transport.client
            transport.client = (host, source.port)
            transport.hostname = host
        elif isinstance(source, UNIXAddress):
            transport._pptwisted_client = transport.client
            transport.client = (source.name, None)
            transport.hostname = source.name
    if alpn:
        transport.negotiatedProtocol = negotiated_protocol(header)
    transport.protocol = app
    names = cached_app_names(type(app))
    if names is None:
        names = app_names(app)
    prefix, name = names
    transport.logstr = f"{prefix},{transport.sessionno},{transport.hostname}"
    transport._pptwisted_name = name
    try:
        app.makeConnection(transport)
    except BaseException:
        # As Twisted's port does: log it, keep the connection.
        log_failure(transport.logstr)
    if rest:
        _deliver(transport, rest)

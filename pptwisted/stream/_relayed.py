"""
The relayed hand-over, where the port is not ours (a bare wrapper given to
C{listenTCP}, an adopted socket, the IOCP reactor, any foreign transport such
as a TLS layer or another protocol wrapper around the reader): the header
reader stays the real transport's protocol and relays its events to the
application, whose transport is a L{ProxiedTransport} in front of the real
one.

The bytes that came with the header go to the application the reader built
(or to the TLS layer its own C{startTLS()} started), through objects the
reader owns; not while the application has paused reading, not after it
closed; an exception from the application is logged under its own log prefix
with the client's address.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IProtocol,
    IReactorTime,
    ITransport,
)
from zope.interface import classImplements, implementer, providedBy
from zope.interface.declarations import Provides

from .._interfaces import IProxyProtocolTransport
from ..codec._header import ProxyHeader
from ._application import app_log_prefix, app_names, close_after_error, log_failure
from ._secure import conform, negotiated_protocol, secure_connection

__all__ = ["FORWARDED", "ProxiedTransport", "forwarding_spec", "hand_over_relayed"]

#: Interfaces of the application's protocol a relaying reader forwards to it.
FORWARDED = (IHalfCloseableProtocol, IHandshakeListener)


@implementer(IProxyProtocolTransport)
class ProxiedTransport:
    """
    The application's transport when the header reader stays in the path:
    the real transport, with the header's addresses. Writes go straight to
    the real transport; what this class does not define is the real
    transport's (C{__getattr__}). Built as a subclass that provides the real
    transport's interfaces (see L{hand_over_relayed}).

    @ivar transport: the real transport.
    @ivar proxy_header: the header accepted (C{None} if direct).
    """

    __slots__ = (
        "_app",
        "_clock",
        "_held",
        "_paused",
        "_secure",
        "_tls",
        "closing",
        "negotiatedProtocol",
        "proxy_header",
        "transport",
        "write",
        "writeSequence",
    )

    def __init__(
        self,
        transport: Any,
        header: ProxyHeader | None,
        app: IProtocol,
        clock: IReactorTime,
        secure: bool,
        alpn: bool,
    ) -> None:
        """
        @param app: the application the reader built, to which the bytes
            that came with the header go (L{deliver}).
        @param secure: whether C{header}'s TLS facts make this transport an
            C{ISSLTransport} (L{pptwisted.stream._secure}).
        @param alpn: whether C{header}'s ALPN is this transport's
            C{negotiatedProtocol}; if not, that attribute is the real
            transport's, if it has one (a TLS layer's).
        """
        self.transport = transport
        self.proxy_header = header
        self._app = app
        self._clock = clock
        self._held: bytes | None = None
        self._paused = False
        self._secure = secure_connection(header, True) if secure else None
        # The TLS layer a startTLS() through this transport put under the
        # reader: the bytes that came with the header go through it.
        self._tls: IProtocol | None = None
        if alpn:
            self.negotiatedProtocol = negotiated_protocol(header)
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

    def deliver(self, data: bytes) -> None:
        """
        Give C{data}, read with the header, to whom the next read would go:
        the application the reader built, or the TLS layer that the
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
        target = self._tls if self._tls is not None else self._app
        try:
            target.dataReceived(data)
        except BaseException:
            system = getattr(transport, "logstr", None)
            close_after_error(
                transport, system if isinstance(system, str) else app_log_prefix(self._app)
            )

    def _release(self) -> None:
        """Deliver the bytes held while the application had paused reading."""
        held = self._held
        if held is None or self._paused:
            return
        self._held = None
        self.deliver(held)

    def __conform__(self, interface: Any) -> Any:
        # ISSLTransport when the proxy terminated TLS (pptwisted.stream._secure).
        return conform(self, self._secure, interface)

    def __getattr__(self, name: str) -> Any:
        # Everything else the real transport offers (getPeerCertificate,
        # setTcpNoDelay, startTLS, disconnecting, ...).
        if name.startswith("__") or (
            name in ProxiedTransport.__slots__ and name != "negotiatedProtocol"
        ):
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
        # The real transport's, which names the application (see
        # hand_over_relayed).
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


def hand_over_relayed(
    transport: ITransport,
    app: IProtocol,
    header: ProxyHeader | None,
    rest: bytes,
    clock: IReactorTime,
    secure: bool,
    alpn: bool,
) -> ProxiedTransport:
    """
    Connect C{app} through a L{ProxiedTransport} in front of C{transport},
    whose protocol stays the header reader; give it C{rest}, the bytes that
    came with the header; return that transport.
    """
    proxied = _proxied_class(providedBy(transport))(transport, header, app, clock, secure, alpn)
    # Twisted's TCP and UNIX transports log under "prefix,session,host"
    # chosen at accept time, i.e. the proxy's address: show the client.
    # (Not on a transport that is itself a protocol, a wrapper: it passes
    # these attributes on to the transport under it.)
    if not IProtocol.providedBy(transport) and isinstance(getattr(transport, "logstr", None), str):
        peer = proxied.getPeer()
        host = peer.host if isinstance(peer, (IPv4Address, IPv6Address)) else str(peer)
        session = getattr(transport, "sessionno", "-")
        prefix, name = app_names(app)
        transport.logstr = f"{prefix},{session},{host}"  # type: ignore[attr-defined]
        repstr = getattr(transport, "repstr", None)
        if isinstance(repstr, str):
            transport.repstr = f"<{name}{repstr[repstr.find(' #') :]}"  # type: ignore[attr-defined]
    try:
        app.makeConnection(cast(ITransport, proxied))
    except BaseException:
        log_failure(str(getattr(transport, "logstr", app_log_prefix(app))))
    if rest:
        proxied.deliver(rest)
    return proxied

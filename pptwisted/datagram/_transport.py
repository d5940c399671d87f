"""
The transport of a protocol behind a UDP receiver: C{protocol.transport}
under L{ProxyProtocolDatagramWrapper}. Its replies go, without a header, to
the proxy socket of the client's flow (spec section 2.2 frames what a proxy
sends; what goes back to it is bare), and it carries the header of the
datagram being handled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress, IMulticastTransport, IUDPTransport
from zope.interface import implementer

from .._interfaces import IProxyProtocolTransport
from .._ratelimit import RateLimitedLog
from ..codec._addresses import address_text
from ..codec._errors import ProxyProtocolError
from ..codec._header import ProxyHeader
from ._address import HostPort, udp_address
from ._stats import ProxyDatagramStats

__all__ = ["DatagramOwner", "ProxyDatagramTransport"]


class DatagramOwner(Protocol):
    """What the transport needs of the receiver it belongs to."""

    @property
    def transport(self) -> IUDPTransport | IMulticastTransport | None:
        """The real port, once listening."""

    def logPrefix(self) -> str:
        """The receiver's log prefix."""


@implementer(IUDPTransport, IProxyProtocolTransport)
class ProxyDatagramTransport:
    """
    The transport the wrapped protocol gets: replies go through the flow
    table to the proxy socket of the client's flow, without a header.

    @ivar proxy_header: the header of the datagram being handled (the
        flow's header in C{first} mode), set while the wrapped protocol's
        C{datagramReceived} runs and C{None} outside it: work done later
        keeps it. (The flow table keeps no header in C{every} mode.) The
        receiver sets it, and the proxy socket the datagram came from
        (C{getRealPeer}), around each delivery.
    """

    __slots__ = (
        "__provides__",
        "_ratelog",
        "_real_peer",
        "_route",
        "_stats",
        "_wrapper",
        "proxy_header",
    )

    def __init__(
        self,
        wrapper: DatagramOwner,
        route: Callable[[Any], HostPort | None],
        stats: ProxyDatagramStats,
        ratelog: RateLimitedLog,
    ) -> None:
        self._wrapper = wrapper
        self._route = route
        self._stats = stats
        self._ratelog = ratelog
        self.proxy_header: ProxyHeader | None = None
        self._real_peer: HostPort | None = None

    def write(self, datagram: bytes, addr: HostPort | None = None) -> Any:
        """
        Send C{datagram}, without a header, to the proxy socket that the
        flow of client C{addr} came from; drop it (counted) when there is
        no such flow.
        """
        proxy = self._route(addr)
        if proxy is None:
            self._stats.replies_dropped += 1
            self._ratelog.emit(
                "unknown-client",
                address_text(addr),
                "Dropped a reply to {peer}: {rule}: no flow from this client"
                " (unknown, evicted or expired)",
            )
            return None
        self._stats.replies += 1
        port = self._wrapper.transport
        assert port is not None
        return port.write(datagram, proxy)

    def writeSequence(self, seq: Iterable[bytes], addr: HostPort | None = None) -> Any:
        """Send the concatenation of C{seq} as one datagram, like L{write}."""
        return self.write(b"".join(seq), addr)

    def connect(self, host: str, port: int) -> None:
        """
        Not supported: the wrapper's socket talks to proxies, and connecting
        it to one client would cut off every other one.
        """
        raise ProxyProtocolError(
            "connect() is not supported on a PROXY datagram transport:"
            " reply with transport.write(data, client_address) instead"
        )

    def getHost(self) -> IPv4Address | IPv6Address:
        """The real socket's own address."""
        assert self._wrapper.transport is not None
        host: IPv4Address | IPv6Address = self._wrapper.transport.getHost()
        return host

    def getRealHost(self) -> IPv4Address | IPv6Address:
        """The real socket's own address (as L{getHost})."""
        return self.getHost()

    # Narrower than IProxyProtocolTransport: a datagram port has no peer
    # outside the handling of a datagram.
    def getRealPeer(self) -> IAddress | None:  # type: ignore[override]
        """The proxy socket the datagram being handled came from, or C{None}."""
        peer = self._real_peer
        return None if peer is None else udp_address(peer)

    def stopListening(self) -> Any:
        """Stop the real port."""
        assert self._wrapper.transport is not None
        return self._wrapper.transport.stopListening()

    def loseConnection(self) -> None:
        """Stop the real port."""
        self.stopListening()

    def setBroadcastAllowed(self, enabled: bool) -> None:
        """Refused: replies go to proxies only."""
        raise ProxyProtocolError("broadcast is not supported on a PROXY datagram transport")

    def getBroadcastAllowed(self) -> bool:
        """Always C{False}."""
        return False

    @property
    def maxPacketSize(self) -> int:
        """The real port's receive size, which counts the PROXY header."""
        return int(getattr(self._wrapper.transport, "maxPacketSize", 8192))

    def logPrefix(self) -> str:
        return self._wrapper.logPrefix()

    def __repr__(self) -> str:
        return f"<ProxyDatagramTransport on {self._wrapper.transport!r}>"

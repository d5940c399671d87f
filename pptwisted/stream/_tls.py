"""
The TLS layer under C{proxy:ssl}/C{proxy:tls}: the PROXY header comes
before the TLS handshake, so the TLS protocol is the application the header
reader builds (L{pptwisted.stream._constructed}), and the application's
transport is that TLS protocol. L{tls_protocol_class} keeps the header
reachable through it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress
from zope.interface import implementer

from .._interfaces import IProxyProtocolTransport
from ..codec._header import ProxyHeader
from ._application import app_log_prefix

__all__ = ["tls_protocol_class"]

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

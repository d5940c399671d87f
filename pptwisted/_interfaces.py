"""
The interface through which applications reach what the PROXY header said,
and the two lookups that find it under a transport, a protocol or a
twisted.web request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.interfaces import IAddress
from zope.interface import Attribute, Interface

if TYPE_CHECKING:  # pragma: no cover
    from .codec import ProxyHeader

__all__ = ["IProxyProtocolTransport", "get_proxy_header", "get_proxy_transport"]


class IProxyProtocolTransport(Interface):
    """
    A transport behind a PROXY protocol receiver. C{getPeer()} and
    C{getHost()} report the header's addresses; this interface adds the
    header itself and the real socket addresses.
    """

    proxy_header = Attribute(
        "The L{pptwisted.ProxyHeader} received, or None when the connection"
        " was served as direct (optional mode, or an untrusted peer served"
        " directly)."
    )

    def getRealPeer() -> IAddress:
        """The address of the socket's peer (the load balancer)."""

    def getRealHost() -> IAddress:
        """The address of the socket's own end."""


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

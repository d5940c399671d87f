"""
The interface through which applications reach what the PROXY header said.
"""

from __future__ import annotations

from twisted.internet.interfaces import IAddress
from zope.interface import Attribute, Interface

__all__ = ["IProxyProtocolTransport"]


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

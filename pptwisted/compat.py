"""
A drop-in for code written against Twisted's C{twisted.protocols.haproxy}
(the C{haproxy:} endpoint prefix): its C{proxyEndpoint}, and the
C{IProxyInfo} results its wrapper kept in C{transport._proxyInfo}::

    from pptwisted.compat import proxy_info
    info = proxy_info(self.transport)   # was: self.transport._proxyInfo
    info.source, info.destination, info.header

Twisted's C{ProxyInfo} and C{IProxyInfo} live in private modules of
C{twisted.protocols.haproxy}; they are imported here only (and checked by
C{tests/unit/test_compat.py}), so that such code gets the very class it knew.
"""

from __future__ import annotations

from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.protocols.haproxy._info import ProxyInfo
from twisted.protocols.haproxy._interfaces import IProxyInfo

from ._interfaces import get_proxy_header
from .endpoints import ProxyProtocolServerEndpoint

__all__ = ["IProxyInfo", "ProxyInfo", "proxyEndpoint", "proxy_info"]


def proxy_info(obj: object) -> IProxyInfo | None:
    """
    The header of the connection under C{obj} (a transport, a protocol, a
    twisted.web C{Request}) as Twisted's C{haproxy:} wrapper described it:
    an C{IProxyInfo} with C{source} and C{destination} (C{None} for v2
    LOCAL, UNSPEC and v1 UNKNOWN headers) and C{header}, the header's bytes
    (re-encoded from the parsed header; for v1, the line without its CRLF,
    as Twisted gives it). C{None} when the connection has no header.
    """
    header = get_proxy_header(obj)
    if header is None:
        return None
    raw = header.to_bytes()
    if header.version == 1:
        raw = raw[:-2]
    info: IProxyInfo = ProxyInfo(raw, header.source, header.destination)
    return info


def proxyEndpoint(wrappedEndpoint: IStreamServerEndpoint) -> ProxyProtocolServerEndpoint:
    """
    Wrap C{wrappedEndpoint} so that its connections start with a PROXY
    header: C{twisted.protocols.haproxy.proxyEndpoint}'s signature, with
    pptwisted's default policy.
    """
    return ProxyProtocolServerEndpoint(wrappedEndpoint)

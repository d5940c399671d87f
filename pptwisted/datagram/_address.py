"""
The addresses of a datagram port: the C{(host, port)} pairs that
C{datagramReceived} gets and C{write} takes, and the Twisted UDP address
objects that a transport's C{getRealPeer} and a trust policy want.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address

__all__ = ["HostPort", "udp_address"]

#: An address as a datagram port gives and takes it.
HostPort = tuple[str, int]


def udp_address(address: HostPort) -> IPv4Address | IPv6Address:
    """The UDP address object of a C{(host, port)} pair."""
    host, port = address[0], address[1]
    if ":" in host:
        return IPv6Address("UDP", host, port)
    return IPv4Address("UDP", host, port)

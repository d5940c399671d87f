"""
Sending PROXY v2 over UDP (spec section 2.2): L{ProxyDatagramSender} puts
a v2 header with transport DGRAM in front of datagrams written to any UDP
transport (a relay, a client, a test), as dnsdist does with
C{useProxyProtocol=true}; L{datagram_header} builds one such header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IUDPTransport

from ..codec._header import ProxyHeader
from ..codec._tlv import TLV
from ._address import HostPort, udp_address

__all__ = ["ProxyDatagramSender", "datagram_header"]


def _udp(address: HostPort | IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    if isinstance(address, (IPv4Address, IPv6Address)):
        return udp_address((address.host, address.port))
    return udp_address(address)


def datagram_header(
    source: HostPort | IPv4Address | IPv6Address,
    destination: HostPort | IPv4Address | IPv6Address,
    *,
    tlvs: Iterable[TLV] = (),
    crc32c: bool = False,
) -> bytes:
    """
    The bytes of a v2 PROXY header for a datagram from C{source} (the
    client) to C{destination} (the address the client sent it to): family
    INET or INET6, transport DGRAM.
    """
    src, dst = _udp(source), _udp(destination)
    if type(src) is not type(dst):
        raise ValueError("source and destination must both be IPv4 or both IPv6")
    return ProxyHeader.proxy(src, dst, tlvs=tlvs).to_bytes(crc32c=crc32c)


class ProxyDatagramSender:
    """
    Sends datagrams with a v2 DGRAM header through a UDP transport (a
    relay's, a client's, a test's), as dnsdist does with
    C{useProxyProtocol=true}. Header bytes are built once per
    (source, destination) and kept in a small cache.

    @param transport: the UDP transport to write to (C{listenUDP}'s port).
    @param destination: the address the clients sent to (the proxy's
        frontend), put in every header unless L{send} is given another.
    @param tlvs: TLVs to put in every header.
    @param crc32c: add a CRC32C TLV to every header.
    """

    cache_size = 1024

    def __init__(
        self,
        transport: IUDPTransport,
        destination: HostPort | IPv4Address | IPv6Address,
        *,
        tlvs: Iterable[TLV] = (),
        crc32c: bool = False,
    ) -> None:
        self.transport = transport
        self.destination = destination
        self.tlvs = tuple(tlvs)
        self.crc32c = crc32c
        self._cache: dict[tuple[Any, Any], bytes] = {}

    def header(
        self,
        source: HostPort | IPv4Address | IPv6Address,
        destination: HostPort | IPv4Address | IPv6Address | None = None,
    ) -> bytes:
        """The header bytes for a datagram of C{source}."""
        destination = self.destination if destination is None else destination
        key = (source, destination)
        data = self._cache.get(key)
        if data is None:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            data = datagram_header(source, destination, tlvs=self.tlvs, crc32c=self.crc32c)
            self._cache[key] = data
        return data

    def send(
        self,
        payload: bytes,
        to: HostPort,
        *,
        source: HostPort | IPv4Address | IPv6Address,
        destination: HostPort | IPv4Address | IPv6Address | None = None,
        with_header: bool = True,
    ) -> Any:
        """
        Write C{payload} to C{to} on behalf of the client C{source}, with a
        header (C{with_header=False} sends it bare: the later datagrams of a
        flow for a receiver in C{first} mode).
        """
        data = self.header(source, destination) + payload if with_header else payload
        return self.transport.write(data, to)

    def send_local(self, payload: bytes, to: HostPort) -> Any:
        """Write C{payload} to C{to} after a LOCAL header (a health check)."""
        return self.transport.write(ProxyHeader.local().to_bytes() + payload, to)

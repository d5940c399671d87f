"""A client endpoint that sends a PROXY header before the application's bytes."""

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import HostnameEndpoint

from pptwisted import TLV, ProxyHeader, ProxyProtocolClientEndpoint

header = ProxyHeader.proxy(
    IPv4Address("TCP", "203.0.113.7", 40000),
    IPv4Address("TCP", "10.0.0.1", 443),
    tlvs=[TLV(0x02, b"example.com")],
)
endpoint = ProxyProtocolClientEndpoint(
    HostnameEndpoint(reactor, "backend", 8080), header, crc32c=True
)

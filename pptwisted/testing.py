"""
Testing applications that run behind C{proxy:}, without a network::

    from twisted.internet.address import IPv4Address
    from pptwisted import ProxyHeader
    from pptwisted.testing import proxied_connection

    header = ProxyHeader.proxy(
        IPv4Address("TCP", "203.0.113.9", 4321), IPv4Address("TCP", "10.0.0.1", 443)
    )
    connection = proxied_connection(my_factory, header)
    connection.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    assert b"203.0.113.9" in connection.received()

The application's protocol is built and connected by the real
L{ProxyProtocolWrapper}, exactly as behind a load balancer, on a
C{StringTransport}; a C{MemoryReactorClock} stands for time (header
timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IAddress, IProtocol, IProtocolFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport

from ._policy import ProxyProtocolPolicy
from .codec import ProxyHeader
from .stream import ProxyProtocolConnection, ProxyProtocolWrapper

__all__ = ["LISTENER", "LOAD_BALANCER", "ProxiedConnection", "proxied_connection"]

#: The default real addresses of the socket: a load balancer and our listener.
LOAD_BALANCER = IPv4Address("TCP", "10.0.0.9", 40000)
LISTENER = IPv4Address("TCP", "10.0.0.1", 8080)


@dataclass
class ProxiedConnection:
    """One fake connection through a L{ProxyProtocolWrapper}."""

    wrapper: ProxyProtocolWrapper
    connection: ProxyProtocolConnection
    transport: StringTransport
    clock: MemoryReactorClock
    sent: list[bytes] = field(default_factory=list)

    @property
    def protocol(self) -> IProtocol | None:
        """The application's protocol, once the header is in (else C{None})."""
        return self.connection.wrappedProtocol

    def send(self, data: bytes) -> None:
        """Deliver C{data} as the client would (after the header)."""
        self.sent.append(data)
        self.connection.dataReceived(data)

    def received(self) -> bytes:
        """Everything the application wrote to the client so far."""
        value: bytes = self.transport.value()  # type: ignore[no-untyped-call]
        return value

    @property
    def closed(self) -> bool:
        """Did the server (application or wrapper) close the connection?"""
        return bool(self.transport.disconnecting or self.transport.disconnected)


def proxied_connection(
    factory: IProtocolFactory,
    header: ProxyHeader | bytes | None,
    *,
    policy: ProxyProtocolPolicy | None = None,
    peer: IAddress = LOAD_BALANCER,
    host: IAddress = LISTENER,
    clock: MemoryReactorClock | None = None,
) -> ProxiedConnection:
    """
    Open a fake connection to C{factory} through the PROXY layer: the socket
    goes from C{peer} (the load balancer) to C{host}, and the client first
    sends C{header} (a L{ProxyHeader}, raw bytes, or C{None} to send nothing
    yet). The application is connected as soon as the header is complete.
    """
    clock = clock if clock is not None else MemoryReactorClock()  # type: ignore[no-untyped-call]
    wrapper = ProxyProtocolWrapper(factory, policy, clock=clock)
    transport = StringTransport(  # type: ignore[no-untyped-call]
        peerAddress=peer, hostAddress=host
    )
    connection = wrapper.buildProtocol(peer)
    connection.makeConnection(transport)
    fake = ProxiedConnection(wrapper, connection, transport, clock)
    if header is not None:
        fake.send(header if isinstance(header, bytes) else header.to_bytes())
    return fake

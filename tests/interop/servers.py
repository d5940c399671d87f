"""
Twisted servers for the interop tests: they report what the application
saw, as JSON, so that a test can compare it with the real client.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress, IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from pptwisted import ProxyProtocolServerEndpoint
from pptwisted._report import describe_address, describe_connection


class ReportProtocol(Protocol):
    """Writes what it learnt about its connection (JSON line), then closes."""

    factory: ReportFactory

    def connectionMade(self) -> None:
        assert self.transport is not None
        report = describe_connection(self.transport)
        report["build_address"] = describe_address(self.factory.addresses[-1])
        self.factory.reports.append(report)
        self.transport.write(json.dumps(report).encode() + b"\n")
        self.transport.loseConnection()


class ReportFactory(Factory):
    protocol = ReportProtocol

    def __init__(self) -> None:
        self.addresses: list[IAddress] = []
        self.reports: list[dict[str, Any]] = []

    def buildProtocol(self, addr: IAddress) -> Protocol | None:
        self.addresses.append(addr)
        return super().buildProtocol(addr)


class ReportResource(Resource):
    """twisted.web: what request.getClientAddress() and the header say."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        report = describe_connection(request.transport)  # type: ignore[arg-type]
        report["client_address"] = describe_address(request.getClientAddress())
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(report).encode()


async def listen(
    description: str, factory: Factory, cleanups: Any
) -> tuple[IListeningPort, ProxyProtocolServerEndpoint]:
    """Listen on C{description}; stop listening at cleanup."""
    endpoint = serverFromString(reactor, description)
    assert isinstance(endpoint, ProxyProtocolServerEndpoint)
    port: IListeningPort = await endpoint.listen(factory)
    cleanups(port.stopListening)
    return port, endpoint


def web_site() -> Site:
    return Site(ReportResource())

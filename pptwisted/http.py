"""
HTTP clients that send a PROXY header on every connection: an
C{IAgentEndpointFactory} for C{twisted.web.client.Agent}, and ready-made
C{Agent} and C{treq.HTTPClient} objects. HTTPS works: the header goes on the
TCP connection, before the TLS handshake::

    from twisted.internet.address import IPv4Address
    from pptwisted import ProxyHeader
    from pptwisted.http import proxied_treq

    header = ProxyHeader.proxy(
        IPv4Address("TCP", "203.0.113.7", 40000), IPv4Address("TCP", "10.0.0.1", 443)
    )
    client = proxied_treq(reactor, header)
    response = await client.get("https://backend.internal/")

A connection pool that keeps connections (C{persistent=True}) reuses a
connection for the next request to the same host: every request through one
agent must then describe the same client. The default pool does not keep
connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.python.compat import nativeString
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from .codec import ProxyHeader
from .endpoints import ProxyProtocolClientEndpoint

if TYPE_CHECKING:
    from treq.client import HTTPClient
    from twisted.web.client import URI
    from typing_extensions import Unpack

__all__ = ["ProxyEndpointFactory", "proxied_agent", "proxied_treq"]

HeaderSource = ProxyHeader | bytes | Callable[["URI"], ProxyHeader | bytes]


class AgentOptions(TypedDict, total=False):
    """
    The keyword options of L{proxied_agent}, which L{proxied_treq} passes on
    unchanged (for type checkers: the defaults are L{proxied_agent}'s).
    """

    contextFactory: IPolicyForHTTPS | None
    connectTimeout: float | None
    bindAddress: tuple[str, int] | None
    pool: HTTPConnectionPool | None
    crc32c: bool


@implementer(IAgentEndpointFactory)
class ProxyEndpointFactory:
    """
    Endpoints for an C{Agent}: Twisted's usual ones (TCP, with TLS for
    https), each sending C{header} first. C{header} may be a function of the
    request's URI.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        header: HeaderSource,
        *,
        contextFactory: IPolicyForHTTPS | None = None,
        connectTimeout: float | None = None,
        bindAddress: tuple[str, int] | None = None,
        crc32c: bool = False,
    ) -> None:
        if contextFactory is None:
            contextFactory = BrowserLikePolicyForHTTPS()  # type: ignore[no-untyped-call]
        self._reactor = reactor
        self._policy = contextFactory
        self._timeout = connectTimeout
        self._bind = bindAddress
        self._header = header
        self._crc32c = crc32c

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        endpoint = self._plain_endpoint(uri)
        header = self._header(uri) if callable(self._header) else self._header
        return ProxyProtocolClientEndpoint(endpoint, header, crc32c=self._crc32c)

    def _plain_endpoint(self, uri: URI) -> IStreamClientEndpoint:
        """
        The endpoint C{Agent} itself would use: TCP to the URI's host, with
        TLS for https (as Twisted's private C{_StandardEndpointFactory}).
        """
        try:
            host = nativeString(uri.host)
        except UnicodeDecodeError:
            raise ValueError(f"the host of {uri.host!r} is not ASCII") from None
        if self._timeout is None:
            endpoint = HostnameEndpoint(self._reactor, host, uri.port, bindAddress=self._bind)
        else:
            endpoint = HostnameEndpoint(
                self._reactor, host, uri.port, timeout=self._timeout, bindAddress=self._bind
            )
        if uri.scheme in (b"http", b"ws"):
            return endpoint
        if uri.scheme in (b"https", b"wss"):
            creator = self._policy.creatorForNetloc(uri.host, uri.port)
            return wrapClientTLS(creator, endpoint)
        raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")


def proxied_agent(
    reactor: IReactorTime,
    header: HeaderSource,
    *,
    contextFactory: IPolicyForHTTPS | None = None,
    connectTimeout: float | None = None,
    bindAddress: tuple[str, int] | None = None,
    pool: HTTPConnectionPool | None = None,
    crc32c: bool = False,
) -> Agent:
    """An C{Agent} whose every connection starts with C{header}."""
    factory = ProxyEndpointFactory(
        reactor,
        header,
        contextFactory=contextFactory,
        connectTimeout=connectTimeout,
        bindAddress=bindAddress,
        crc32c=crc32c,
    )
    agent: Agent = Agent.usingEndpointFactory(  # type: ignore[no-untyped-call]
        reactor, factory, pool=pool
    )
    return agent


def proxied_treq(
    reactor: IReactorTime, header: HeaderSource, **options: Unpack[AgentOptions]
) -> HTTPClient:
    """
    A C{treq.HTTPClient} whose every connection starts with C{header}: the
    agent of L{proxied_agent}, which takes the same options.
    """
    try:
        from treq.client import HTTPClient
    except ImportError:
        raise ImportError(
            "proxied_treq needs treq, which is not installed:"
            " pip install treq (or apt-get install python3-treq)"
        ) from None

    return HTTPClient(proxied_agent(reactor, header, **options))

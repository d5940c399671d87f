"""
Every private API of Twisted and of its TLS stack that pptwisted still
uses, in one place, each with its reason and why no public one serves.
C{tests/unit/test_private_apis.py} guards them: it checks each entry against
the installed Twisted, failing with the entry's name and use when one changes,
and checks that each entry is still used where it says.

The accessors below are the only code that reads Twisted's private
attributes of endpoints for L{pptwisted.endpoints._client}; the other uses stay in
their modules (named in L{PRIVATE_APIS}) and are listed here.

Replaced by public APIs: C{twisted.web.client._StandardEndpointFactory}
(L{pptwisted.http} builds C{HostnameEndpoint} + C{wrapClientTLS} itself)
and cryptography's C{ObjectIdentifier._name} (pyOpenSSL's public
C{X509.get_signature_algorithm()} gives the same OpenSSL name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import SSL4ClientEndpoint, TCP4ClientEndpoint
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint

__all__ = ["PRIVATE_APIS", "PrivateAPI", "split_client_tls"]

FactoryWrapper = Callable[[IProtocolFactory], IProtocolFactory]


@dataclass(frozen=True)
class PrivateAPI:
    """One private API we use: what, where (module and a marker), and why."""

    #: The private name, dotted, with the attributes we read.
    name: str
    #: Our module that uses it, and a string its source contains there.
    used_by: str
    marker: str
    #: What for, and why no public API does it.
    why: str


PRIVATE_APIS: tuple[PrivateAPI, ...] = (
    PrivateAPI(
        "twisted.internet.endpoints._WrapperEndpoint (._wrappedEndpoint, ._wrapperFactory)",
        "pptwisted.endpoints._twisted_private",
        "_WrapperEndpoint",
        "What wrapClientTLS (and tls: client strings) return: unwrapped so that the PROXY"
        " header is written below TLS, before the handshake (spec section 2). Twisted"
        " exposes neither the type nor the wrapped endpoint.",
    ),
    PrivateAPI(
        "twisted.internet.endpoints.SSL4ClientEndpoint (._reactor, ._host, ._port,"
        " ._timeout, ._bindAddress, ._sslContextFactory)",
        "pptwisted.endpoints._twisted_private",
        "._sslContextFactory",
        "ssl: client endpoints: rebuilt as TCP plus a TLS factory so that the header goes"
        " before the handshake. The constructor's arguments are not exposed.",
    ),
    PrivateAPI(
        "twisted.internet.endpoints.SSL4ServerEndpoint (._reactor, ._port, ._backlog,"
        " ._interface, ._sslContextFactory)",
        "pptwisted.endpoints._server",
        "._sslContextFactory",
        "proxy:ssl: listens on TCP and reads the header before the TLS layer; the"
        " constructor's arguments are not exposed.",
    ),
    PrivateAPI(
        "twisted.protocols._sni.TLSServerEndpoint (.endpoint, .connectionCreator, .clock)",
        "pptwisted.endpoints._server",
        "twisted.protocols._sni",
        "What the tls: server string and wrapServerTLS (Twisted 26.4+) return; split like"
        " ssl: so the header comes before TLS. Its type is only in a private module.",
    ),
    PrivateAPI(
        "twisted.internet.endpoints._serverParsers; plugin parsers' _actualParseStreamServer",
        "pptwisted.endpoints._server",
        "_serverParsers",
        "Best effort: name the wrapped endpoint's valid options when Twisted rejects one"
        " inside proxy: (no public list of a parser's options). Missing: the message"
        " says 'see its documentation'.",
    ),
    PrivateAPI(
        "twisted.internet.endpoints._clientParsers (and _serverParsers): Twisted's own types",
        "pptwisted.endpoints._strings",
        "_clientParsers",
        "Best effort: list the installed endpoint types when the one inside proxy: is"
        " unknown (no public list of Twisted's own). Missing: the plugins' types alone.",
    ),
    PrivateAPI(
        "twisted.protocols.haproxy._info.ProxyInfo, twisted.protocols.haproxy._interfaces"
        ".IProxyInfo",
        "pptwisted.compat",
        "twisted.protocols.haproxy._info",
        "pptwisted.compat gives code written for Twisted's haproxy: the very class and"
        " interface it knew; haproxy's __all__ exports only proxyEndpoint.",
    ),
    PrivateAPI(
        "twisted.internet.tcp.Port.transport, twisted.internet.unix.Port.transport",
        "pptwisted.stream._constructed",
        'getattr(port, "transport"',
        "The class a port builds its connections from: set to our subclasses of"
        " tcp.Server/unix.Server so the application gets a plain transport with the"
        " header's addresses (hand-over by construction). No public hook.",
    ),
    PrivateAPI(
        "twisted.internet.tcp.Server / unix.Server (.client, .hostname, .logstr, .repstr,"
        " .sessionno, .connected, .disconnecting)",
        "pptwisted.stream._constructed",
        "transport.logstr",
        "Undocumented attributes of Twisted's connection classes, set at hand-over so that"
        " repr, log prefixes and getPeer() show the client (as startTLS changes"
        " .protocol), and read to build addresses.",
    ),
)


def split_client_tls(
    endpoint: IStreamClientEndpoint,
) -> tuple[IStreamClientEndpoint, FactoryWrapper] | None:
    """
    If C{endpoint} adds a protocol layer itself (C{ssl:}, C{tls:},
    C{wrapClientTLS}), the plain endpoint under it and a function adding
    that layer to a factory; else C{None}.
    """
    if isinstance(endpoint, SSL4ClientEndpoint):
        from twisted.protocols.tls import TLSMemoryBIOFactory

        ssl: Any = endpoint
        plain = TCP4ClientEndpoint(
            ssl._reactor, ssl._host, ssl._port, ssl._timeout, ssl._bindAddress
        )
        context = ssl._sslContextFactory

        def wrap_ssl(factory: IProtocolFactory) -> IProtocolFactory:
            return TLSMemoryBIOFactory(context, True, factory)

        return plain, wrap_ssl
    from twisted.internet.endpoints import _WrapperEndpoint

    if isinstance(endpoint, _WrapperEndpoint):
        wrapped: Any = endpoint
        return wrapped._wrappedEndpoint, wrapped._wrapperFactory
    return None

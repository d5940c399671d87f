"""
Sending PROXY headers (spec section 2: the sender writes the header before
any other byte of the connection, and before a TLS handshake).

L{ProxyProtocolClientEndpoint} wraps any client endpoint; C{proxy:} is its
prefix for C{clientFromString}. (L{pptwisted.endpoints._connection_header} builds the header
that describes a live connection, for relays.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IProtocol,
    IProtocolFactory,
    IReactorCore,
    IStreamClientEndpoint,
    IStreamClientEndpointStringParserWithReactor,
    ITransport,
)
from twisted.plugin import IPlugin
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import alsoProvides, implementer

from ..codec._addresses import literal_address
from ..codec._header import ProxyHeader
from ..codec._tlv import TLV, TLVType
from ._strings import is_unknown_type, unknown_option, unknown_type_message, unparse_endpoint
from ._twisted_private import split_client_tls

__all__ = [
    "CLIENT_OPTIONS",
    "ProxyClientParser",
    "ProxyProtocolClientEndpoint",
    "header_from_options",
]


class _HeaderFirst(ProtocolWrapper):
    """Writes the header on the real transport, then connects the application."""

    def __init__(self, factory: _HeaderFirstFactory, wrappedProtocol: IProtocol) -> None:
        super().__init__(factory, wrappedProtocol)
        self._header = factory.header_bytes
        if IHalfCloseableProtocol.providedBy(wrappedProtocol):
            alsoProvides(self, IHalfCloseableProtocol)

    def makeConnection(self, transport: ITransport) -> None:
        transport.write(self._header)
        super().makeConnection(transport)  # type: ignore[no-untyped-call]

    def readConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).writeConnectionLost()


if TYPE_CHECKING:
    _HeaderFirstFactoryBase = WrappingFactory[_HeaderFirst]
else:
    # Twisted < 26.4 cannot subscript WrappingFactory at runtime.
    _HeaderFirstFactoryBase = WrappingFactory


class _HeaderFirstFactory(_HeaderFirstFactoryBase):
    protocol = _HeaderFirst

    def __init__(self, wrappedFactory: IProtocolFactory, header_bytes: bytes) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        self.header_bytes = header_bytes

    def buildProtocol(self, addr: IAddress) -> _HeaderFirst | None:  # type: ignore[override]
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return _HeaderFirst(self, wrapped)


@implementer(IStreamClientEndpoint)
class ProxyProtocolClientEndpoint:
    """
    A client endpoint that starts every connection with a PROXY header.

    The header is written before any byte of the application, even one
    written in C{connectionMade}, and before the TLS handshake when
    C{endpoint} is an C{ssl:}/C{tls:} (C{wrapClientTLS}) endpoint.

    @param header: a L{ProxyHeader}, or the exact header bytes.
    @param crc32c: add a CRC32C TLV to a v2 header.
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        header: ProxyHeader | bytes,
        *,
        crc32c: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.header = header
        self.header_bytes = header if isinstance(header, bytes) else header.to_bytes(crc32c=crc32c)

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        split = split_client_tls(self.endpoint)
        plain, layer = split if split is not None else (self.endpoint, None)
        factory = layer(protocolFactory) if layer is not None else protocolFactory
        d = plain.connect(_HeaderFirstFactory(factory, self.header_bytes))

        def unwrap(protocol: IProtocol) -> IProtocol:
            app = cast(_HeaderFirst, protocol).wrappedProtocol
            if layer is not None:
                app = app.wrappedProtocol  # type: ignore[attr-defined]
            return app

        return d.addCallback(unwrap)


# -- the proxy: prefix for clientFromString --------------------------------------

#: The header options of the C{proxy:} client prefix.
CLIENT_OPTIONS: Mapping[str, str] = {
    "proxyVersion": "1 or 2 (default 2)",
    "proxySourceHost": "source IPv4/IPv6 address (escape ':' as '\\:')",
    "proxySourcePort": "source port",
    "proxyDestHost": "destination IPv4/IPv6 address (escape ':' as '\\:')",
    "proxyDestPort": "destination port",
    "proxySourcePath": "source UNIX socket path (v2)",
    "proxyDestPath": "destination UNIX socket path (v2)",
    "proxyLocal": "yes: send LOCAL (v2) / UNKNOWN (v1), no addresses",
    "proxyAuthority": "AUTHORITY TLV (host name), v2",
    "proxyUniqueId": "UNIQUE_ID TLV, v2",
    "proxyAlpn": "ALPN TLV, e.g. h2, v2",
    "proxyCrc32c": "yes or no (default no): add a CRC32C TLV, v2",
}


def _ip_address(host: str, port: str, what: str) -> IPv4Address | IPv6Address:
    try:
        return literal_address(host, port)
    except ValueError as e:
        name = f"proxy{what}Port" if "port" in str(e) else f"proxy{what}Host"
        raise ValueError(f"{name}: {e}") from None


def _yes(name: str, value: str) -> bool:
    if value.lower() in ("yes", "true", "1", "on"):
        return True
    if value.lower() in ("no", "false", "0", "off"):
        return False
    raise ValueError(f"{name} must be yes or no, not {value!r}")


def header_from_options(options: Mapping[str, str]) -> tuple[ProxyHeader, bool]:
    """
    Build the header described by C{proxy:} client options; return it and
    whether to add a CRC32C. Raise L{ValueError} naming a bad option.
    """
    for name in options:
        if name not in CLIENT_OPTIONS:
            raise ValueError(unknown_option("proxy: client option", name, CLIENT_OPTIONS))
    version_text = options.get("proxyVersion", "2")
    if version_text not in ("1", "2"):
        raise ValueError(f"proxyVersion must be 1 or 2, not {version_text!r}")
    version = int(version_text)
    tlvs: list[TLV] = []
    for name, t in (
        ("proxyAuthority", TLVType.AUTHORITY),
        ("proxyUniqueId", TLVType.UNIQUE_ID),
        ("proxyAlpn", TLVType.ALPN),
    ):
        if name in options:
            tlvs.append(TLV(t, options[name].encode("utf-8")))
    crc = _yes("proxyCrc32c", options["proxyCrc32c"]) if "proxyCrc32c" in options else False
    if version == 1 and (tlvs or crc):
        raise ValueError(
            "TLV options (proxyAuthority, proxyUniqueId, proxyAlpn, proxyCrc32c)"
            " need proxyVersion=2"
        )
    if "proxyLocal" in options and _yes("proxyLocal", options["proxyLocal"]):
        if any(k in options for k in ("proxySourceHost", "proxyDestHost", "proxySourcePath")):
            raise ValueError("proxyLocal=yes sends no addresses: drop the address options")
        return ProxyHeader.local(version=version, tlvs=tlvs), crc
    if "proxySourcePath" in options or "proxyDestPath" in options:
        if version == 1:
            raise ValueError("UNIX addresses need proxyVersion=2")
        source = UNIXAddress(options.get("proxySourcePath", "").encode("utf-8"))
        destination = UNIXAddress(options.get("proxyDestPath", "").encode("utf-8"))
        return ProxyHeader.proxy(source, destination, version=2, tlvs=tlvs), crc
    missing = [
        k
        for k in ("proxySourceHost", "proxySourcePort", "proxyDestHost", "proxyDestPort")
        if k not in options
    ]
    if missing:
        raise ValueError(
            f"proxy: client needs {', '.join(missing)} (or proxyLocal=yes, or UNIX paths)"
        )
    src = _ip_address(options["proxySourceHost"], options["proxySourcePort"], "Source")
    dst = _ip_address(options["proxyDestHost"], options["proxyDestPort"], "Dest")
    if type(src) is not type(dst):
        raise ValueError("proxySourceHost and proxyDestHost must both be IPv4 or both IPv6")
    return ProxyHeader.proxy(src, dst, version=version, tlvs=tlvs), crc


@implementer(IPlugin, IStreamClientEndpointStringParserWithReactor)
class ProxyClientParser:
    """
    The C{proxy:} prefix for C{clientFromString}: C{proxy:<any client
    endpoint>} with the C{proxy*} header options (L{CLIENT_OPTIONS}).
    """

    prefix = "proxy"

    def parseStreamClient(
        self, reactor: IReactorCore, *args: object, **kwargs: object
    ) -> ProxyProtocolClientEndpoint:
        ours = {k: str(kwargs.pop(k)) for k in list(kwargs) if k.lower().startswith("proxy")}
        header, crc = header_from_options(ours)
        if not args:
            raise ValueError(
                "proxy: needs a client endpoint to wrap, e.g. proxy:tcp:host=h:port=80"
            )
        try:
            inner: IStreamClientEndpoint = clientFromString(  # type: ignore[no-untyped-call]
                reactor, unparse_endpoint(args, kwargs)
            )
        except ValueError as e:
            if is_unknown_type(e):
                raise ValueError(unknown_type_message("client", str(args[0]))) from None
            raise
        return ProxyProtocolClientEndpoint(inner, header, crc32c=crc)

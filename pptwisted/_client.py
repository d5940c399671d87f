"""
Sending PROXY headers (spec section 2: the sender writes the header before
any other byte of the connection, and before a TLS handshake).

L{ProxyProtocolClientEndpoint} wraps any client endpoint; C{proxy:} is its
prefix for C{clientFromString}. L{header_for_connection} describes a live
server-side connection, so that a relay forwards the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IProtocol,
    IProtocolFactory,
    IReactorCore,
    ISSLTransport,
    IStreamClientEndpoint,
    IStreamClientEndpointStringParserWithReactor,
    ITransport,
)
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import alsoProvides, implementer

from ._addresses import literal_address
from ._endpoint_strings import unparse_endpoint
from ._handover import get_proxy_header
from ._header import ProxyHeader
from ._tlv import PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, TLV, TLVType, ssl_tlv
from ._twisted_private import split_client_tls

__all__ = [
    "CLIENT_OPTIONS",
    "ProxyClientParser",
    "ProxyProtocolClientEndpoint",
    "header_for_connection",
    "header_from_options",
]

_log = Logger()


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


# -- describing a live connection -----------------------------------------------


def _tls_tlvs(transport: object) -> list[TLV]:
    """
    SSL, AUTHORITY and ALPN TLVs for a TLS transport. The SSL TLV (flags,
    version, cipher) is always there once the handshake is done; only the
    client certificate's details are best effort, and a failure to read them
    is logged, never hidden.
    """
    handle: Any = getattr(transport, "getHandle", lambda: None)()
    if handle is None or not hasattr(handle, "get_protocol_version_name"):
        return []
    if handle.get_peer_finished() is None:
        # Before the handshake completes nothing is negotiated yet.
        return []
    tlvs: list[TLV] = []
    servername = handle.get_servername()
    if servername:
        tlvs.append(TLV(TLVType.AUTHORITY, bytes(servername)))
    alpn = handle.get_alpn_proto_negotiated()
    if alpn:
        tlvs.append(TLV(TLVType.ALPN, bytes(alpn)))
    client = PP2_CLIENT_SSL
    verify = 0
    details: dict[str, Any] = {
        "version": handle.get_protocol_version_name(),
        "cipher": handle.get_cipher_name(),
    }
    certificate = handle.get_peer_certificate()
    if certificate is not None:
        client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS
        verify = 0 if handle.get_verified_chain() is not None else 1
        try:
            details.update(_certificate_details(certificate))
        except Exception as e:  # cryptography versions differ: send the rest
            _log.warn(
                "PROXY header: the client certificate's details are left out"
                " of the SSL TLV: {error!r}",
                error=e,
            )
    tlvs.append(ssl_tlv(client, verify, **details))
    return tlvs


def _certificate_details(x509: Any) -> dict[str, str | bytes]:
    """The SSL TLV's fields about a pyOpenSSL C{X509} certificate."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    certificate = x509.to_cryptography()
    details: dict[str, str | bytes] = {"client_cert": certificate.public_bytes(Encoding.DER)}
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        details["cn"] = str(names[0].value)
    # OpenSSL's long name (sha256WithRSAEncryption), pyOpenSSL's public API.
    details["sig_alg"] = x509.get_signature_algorithm().decode("ascii")
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        details["key_alg"] = f"RSA{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        details["key_alg"] = f"EC{key.curve.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        details["key_alg"] = "ED25519"
    elif isinstance(key, ed448.Ed448PublicKey):
        details["key_alg"] = "ED448"
    return details


def header_for_connection(
    transport: ITransport,
    *,
    version: int = 2,
    tlvs: Iterable[TLV] = (),
    tls: bool = True,
) -> ProxyHeader:
    """
    The header a relay sends to describe a connection it accepted:
    source and destination are C{transport.getPeer()}/C{getHost()} (already
    the client's, if the connection itself came through C{proxy:}); with
    C{tls}, a TLS connection's version, cipher, SNI, ALPN and client
    certificate become SSL, AUTHORITY and ALPN TLVs: call it once the
    handshake is complete (e.g. in C{IHandshakeListener.handshakeCompleted}),
    before that there is nothing negotiated to describe. TLVs of a header the
    connection itself received are passed on (except CRC32C), then C{tlvs}.
    A v1 header carries no TLV: the received and TLS ones are left out, and
    C{tlvs} given with C{version=1} is a L{ValueError}.
    """
    tlvs = tuple(tlvs)
    if version == 1 and tlvs:
        raise ValueError("v1 headers cannot carry TLVs: use version=2")
    source = transport.getPeer()
    destination = transport.getHost()
    extra: list[TLV] = []
    received = get_proxy_header(transport)
    if received is not None:
        extra.extend(t for t in received.tlvs if t.type != TLVType.CRC32C)
    if tls and ISSLTransport.providedBy(transport):
        known = {t.type for t in extra}
        extra.extend(t for t in _tls_tlvs(transport) if t.type not in known)
    extra.extend(tlvs)
    if version == 1:
        extra = []
    usable = isinstance(source, (IPv4Address, IPv6Address)) and type(source) is type(destination)
    if isinstance(source, UNIXAddress) and isinstance(destination, UNIXAddress) and version == 2:
        usable = source.name is not None and destination.name is not None
    if not usable:
        return ProxyHeader.local(version=version, tlvs=extra)
    if version == 1 and getattr(source, "type", "TCP") != "TCP":
        return ProxyHeader.local(version=1)
    return ProxyHeader.proxy(
        cast(IPv4Address, source), cast(IPv4Address, destination), version=version, tlvs=extra
    )


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
            valid = "; ".join(f"{k}={v}" for k, v in CLIENT_OPTIONS.items())
            raise ValueError(f"unknown proxy: client option {name!r}; valid options: {valid}")
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
        inner: IStreamClientEndpoint = clientFromString(  # type: ignore[no-untyped-call]
            reactor, unparse_endpoint(args, kwargs)
        )
        return ProxyProtocolClientEndpoint(inner, header, crc32c=crc)

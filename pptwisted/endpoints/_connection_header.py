"""
Describing a live connection as the PROXY header a relay sends for it: its
addresses, the TLVs of a header it came with, and for TLS the negotiated
facts as SSL, AUTHORITY and ALPN TLVs (spec sections 2.2.5 to 2.2.7).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import ISSLTransport, ITransport
from twisted.logger import Logger

from .._interfaces import get_proxy_header
from ..codec._header import ProxyHeader
from ..codec._tlv import (
    PP2_CLIENT_CERT_CONN,
    PP2_CLIENT_CERT_SESS,
    PP2_CLIENT_SSL,
    TLV,
    TLVType,
    ssl_tlv,
)

__all__ = ["header_for_connection"]

_log = Logger()


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

"""
TLS terminated by the proxy, as the application sees it (opt-in: the
policy's C{secure_from_header}, C{proxySecure=yes}; and C{alpn_from_header},
C{proxyALPN=yes}, for the protocol the client negotiated).

When a trusted proxy's v2 header carries an SSL TLV (spec section 2.2.5)
with the C{PP2_CLIENT_SSL} flag, the client spoke TLS to the proxy. Twisted
code asks a transport whether it is secure with C{ISSLTransport(transport,
None)} (twisted.web's C{isSecure()}, imap4 and pop3 before offering
STARTTLS). The transports of both hand-overs
(L{pptwisted.stream._constructed}, L{pptwisted.stream._relayed}) answer that
through C{__conform__} (never C{providedBy}: the bytes on this socket are
not encrypted) with a L{HeaderSSLTransport}, whose C{getPeerCertificate()}
is the client certificate the proxy verified (C{PP2_SUBTYPE_SSL_CLIENT_CERT}).

The protocol the client negotiated with the proxy (ALPN, the header's
C{PP2_TYPE_ALPN}) becomes the transport's C{negotiatedProtocol}, the
attribute a TLS transport has (C{INegotiated}): twisted.web reads it once,
on a connection's first bytes, and speaks HTTP/2 when it is C{b"h2"}
(L{negotiated_protocol}). Only the two values twisted.web knows pass: any
other makes twisted.web fail the connection.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import ISSLTransport
from zope.interface import implementer

from ..codec._header import ProxyHeader
from ..codec._tlv import PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, SSLInfo

__all__ = [
    "ALPN_PROTOCOLS",
    "HeaderSSLTransport",
    "SecureConnection",
    "conform",
    "negotiated_protocol",
    "secure_connection",
]

#: The ALPN values that become C{negotiatedProtocol}: those twisted.web
#: speaks (any other raises in its C{dataReceived}).
ALPN_PROTOCOLS = frozenset({b"h2", b"http/1.1"})

_NO_CERTIFICATE: Any = object()


class SecureConnection:
    """
    The TLS facts of one connection, from its header: the SSL record, and
    (built once, on first use) the client certificate and the
    L{ISSLTransport} view of the transport.
    """

    __slots__ = ("_certificate", "adapter", "ssl")

    def __init__(self, ssl: SSLInfo) -> None:
        self.ssl = ssl
        self._certificate: Any = _NO_CERTIFICATE
        self.adapter: HeaderSSLTransport | None = None

    def certificate(self) -> Any:
        """
        The client certificate as an C{OpenSSL.crypto.X509}, or C{None}: only
        when the proxy says the client presented one (a certificate flag) and
        it was verified (C{verify} is 0), and the record carries it (0x28).
        """
        found = self._certificate
        if found is _NO_CERTIFICATE:
            found = self._certificate = _load_certificate(self.ssl)
        return found


def _load_certificate(ssl: SSLInfo) -> Any:
    if not ssl.client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS) or ssl.verify != 0:
        return None
    der = ssl.client_cert
    if not der:
        return None
    try:
        from cryptography import x509
        from OpenSSL import crypto
    except ImportError:  # pragma: no cover - pyOpenSSL missing
        return None
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    from_cryptography = getattr(crypto.X509, "from_cryptography", None)
    if from_cryptography is not None:
        return from_cryptography(certificate)
    return crypto.load_certificate(crypto.FILETYPE_ASN1, der)  # pragma: no cover - old pyOpenSSL


def secure_connection(header: ProxyHeader | None, enabled: bool) -> SecureConnection | None:
    """
    The TLS facts to report for a connection with C{header}, or C{None} when
    the option is off, or the header has no SSL TLV with C{PP2_CLIENT_SSL}.
    """
    if not enabled or header is None:
        return None
    ssl = header.ssl
    if ssl is None or not ssl.client_ssl:
        return None
    return SecureConnection(ssl)


def negotiated_protocol(header: ProxyHeader | None) -> bytes | None:
    """
    The C{negotiatedProtocol} of a connection with C{header}: its ALPN TLV
    when that is one of L{ALPN_PROTOCOLS}, C{None} otherwise (no header, no
    TLV, another protocol).
    """
    if header is None:
        return None
    alpn = header.alpn
    return alpn if alpn in ALPN_PROTOCOLS else None


def conform(transport: object, secure: SecureConnection | None, interface: object) -> Any:
    """
    What a transport's C{__conform__} answers: for L{ISSLTransport}, the
    L{HeaderSSLTransport} of a connection whose proxy terminated TLS;
    C{None} (the usual adaptation) otherwise.
    """
    if secure is None or interface is not ISSLTransport:
        return None
    adapter = secure.adapter
    if adapter is None:
        adapter = secure.adapter = HeaderSSLTransport(transport, secure)
    return adapter


@implementer(ISSLTransport)
class HeaderSSLTransport:
    """
    The L{ISSLTransport} view of a connection whose proxy terminated TLS: the
    application's transport, plus the client certificate from the header.
    """

    __slots__ = ("_secure", "transport")

    def __init__(self, transport: object, secure: SecureConnection) -> None:
        self.transport = transport
        self._secure = secure

    @property
    def ssl(self) -> SSLInfo:
        """The header's SSL record (TLS version, cipher, SNI are in the header)."""
        return self._secure.ssl

    def getPeerCertificate(self) -> Any:
        """The client certificate (C{OpenSSL.crypto.X509}) or C{None}, as above."""
        return self._secure.certificate()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.transport, name)

    def __repr__(self) -> str:
        return f"<HeaderSSLTransport on {self.transport!r}>"

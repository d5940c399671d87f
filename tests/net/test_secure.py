"""
proxySecure / secure_from_header: a trusted proxy's SSL TLV (spec 2.2.5,
PP2_CLIENT_SSL) makes the application's transport adapt to ISSLTransport,
so that twisted.web's isSecure(), prePathURL() and redirects say https, and
getPeerCertificate() gives the client certificate of PP2_SUBTYPE_SSL_CLIENT_CERT.
Unit tests on StringTransport, then real sockets on both hand-over paths.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IPushProducer, ISSLTransport, ITransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.threads import deferToThread
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.util import redirectTo

from pptwisted import (
    ProxyHeader,
    ProxyProtocolPolicy,
    ProxyProtocolServerEndpoint,
    ProxyProtocolWrapper,
)
from pptwisted.tlv import ssl_tlv

from ..certs import make_self_signed, write_self_signed

LB = IPv4Address("TCP", "127.0.0.1", 40000)
SIG = bytes.fromhex("0d0a0d0a000d0a515549540a")
#: PROXY TCP4 192.0.2.7:4321 -> 198.51.100.1:443, the address block.
ADDRESSES = bytes([192, 0, 2, 7, 198, 51, 100, 1]) + struct.pack("!HH", 4321, 443)


def v2_with(tlvs: bytes) -> bytes:
    """A v2 PROXY TCP4 header with C{tlvs} after the address block, by hand."""
    body = ADDRESSES + tlvs
    return SIG + b"\x21\x11" + struct.pack("!H", len(body)) + body


def ssl_record(client: int, verify: int, subs: bytes = b"") -> bytes:
    """A PP2_TYPE_SSL record (0x20): client flags, verify, sub-TLVs (spec 2.2.5)."""
    value = bytes([client]) + struct.pack("!I", verify) + subs
    return b"\x20" + struct.pack("!H", len(value)) + value


def sub(t: int, value: bytes) -> bytes:
    return bytes([t]) + struct.pack("!H", len(value)) + value


#: The smallest header saying "the client used TLS": SSL record, client=0x01.
TLS_HEADER = v2_with(bytes.fromhex("20 0005 01 00000000"))
V1_HEADER = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"


def client_der() -> bytes:
    """A client certificate, DER."""
    _, pem = make_self_signed("alice")
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


class App(Protocol):
    pass


def connect(data: bytes, secure: bool = True, trusted: tuple[str, ...] = ("127.0.0.0/8",)) -> Any:
    """Feed C{data} to a wrapper over a StringTransport: the app's transport."""
    factory = Factory.forProtocol(App)
    policy = ProxyProtocolPolicy(trusted=trusted, secure_from_header=secure)
    wrapper = ProxyProtocolWrapper(factory, policy, clock=MemoryReactorClock())
    reader = wrapper.buildProtocol(LB)
    transport = StringTransport(peerAddress=LB)
    reader.makeConnection(transport)
    reader.dataReceived(data)
    app = reader.wrappedProtocol
    assert isinstance(app, App) and app.transport is not None
    return app.transport


class AdaptationTests(SynchronousTestCase):
    """When the transport adapts to ISSLTransport, and what it gives."""

    def test_client_ssl_is_secure(self) -> None:
        transport = connect(TLS_HEADER + b"GET")
        adapted = ISSLTransport(transport, None)
        self.assertIsNotNone(adapted)
        self.assertTrue(ISSLTransport.providedBy(adapted))
        # Adaptation only: the transport does not claim to be TLS.
        self.assertFalse(ISSLTransport.providedBy(transport))
        self.assertIs(ISSLTransport(transport), adapted)  # one per connection
        self.assertEqual(adapted.getPeer(), IPv4Address("TCP", "192.0.2.7", 4321))
        adapted.write(b"ok")
        self.assertEqual(transport.transport.value(), b"ok")
        self.assertIsNone(adapted.getPeerCertificate())
        self.assertTrue(adapted.ssl.client_ssl)

    def test_other_interfaces_unchanged(self) -> None:
        transport = connect(TLS_HEADER)
        self.assertIs(IPushProducer(transport), transport)
        self.assertIs(ITransport(transport), transport)

    def test_without_client_ssl_flag(self) -> None:
        """An SSL record whose client field lacks PP2_CLIENT_SSL (0x01): not secure."""
        for client in (0x00, 0x02, 0x06):
            transport = connect(v2_with(ssl_record(client, 0)))
            self.assertIsNone(ISSLTransport(transport, None), client)

    def test_without_ssl_record(self) -> None:
        for data in (v2_with(b""), v2_with(sub(0x02, b"app.example")), V1_HEADER):
            self.assertIsNone(ISSLTransport(connect(data), None), data)

    def test_option_off(self) -> None:
        transport = connect(TLS_HEADER, secure=False)
        self.assertIsNone(ISSLTransport(transport, None))

    def test_option_off_default(self) -> None:
        self.assertFalse(ProxyProtocolPolicy().secure_from_header)
        factory = Factory.forProtocol(App)
        wrapper = ProxyProtocolWrapper(factory, clock=MemoryReactorClock())
        reader = wrapper.buildProtocol(LB)
        reader.makeConnection(StringTransport(peerAddress=LB))
        reader.dataReceived(TLS_HEADER)
        assert reader.wrappedProtocol is not None
        self.assertIsNone(ISSLTransport(reader.wrappedProtocol.transport, None))

    def test_direct_connection(self) -> None:
        """Optional mode, a client without a header: not secure."""
        factory = Factory.forProtocol(App)
        policy = ProxyProtocolPolicy(
            require_header=False, trusted=("127.0.0.0/8",), secure_from_header=True
        )
        wrapper = ProxyProtocolWrapper(factory, policy, clock=MemoryReactorClock())
        reader = wrapper.buildProtocol(LB)
        reader.makeConnection(StringTransport(peerAddress=LB))
        reader.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        assert reader.wrappedProtocol is not None
        self.assertIsNone(ISSLTransport(reader.wrappedProtocol.transport, None))

    def test_untrusted_direct(self) -> None:
        """An untrusted peer served as direct never gets to claim TLS."""
        factory = Factory.forProtocol(App)
        policy = ProxyProtocolPolicy(
            trusted=("10.0.0.0/8",), untrusted="direct", secure_from_header=True
        )
        wrapper = ProxyProtocolWrapper(factory, policy, clock=MemoryReactorClock())
        reader = wrapper.buildProtocol(LB)
        reader.makeConnection(StringTransport(peerAddress=LB))
        reader.dataReceived(TLS_HEADER)
        assert reader.wrappedProtocol is not None
        self.assertIsNone(ISSLTransport(reader.wrappedProtocol.transport, None))


class CertificateTests(SynchronousTestCase):
    """getPeerCertificate(): the 0x28 sub-TLV, only when flagged and verified."""

    def certificate(self, client: int, verify: int, der: bytes | None) -> Any:
        subs = sub(0x28, der) if der is not None else b""
        adapted = ISSLTransport(connect(v2_with(ssl_record(client, verify, subs))))
        return adapted.getPeerCertificate()

    def test_verified_certificate(self) -> None:
        der = client_der()
        for client in (0x03, 0x05, 0x07):  # CLIENT_SSL + CERT_CONN and/or CERT_SESS
            found = self.certificate(client, 0, der)
            from OpenSSL import crypto

            self.assertIsInstance(found, crypto.X509)
            got = found.to_cryptography().public_bytes(serialization.Encoding.DER)
            self.assertEqual(got, der, client)

    def test_cached(self) -> None:
        der = client_der()
        transport = connect(v2_with(ssl_record(0x03, 0, sub(0x28, der))))
        adapted = ISSLTransport(transport)
        self.assertIs(adapted.getPeerCertificate(), adapted.getPeerCertificate())

    def test_not_verified(self) -> None:
        self.assertIsNone(self.certificate(0x03, 1, client_der()))

    def test_no_certificate_flag(self) -> None:
        self.assertIsNone(self.certificate(0x01, 0, client_der()))

    def test_flag_without_certificate(self) -> None:
        self.assertIsNone(self.certificate(0x03, 0, None))

    def test_garbage_certificate(self) -> None:
        self.assertIsNone(self.certificate(0x03, 0, b"\x30\x03\x02\x01\x00"))

    def test_built_by_own_client_encoder(self) -> None:
        """pptwisted's own ssl_tlv(client_cert=...) gives the same bytes as by hand."""
        der = client_der()
        record = ssl_tlv(0x03, 0, client_cert=der).to_bytes()
        self.assertEqual(record, ssl_record(0x03, 0, sub(0x28, der)))


class OptionTests(SynchronousTestCase):
    """proxySecure=yes, its requirements and its refusals."""

    def parse(self, description: str) -> Any:
        return serverFromString(reactor, "proxy:" + description)

    def test_parsed(self) -> None:
        endpoint = self.parse("tcp:0:proxySecure=yes:proxyTrusted=127.0.0.1")
        self.assertTrue(endpoint.policy.secure_from_header)
        endpoint = self.parse("tcp:0:proxySecure=no")
        self.assertFalse(endpoint.policy.secure_from_header)
        self.assertFalse(self.parse("tcp:0").policy.secure_from_header)

    def test_needs_trusted(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.parse("tcp:0:proxySecure=yes")
        self.assertIn("proxyTrusted", str(caught.exception))
        self.assertNotIn("\n", str(caught.exception))
        self.assertRaises(ValueError, ProxyProtocolPolicy, secure_from_header=True)

    def test_bad_value(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.parse("tcp:0:proxySecure=true:proxyTrusted=127.0.0.1")
        self.assertIn("'yes' or 'no'", str(caught.exception))

    def test_refused_on_ssl(self) -> None:
        directory = FilePath(self.mktemp())
        directory.makedirs()
        _, pem = write_self_signed(directory, "app.example")  # key and certificate
        description = f"ssl:0:privateKey={pem.path}:proxySecure=yes:proxyTrusted=127.0.0.1"
        with self.assertRaises(ValueError) as caught:
            serverFromString(reactor, "proxy:" + description)
        message = str(caught.exception)
        self.assertIn("ssl:/tls:", message)
        self.assertNotIn("\n", message)

    def test_refused_on_ssl_endpoint_api(self) -> None:
        from twisted.internet.endpoints import SSL4ServerEndpoint
        from twisted.internet.ssl import CertificateOptions

        ssl_endpoint = SSL4ServerEndpoint(reactor, 0, CertificateOptions())
        policy = ProxyProtocolPolicy(trusted=("127.0.0.1",), secure_from_header=True)
        self.assertRaises(ValueError, ProxyProtocolServerEndpoint, ssl_endpoint, policy)


class SideEffectTests(SynchronousTestCase):
    """What Twisted code does differently on a connection that adapts (README)."""

    def test_web_session_secure_cookie(self) -> None:
        class WithSession(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> bytes:
                request.getSession()
                return b"ok"

        for header, cookie in (
            (TLS_HEADER, b"TWISTED_SECURE_SESSION="),
            (V1_HEADER, b"TWISTED_SESSION="),
        ):
            clock = MemoryReactorClock()
            site = Site(WithSession(), reactor=clock)
            policy = ProxyProtocolPolicy(trusted=("127.0.0.0/8",), secure_from_header=True)
            reader = ProxyProtocolWrapper(site, policy, clock=clock).buildProtocol(LB)
            transport = StringTransport(peerAddress=LB)
            reader.makeConnection(transport)
            reader.dataReceived(header + b"GET / HTTP/1.0\r\nHost: app.example\r\n\r\n")
            response = transport.value()
            self.assertIn(b"\r\nSet-Cookie: " + cookie, response)
            self.assertEqual(b"; Secure" in response, cookie.startswith(b"TWISTED_SECURE"))
            for session in list(site.sessions.values()):
                session.expire()

    def test_imap4_stops_offering_starttls(self) -> None:
        from twisted.mail.imap4 import IMAP4Server

        for header, offered in ((TLS_HEADER, False), (V1_HEADER, True)):
            transport = connect(header)
            server = IMAP4Server(contextFactory=object())
            server.makeConnection(transport)
            server.canStartTLS = True  # as over a transport that could start TLS
            capabilities = server.capabilities()
            self.assertEqual(b"STARTTLS" in capabilities, offered)
            self.assertEqual(b"LOGINDISABLED" in capabilities, offered)
            server.setTimeout(None)


# -- real sockets, both hand-over paths -------------------------------------------


class Report(Resource):
    """What twisted.web makes of the connection, as JSON; /go redirects."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        if request.postpath == [b"go"]:
            return redirectTo(str(request.URLPath().sibling(b"landed")).encode(), request)
        transport = ISSLTransport(request.channel.transport, None)
        certificate = transport.getPeerCertificate() if transport is not None else None
        return json.dumps(
            {
                "secure": request.isSecure(),
                "url": request.prePathURL().decode(),
                "cn": certificate.to_cryptography().subject.rfc4514_string()
                if certificate is not None
                else None,
            }
        ).encode()


def http_exchange(port: int, header: bytes, path: str = "/") -> bytes:
    """Send C{header} and a GET for C{path}; the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = f"GET {path} HTTP/1.0\r\nHost: app.example\r\n\r\n".encode()
        sock.sendall(header + request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


def body(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


class RealSocketTests(TestCase):
    timeout = 30

    @inlineCallbacks
    def listen(self, path: str, secure: bool = True) -> Any:
        site = Site(Report())
        policy = ProxyProtocolPolicy(trusted=("127.0.0.1",), secure_from_header=secure)
        if path == "constructed":
            endpoint = ProxyProtocolServerEndpoint(
                serverFromString(reactor, "tcp:0:interface=127.0.0.1"), policy
            )
            port = yield endpoint.listen(site)
        else:
            port = reactor.listenTCP(0, ProxyProtocolWrapper(site, policy), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @inlineCallbacks
    def check_path(self, path: str) -> Any:
        port = yield self.listen(path)
        got = body((yield deferToThread(http_exchange, port, TLS_HEADER)))
        self.assertEqual(got, {"secure": True, "url": "https://app.example/", "cn": None})
        redirect = yield deferToThread(http_exchange, port, TLS_HEADER, "/go")
        self.assertIn(b"\r\nLocation: https://app.example/landed\r\n", redirect)
        plain = v2_with(b"")
        got = body((yield deferToThread(http_exchange, port, plain)))
        # Port 443 without TLS: prePathURL shows it.
        self.assertEqual(got, {"secure": False, "url": "http://app.example:443/", "cn": None})
        der = client_der()
        with_cert = v2_with(ssl_record(0x03, 0, sub(0x28, der)))
        got = body((yield deferToThread(http_exchange, port, with_cert)))
        self.assertEqual(got["cn"], "CN=alice")
        unverified = v2_with(ssl_record(0x03, 2, sub(0x28, der)))
        got = body((yield deferToThread(http_exchange, port, unverified)))
        self.assertEqual((got["secure"], got["cn"]), (True, None))

    def test_constructed(self) -> Any:
        return self.check_path("constructed")

    def test_relayed(self) -> Any:
        return self.check_path("relayed")

    @inlineCallbacks
    def test_off(self) -> Any:
        for path in ("constructed", "relayed"):
            port = yield self.listen(path, secure=False)
            got = body((yield deferToThread(http_exchange, port, TLS_HEADER)))
            self.assertEqual(got, {"secure": False, "url": "http://app.example:443/", "cn": None})

    @inlineCallbacks
    def test_own_client_header(self) -> Any:
        """The header pptwisted's own encoder builds, certificate included."""
        port = yield self.listen("constructed")
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.7", 4321),
            IPv4Address("TCP", "198.51.100.1", 443),
            tlvs=[ssl_tlv(0x03, 0, version="TLSv1.3", client_cert=client_der())],
        )
        got = body((yield deferToThread(http_exchange, port, header.to_bytes(crc32c=True))))
        self.assertEqual(got, {"secure": True, "url": "https://app.example/", "cn": "CN=alice"})

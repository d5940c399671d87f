"""
Sending PROXY headers over real loopback sockets: round trips through the
C{proxy:} client and server prefixes (TLS included), and treq/Agent over
HTTP and HTTPS.
"""

from __future__ import annotations

import json
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    serverFromString,
    wrapClientTLS,
)
from twisted.internet.interfaces import IHandshakeListener, IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    PrivateCertificate,
    optionsForClientTLS,
)
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.resource import Resource

try:
    from twisted.internet.endpoints import wrapServerTLS
except ImportError:  # Twisted < 26.4
    pass
from twisted.web.server import Request, Site
from zope.interface import implementer

from pptwisted import (
    TLV,
    ProxyHeader,
    ProxyProtocolClientEndpoint,
    ProxyProtocolServerEndpoint,
    get_proxy_header,
    header_for_connection,
)
from pptwisted.http import proxied_agent, proxied_treq

from ..certs import key_and_certificate, make_self_signed, write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT, skipIf
from ..unit.test_client import CLIENT, DEST


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


@implementer(IHandshakeListener)
class Reporter(Protocol):
    """Writes what it learnt about its TLS connection as JSON, then closes."""

    def handshakeCompleted(self) -> None:
        assert self.transport is not None
        header = get_proxy_header(self.transport)
        relay = header_for_connection(self.transport)
        ssl = relay.ssl
        peer = self.transport.getPeer()
        assert isinstance(peer, IPv4Address)
        report = {
            "peer": [peer.host, peer.port],
            "version": header.version if header else None,
            "tls": ssl.version if ssl else None,
            "cipher": ssl.cipher if ssl else None,
            "cn": ssl.cn if ssl else None,
            "client_cert": ssl.client_cert_conn if ssl else None,
            "key_alg": ssl.key_alg if ssl else None,
            "sig_alg": ssl.sig_alg if ssl else None,
            "authority": relay.authority,
        }
        self.transport.write(json.dumps(report).encode() + b"\n")
        self.transport.loseConnection()


class Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object = None) -> None:
        self.done.callback(self.data)


class RoundTripTests(TestCase):
    """Real loopback connections from our client endpoint to our server."""

    def setUp(self) -> None:
        directory = FilePath(self.mktemp())
        directory.makedirs()
        self.key, self.cert = write_self_signed(directory, "localhost")
        self.cert_pem = self.cert.getContent()

    @inlineCallbacks
    def listen(self, description: str, factory: Factory) -> Any:
        port: IListeningPort = yield serverFromString(reactor, description).listen(factory)
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @skipIf(NEEDS_TLS_ENDPOINT)
    @inlineCallbacks
    def test_tls_with_client_certificate(self):  # type: ignore[no-untyped-def]
        """Header before TLS; the server sees the client, and TLS details for a relay."""
        client_key, client_cert = make_self_signed("client")
        client = PrivateCertificate.loadPEM(client_cert + client_key)
        server_key, server_cert = key_and_certificate(self.key.getContent(), self.cert.getContent())
        server_options = CertificateOptions(
            privateKey=server_key,
            certificate=server_cert,
            verify=True,
            caCerts=[client.original],
            requireCertificate=True,
        )
        server_endpoint = ProxyProtocolServerEndpoint(
            wrapServerTLS(server_options, TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"))
        )
        port = yield server_endpoint.listen(Factory.forProtocol(Reporter))
        self.addCleanup(port.stopListening)
        client_options = optionsForClientTLS(
            "localhost", trustRoot=Certificate.loadPEM(self.cert_pem), clientCertificate=client
        )
        endpoint = ProxyProtocolClientEndpoint(
            wrapClientTLS(
                client_options, HostnameEndpoint(reactor, "127.0.0.1", port.getHost().port)
            ),
            ProxyHeader.proxy(
                IPv4Address("TCP", "203.0.113.5", 999), IPv4Address("TCP", "203.0.113.1", 443)
            ),
        )
        collect = Collect()
        yield endpoint.connect(Factory.forProtocol(lambda: collect))
        raw = yield collect.done.addTimeout(10, reactor)
        report = json.loads(raw)
        self.assertEqual(report["peer"], ["203.0.113.5", 999])
        self.assertEqual(report["version"], 2)
        self.assertTrue(report["tls"].startswith("TLSv1"), report)
        self.assertTrue(report["cipher"], report)
        self.assertEqual(report["cn"], "client")
        self.assertTrue(report["client_cert"])
        self.assertEqual(report["key_alg"], "EC256")
        self.assertEqual(report["sig_alg"], "ecdsa-with-SHA256")
        self.assertEqual(report["authority"], "localhost")

    @inlineCallbacks
    def test_echo_megabyte_v1(self):  # type: ignore[no-untyped-def]
        port = yield self.listen("proxy:tcp:0:interface=127.0.0.1", Factory.forProtocol(Echo))
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port),
            ProxyHeader.proxy(CLIENT, DEST, version=1),
        )
        payload = bytes(range(256)) * 4096
        received = Deferred()

        class Sender(Protocol):
            data = b""

            def connectionMade(self) -> None:
                assert self.transport is not None
                self.transport.write(payload)

            def dataReceived(self, data: bytes) -> None:
                self.data += data
                if len(self.data) >= len(payload):
                    assert self.transport is not None
                    self.transport.loseConnection()
                    received.callback(self.data)

        yield endpoint.connect(Factory.forProtocol(Sender))
        echoed = yield received.addTimeout(20, reactor)
        self.assertEqual(echoed, payload)


class ClientAddress(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        header = get_proxy_header(request)
        return json.dumps(
            {
                "client": request.getClientAddress().host,  # type: ignore[attr-defined]
                "authority": header.authority if header else None,
            }
        ).encode()


class HTTPClientTests(TestCase):
    """treq and Agent carry the header, over HTTP and HTTPS."""

    @inlineCallbacks
    def serve(self, description: str) -> Any:
        port = yield serverFromString(reactor, description).listen(Site(ClientAddress()))
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @inlineCallbacks
    def test_treq_http(self):  # type: ignore[no-untyped-def]
        port = yield self.serve("proxy:tcp:0:interface=127.0.0.1")
        header = ProxyHeader.proxy(CLIENT, DEST, tlvs=[TLV(2, b"example.org")])
        client = proxied_treq(reactor, header)
        response = yield client.get(f"http://127.0.0.1:{port}/").addTimeout(10, reactor)
        body = yield treq.json_content(response)
        self.assertEqual(body, {"client": "192.0.2.7", "authority": "example.org"})

    @inlineCallbacks
    def test_treq_https(self):  # type: ignore[no-untyped-def]
        directory = FilePath(self.mktemp())
        directory.makedirs()
        key, cert = write_self_signed(directory, "localhost")
        port = yield self.serve(
            f"proxy:ssl:0:interface=127.0.0.1:privateKey={key.path}:certKey={cert.path}"
        )
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(cert.getContent()))
        client = proxied_treq(
            reactor, ProxyHeader.proxy(CLIENT, DEST, version=1), contextFactory=policy
        )
        response = yield client.get(f"https://localhost:{port}/").addTimeout(10, reactor)
        body = yield treq.json_content(response)
        self.assertEqual(body["client"], "192.0.2.7")

    @inlineCallbacks
    def test_agent_header_per_uri(self):  # type: ignore[no-untyped-def]
        port = yield self.serve("proxy:tcp:0:interface=127.0.0.1")
        seen: list[bytes] = []

        def header_for(uri: Any) -> ProxyHeader:
            seen.append(uri.path)
            return ProxyHeader.proxy(IPv4Address("TCP", "192.0.2.99", 1), DEST)

        agent = proxied_agent(reactor, header_for)
        response = yield agent.request(b"GET", f"http://127.0.0.1:{port}/x".encode())
        body = yield treq.json_content(response)
        self.assertEqual(body["client"], "192.0.2.99")
        self.assertEqual(seen, [b"/x"])

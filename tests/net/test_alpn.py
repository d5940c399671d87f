"""
proxyALPN / alpn_from_header (issue 21): a trusted proxy's ALPN TLV (spec
2.2.1, PP2_TYPE_ALPN, 0x01) is the application's transport's
C{negotiatedProtocol} when it is C{h2} or C{http/1.1}, so that twisted.web
speaks HTTP/2 behind a load balancer that terminates TLS in TCP mode. Unit
tests with exact bytes on StringTransport, then twisted.web over HTTP/2 on
real sockets, on both hand-over paths. (Behind real HAProxy and curl:
tests/interop/test_http2.py.)
"""

from __future__ import annotations

import json
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.threads import deferToThread
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from pptwisted import (
    ProxyHeader,
    ProxyProtocolPolicy,
    ProxyProtocolServerEndpoint,
    ProxyProtocolWrapper,
    get_proxy_header,
)
from pptwisted.tlv import TLV

from ..certs import write_self_signed
from ..helpers import tlv
from .test_secure import LB, V1_HEADER, v2_with

#: What HAProxy sends with proxy-v2-options ssl after curl --http2 (TLV 0x01 "h2").
ALPN_H2 = bytes.fromhex("01 0002 6832")
#: ... and after curl --http1.1 (TLV 0x01 "http/1.1").
ALPN_H11 = bytes.fromhex("01 0008 687474702f312e31")
#: The client's side used TLS (PP2_TYPE_SSL, client=PP2_CLIENT_SSL, verify=0).
SSL = bytes.fromhex("20 0005 01 00000000")
#: The HTTP/2 connection preface (RFC 9113 section 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Recorder(Protocol):
    """Records C{negotiatedProtocol} as the application sees it at each event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def connectionMade(self) -> None:
        self.seen.append(("connectionMade", self.negotiated()))

    def dataReceived(self, data: bytes) -> None:
        self.seen.append((data.decode("latin-1"), self.negotiated()))

    def negotiated(self) -> object:
        return getattr(self.transport, "negotiatedProtocol", "absent")


def connect(
    data: bytes,
    alpn_on: bool = True,
    transport: StringTransport | None = None,
    **policy: Any,
) -> Recorder:
    """Feed C{data} to a wrapper over a StringTransport (the relayed path)."""
    policy.setdefault("trusted", ("127.0.0.0/8",))
    wrapper = ProxyProtocolWrapper(
        Factory.forProtocol(Recorder),
        ProxyProtocolPolicy(alpn_from_header=alpn_on, **policy),
        clock=MemoryReactorClock(),
    )
    reader = wrapper.buildProtocol(LB)
    reader.makeConnection(transport if transport is not None else StringTransport(peerAddress=LB))
    reader.dataReceived(data)
    app = reader.wrappedProtocol
    assert isinstance(app, Recorder), app
    return app


class NegotiatedProtocolTests(SynchronousTestCase):
    """What C{negotiatedProtocol} is, from the exact bytes of a header."""

    def test_h2(self) -> None:
        """Set before connectionMade, so also for the bytes that came with the header."""
        app = connect(v2_with(ALPN_H2 + SSL) + b"PRI")
        self.assertEqual(app.seen, [("connectionMade", b"h2"), ("PRI", b"h2")])

    def test_http11(self) -> None:
        app = connect(v2_with(ALPN_H11) + b"GET")
        self.assertEqual(app.seen, [("connectionMade", b"http/1.1"), ("GET", b"http/1.1")])

    def test_other_values_are_none(self) -> None:
        """twisted.web raises on any other value: only h2 and http/1.1 pass."""
        for value in (b"h3", b"H2", b"http/1.0", b"spdy/3.1", b"h2c", b"", b"h2\x00"):
            app = connect(v2_with(tlv(0x01, value)))
            self.assertEqual(app.seen, [("connectionMade", None)], value)

    def test_first_of_two(self) -> None:
        """Two ALPN records (HAProxy sends one): the first is the header's ALPN."""
        app = connect(v2_with(ALPN_H11 + ALPN_H2))
        self.assertEqual(app.seen, [("connectionMade", b"http/1.1")])

    def test_absent(self) -> None:
        for data in (v2_with(b""), v2_with(SSL), V1_HEADER):
            self.assertEqual(connect(data).seen, [("connectionMade", None)], data)

    def test_option_off(self) -> None:
        """Off (the default): the transport has no negotiatedProtocol of its own."""
        self.assertFalse(ProxyProtocolPolicy().alpn_from_header)
        app = connect(v2_with(ALPN_H2), alpn_on=False)
        self.assertEqual(app.seen, [("connectionMade", "absent")])

    def test_option_off_passes_the_real_transports(self) -> None:
        """Off, over a transport that negotiated ALPN itself (TLS around the reader)."""
        real = StringTransport(peerAddress=LB)
        real.negotiatedProtocol = b"h2"  # type: ignore[attr-defined]
        app = connect(v2_with(ALPN_H11), alpn_on=False, transport=real)
        self.assertEqual(app.seen, [("connectionMade", b"h2")])
        # On, the header's: the proxy terminated the client's TLS.
        app = connect(v2_with(ALPN_H11), transport=real)
        self.assertEqual(app.seen, [("connectionMade", b"http/1.1")])

    def test_direct_connection(self) -> None:
        """Optional mode, a client without a header: no protocol was negotiated."""
        app = connect(b"GET / HTTP/1.0\r\n\r\n", require_header=False)
        self.assertEqual(app.seen[0], ("connectionMade", None))

    def test_untrusted_direct(self) -> None:
        """An untrusted peer served as direct never chooses the protocol."""
        app = connect(v2_with(ALPN_H2), trusted=("10.0.0.0/8",), untrusted="direct")
        self.assertEqual(app.seen[0], ("connectionMade", None))

    def test_own_encoder(self) -> None:
        """pptwisted's own client encoder writes the bytes HAProxy sends."""
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.7", 4321),
            IPv4Address("TCP", "198.51.100.1", 443),
            tlvs=[TLV(0x01, b"h2")],
        )
        self.assertEqual(header.to_bytes(), v2_with(ALPN_H2))
        self.assertEqual(connect(header.to_bytes()).seen, [("connectionMade", b"h2")])


class OptionTests(SynchronousTestCase):
    """proxyALPN=yes, its requirements and its refusals."""

    def parse(self, description: str) -> Any:
        return serverFromString(reactor, "proxy:" + description)

    def test_parsed(self) -> None:
        endpoint = self.parse("tcp:0:proxyALPN=yes:proxyTrusted=127.0.0.1")
        self.assertTrue(endpoint.policy.alpn_from_header)
        self.assertFalse(self.parse("tcp:0:proxyALPN=no").policy.alpn_from_header)
        self.assertFalse(self.parse("tcp:0").policy.alpn_from_header)

    def test_needs_trusted(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.parse("tcp:0:proxyALPN=yes")
        message = str(caught.exception)
        self.assertIn("proxyALPN=yes", message)
        self.assertIn("proxyTrusted", message)
        self.assertNotIn("\n", message)
        self.assertRaises(ValueError, ProxyProtocolPolicy, alpn_from_header=True)

    def test_bad_value(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.parse("tcp:0:proxyALPN=h2:proxyTrusted=127.0.0.1")
        self.assertIn("'yes' or 'no'", str(caught.exception))

    def test_misspelt(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.parse("tcp:0:proxyAlpn=yes:proxyTrusted=127.0.0.1")
        self.assertIn("did you mean proxyALPN?", str(caught.exception))

    def test_refused_on_ssl(self) -> None:
        """proxy:ssl: negotiates ALPN in its own TLS: the header's would lie."""
        directory = FilePath(self.mktemp())
        directory.makedirs()
        _, pem = write_self_signed(directory, "app.example")  # key and certificate
        with self.assertRaises(ValueError) as caught:
            self.parse(f"ssl:0:privateKey={pem.path}:proxyALPN=yes:proxyTrusted=127.0.0.1")
        message = str(caught.exception)
        self.assertIn("proxyALPN=yes", message)
        self.assertIn("ssl:/tls:", message)
        self.assertNotIn("\n", message)

    def test_refused_on_ssl_endpoint_api(self) -> None:
        from twisted.internet.endpoints import SSL4ServerEndpoint
        from twisted.internet.ssl import CertificateOptions

        ssl_endpoint = SSL4ServerEndpoint(reactor, 0, CertificateOptions())
        policy = ProxyProtocolPolicy(trusted=("127.0.0.1",), alpn_from_header=True)
        self.assertRaises(ValueError, ProxyProtocolServerEndpoint, ssl_endpoint, policy)

    def test_web_without_http2(self) -> None:
        """A twisted.web site that cannot speak HTTP/2: listen fails, naming the fix."""
        self.patch(http, "H2_ENABLED", False)
        endpoint = self.parse("tcp:0:interface=127.0.0.1:proxyALPN=yes:proxyTrusted=127.0.0.1")
        failure = self.failureResultOf(endpoint.listen(Site(Resource())), ValueError)
        self.assertIn("pip install 'pptwisted[http2]'", str(failure.value))
        # Another protocol reads negotiatedProtocol as it likes: it listens.
        port = self.successResultOf(endpoint.listen(Factory.forProtocol(Protocol)))
        port.stopListening()


# -- twisted.web over HTTP/2 on real sockets, both hand-over paths -------------


class Report(Resource):
    """What twisted.web saw of the request, as JSON."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        client = request.getClientAddress()
        assert isinstance(client, IPv4Address)
        # An HTTP/2 request has no transport of its own: found through its stream.
        header = get_proxy_header(request)
        return json.dumps(
            {
                "client": [client.host, client.port],
                "alpn": header.alpn.decode() if header is not None and header.alpn else None,
                "proto": request.clientproto.decode(),
                "secure": request.isSecure(),
                "path": request.path.decode(),
            }
        ).encode()


def h2_exchange(port: int, header: bytes, paths: list[str]) -> list[Any]:
    """
    Send C{header}, then GETs for C{paths} multiplexed on one HTTP/2
    connection (with the h2 library, as a client over TLS would after the
    proxy); the JSON bodies in the order of C{paths}.
    """
    import h2.config
    import h2.connection
    import h2.events

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    streams = {}
    for path in paths:
        stream = client.get_next_available_stream_id()
        streams[stream] = path
        client.send_headers(
            stream,
            [(":method", "GET"), (":path", path), (":scheme", "https"), (":authority", "app")],
            end_stream=True,
        )
    bodies: dict[int, bytes] = {s: b"" for s in streams}
    done: set[int] = set()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(header + client.data_to_send())
        for _ in range(1000):
            if done == set(streams):
                break
            data = sock.recv(65536)
            if not data:
                break
            for event in client.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    done.add(event.stream_id)
            sock.sendall(client.data_to_send())
    assert done == set(streams), (done, streams)
    return [json.loads(bodies[s]) for s in sorted(streams)]


def http11_exchange(port: int, header: bytes) -> Any:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(header + b"GET /one HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


#: What every request of the header above sees: the header's client, over TLS.
CLIENT = {"client": ["192.0.2.7", 4321], "secure": True}


class HTTP2Tests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        if not http.H2_ENABLED:
            raise self.skipTest("twisted.web has no HTTP/2 here: pip install '.[http2]'")

    @inlineCallbacks
    def listen(self, path: str, alpn_on: bool = True) -> Any:
        site = Site(Report())
        policy = ProxyProtocolPolicy(
            trusted=("127.0.0.1",), alpn_from_header=alpn_on, secure_from_header=True
        )
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
        paths = ["/one", "/two", "/three"]
        got = yield deferToThread(h2_exchange, port, v2_with(ALPN_H2 + SSL), paths)
        for body, expected in zip(got, paths, strict=True):
            self.assertEqual(body, dict(CLIENT, proto="HTTP/2", alpn="h2", path=expected))
        got = yield deferToThread(http11_exchange, port, v2_with(ALPN_H11 + SSL))
        self.assertEqual(got, dict(CLIENT, proto="HTTP/1.1", alpn="http/1.1", path="/one"))

    def test_constructed(self) -> Any:
        return self.check_path("constructed")

    def test_relayed(self) -> Any:
        return self.check_path("relayed")

    @inlineCallbacks
    def test_off(self) -> Any:
        """
        Without the option the preface reaches the HTTP/1.1 parser, which
        answers in text with an error and closes (400 on Twisted 24.11 and
        later; 405 for the method "PRI" on 24.3 and before), not with HTTP/2
        frames.
        """
        for path in ("constructed", "relayed"):
            port = yield self.listen(path, alpn_on=False)

            def exchange(port: int = port) -> bytes:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(v2_with(ALPN_H2) + PREFACE)
                    response = b""
                    while chunk := sock.recv(65536):
                        response += chunk
                return response

            response = yield deferToThread(exchange)
            self.assertRegex(response[:80], rb"^HTTP/[12]\.[01] 4(00|05) ")

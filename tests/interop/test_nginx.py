"""
pptwisted with Debian's nginx 1.22: the stream module with proxy_protocol on
in front of a proxy:tcp server (v1 headers), and nginx's own
C{listen ... proxy_protocol} receiving the headers pptwisted's client sends.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.threads import deferToThread

from pptwisted.codec import Command

from .clients import answers_to_our_headers, read_report
from .harness import CLIENT_HOST, InteropTestCase, require_address, require_nginx_stream
from .servers import ReportFactory


class NginxStreamTests(InteropTestCase):
    def setUp(self) -> None:
        require_nginx_stream()
        require_address(CLIENT_HOST)

    async def test_stream_proxy_protocol_v1(self) -> None:
        """nginx stream, proxy_protocol on: getPeer() is the client, getHost() nginx's listener."""
        factory = ReportFactory()
        port, endpoint = await self.listen("proxy:tcp:0:interface=127.0.0.1", factory)
        _, frontend = await self.on_free_frontend(
            self.nginx,
            "nginx-stream.conf",
            backend=f"127.0.0.1:{port}",
        )
        report, (_, client_port) = await deferToThread(read_report, frontend)
        client = IPv4Address("TCP", CLIENT_HOST, client_port)
        self.assertEqual(factory.addresses, [client])
        self.assertEqual(factory.peers, [client])
        self.assertEqual(factory.hosts, [IPv4Address("TCP", "127.0.0.1", frontend)])
        header = factory.headers[0]
        assert header is not None
        self.assertEqual((header.version, header.command), (1, Command.PROXY))
        self.assertEqual(report["real_peer"]["host"], "127.0.0.1")
        self.assertEqual(endpoint.stats.accepted, 1)
        self.assertEqual(dict(endpoint.stats.rejected), {})


class NginxReceiverTests(InteropTestCase):
    """nginx's listen ... proxy_protocol receiving the headers pptwisted sends."""

    async def test_nginx_accepts_pptwisted_headers(self) -> None:
        require_nginx_stream()
        _, frontend = await self.on_free_frontend(
            self.nginx,
            "nginx-accept-proxy.conf",
        )
        await answers_to_our_headers(self, frontend)

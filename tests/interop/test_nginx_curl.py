"""
pptwisted with nginx and curl: nginx's stream module sending v1 headers to
proxy:tcp, curl --haproxy-protocol straight to a proxy:tcp twisted.web
server, and the other direction: HAProxy (accept-proxy) and nginx
(listen ... proxy_protocol) receiving the headers pptwisted's client sends.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from pptwisted import TLV, ProxyHeader
from pptwisted.http import proxied_treq

from .harness import free_port, render, require, start_haproxy, start_nginx
from .servers import ReportFactory, listen, web_site
from .test_haproxy import CLIENT_HOST, tcp_exchange

CLAIMED = IPv4Address("TCP", "203.0.113.9", 4321)


class NginxStreamTests(TestCase):
    timeout = 60

    async def test_stream_proxy_protocol_v1(self) -> None:
        factory = ReportFactory()
        port, endpoint = await listen("proxy:tcp:0:interface=127.0.0.1", factory, self.addCleanup)
        frontend = free_port()
        body = render(
            "nginx-stream.conf",
            {"frontend": f"127.0.0.1:{frontend}", "backend": f"127.0.0.1:{port.getHost().port}"},
        )
        managed, _ = await deferToThread(start_nginx, body, [("127.0.0.1", frontend)])
        self.addCleanup(managed.stop)
        report, local = await deferToThread(tcp_exchange, frontend)
        self.assertEqual(report["peer"], {"type": "TCP", "host": CLIENT_HOST, "port": local[1]})
        self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": frontend})
        self.assertEqual(report["proxy"]["version"], 1)
        self.assertEqual(dict(endpoint.stats.rejected), {})


class CurlTests(TestCase):
    timeout = 60

    async def test_haproxy_protocol_to_twisted_web(self) -> None:
        curl = require("curl")
        port, _ = await listen("proxy:tcp:0:interface=127.0.0.1", web_site(), self.addCleanup)
        result = await deferToThread(
            subprocess.run,
            [
                curl,
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--haproxy-protocol",
                "--interface",
                CLIENT_HOST,
                f"http://127.0.0.1:{port.getHost().port}/",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["client_address"]["host"], CLIENT_HOST)
        self.assertEqual(report["proxy"]["version"], 1)


class ReceiverTests(TestCase):
    """Real receivers of the header pptwisted's client endpoint sends."""

    timeout = 60

    async def fetch(self, port: int, version: int) -> str:
        header = ProxyHeader.proxy(
            CLAIMED,
            IPv4Address("TCP", "127.0.0.1", port),
            version=version,
            tlvs=[TLV(0x02, b"receiver.example")] if version == 2 else (),
        )
        client = proxied_treq(reactor, header)
        response: Any = await client.get(f"http://127.0.0.1:{port}/").addTimeout(10, reactor)
        self.assertEqual(response.code, 200)
        body: bytes = await treq.content(response)
        return body.decode()

    async def test_haproxy_accept_proxy(self) -> None:
        require("haproxy")
        frontend = free_port()
        config = render("haproxy-accept-proxy.cfg", {"frontend": f"127.0.0.1:{frontend}"})
        managed, _ = await deferToThread(start_haproxy, config, [("127.0.0.1", frontend)])
        self.addCleanup(managed.stop)
        for version in (1, 2):
            self.assertEqual(await self.fetch(frontend, version), "203.0.113.9:4321")

    async def test_nginx_proxy_protocol(self) -> None:
        frontend = free_port()
        body = render("nginx-accept-proxy.conf", {"frontend": f"127.0.0.1:{frontend}"})
        managed, _ = await deferToThread(start_nginx, body, [("127.0.0.1", frontend)])
        self.addCleanup(managed.stop)
        for version in (1, 2):
            self.assertEqual(await self.fetch(frontend, version), "203.0.113.9:4321")

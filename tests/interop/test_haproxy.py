"""
pptwisted behind a real HAProxy (Debian's haproxy 2.6): v1 and v2, TCP and
HTTP mode, TLS termination with every TLV option, TLS passthrough to
proxy:ssl, health checks carrying the header, and an IPv6 client.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import time
from typing import Any

from twisted.internet.threads import deferToThread
from twisted.logger import LogEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from ..certs import make_self_signed
from .harness import free_port, render, require, start_haproxy, temp_dir
from .servers import ReportFactory, listen, web_site

CLIENT_HOST = "127.0.0.2"


def tcp_exchange(
    port: int, host: str = "127.0.0.1", source: str = CLIENT_HOST
) -> tuple[Any, tuple[str, int]]:
    """Connect from C{source}, read the server's JSON report to the end."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect((host, port))
        local = sock.getsockname()[:2]
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data), local


def http_get(port: int, source: str = CLIENT_HOST) -> tuple[int, Any, tuple[str, int]]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        local = connection.sock.getsockname()[:2] if connection.sock else ("", 0)
        return response.status, json.loads(body), local
    finally:
        connection.close()


class HAProxyTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        require("haproxy")

    async def haproxy(self, template: str, wait: list[tuple[str, int]], **values: object) -> Any:
        config = render(template, values)
        managed, _ = await deferToThread(start_haproxy, config, wait)
        self.addCleanup(managed.stop)
        return managed

    async def check_tcp_mode(self, send_proxy: str, version: int) -> None:
        factory = ReportFactory()
        port, endpoint = await listen("proxy:tcp:0:interface=127.0.0.1", factory, self.addCleanup)
        frontend = free_port()
        await self.haproxy(
            "haproxy-send-proxy.cfg",
            [("127.0.0.1", frontend)],
            mode="tcp",
            frontend=f"127.0.0.1:{frontend}",
            backend=f"127.0.0.1:{port.getHost().port}",
            send_proxy=send_proxy,
        )
        report, local = await deferToThread(tcp_exchange, frontend)
        client = {"type": "TCP", "host": local[0], "port": local[1]}
        self.assertEqual(local[0], CLIENT_HOST)
        self.assertEqual(report["build_address"], client)
        self.assertEqual(report["peer"], client)
        self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": frontend})
        self.assertEqual(report["proxy"]["version"], version)
        self.assertEqual(report["real_peer"]["host"], "127.0.0.1")
        self.assertEqual(dict(endpoint.stats.rejected), {})

    async def test_send_proxy_v1_tcp(self) -> None:
        await self.check_tcp_mode("send-proxy", 1)

    async def test_send_proxy_v2_tcp(self) -> None:
        await self.check_tcp_mode("send-proxy-v2", 2)

    async def check_http_mode(self, send_proxy: str, version: int) -> None:
        port, _ = await listen("proxy:tcp:0:interface=127.0.0.1", web_site(), self.addCleanup)
        frontend = free_port()
        await self.haproxy(
            "haproxy-send-proxy.cfg",
            [("127.0.0.1", frontend)],
            mode="http",
            frontend=f"127.0.0.1:{frontend}",
            backend=f"127.0.0.1:{port.getHost().port}",
            send_proxy=send_proxy,
        )
        status, report, local = await deferToThread(http_get, frontend)
        client = {"type": "TCP", "host": local[0], "port": local[1]}
        self.assertEqual(status, 200)
        self.assertEqual(report["client_address"], client)
        self.assertEqual(report["peer"], client)
        self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": frontend})
        self.assertEqual(report["proxy"]["version"], version)

    async def test_send_proxy_v1_http(self) -> None:
        await self.check_http_mode("send-proxy", 1)

    async def test_send_proxy_v2_http(self) -> None:
        await self.check_http_mode("send-proxy-v2", 2)

    async def test_ipv6_client(self) -> None:
        """A client on ::1 through HAProxy ends up as an IPv6Address."""
        factory = ReportFactory()
        port, _ = await listen("proxy:tcp:0:interface=127.0.0.1", factory, self.addCleanup)
        frontend = free_port("::1")
        await self.haproxy(
            "haproxy-send-proxy.cfg",
            [("::1", frontend)],
            mode="tcp",
            frontend=f"[::1]:{frontend}",
            backend=f"127.0.0.1:{port.getHost().port}",
            send_proxy="send-proxy-v2",
        )
        report, local = await deferToThread(tcp_exchange, frontend, "::1", "::1")
        self.assertEqual(report["peer"], {"type": "TCP", "host": "::1", "port": local[1]})
        self.assertEqual(report["host"], {"type": "TCP", "host": "::1", "port": frontend})
        self.assertEqual(report["proxy"]["family"], "INET6")

    async def test_tls_termination_with_tlvs(self) -> None:
        """HAProxy terminates TLS and passes every detail as TLVs, with a CRC32C."""
        directory = temp_dir()
        server_key, server_cert = make_self_signed("app.example")
        (directory / "server.pem").write_bytes(server_cert + server_key)
        client_key, client_cert = make_self_signed("alice")
        (directory / "client-ca.pem").write_bytes(client_cert)
        (directory / "client.pem").write_bytes(client_cert + client_key)
        (directory / "server-cert.pem").write_bytes(server_cert)
        factory = ReportFactory()
        port, _ = await listen("proxy:tcp:0:interface=127.0.0.1", factory, self.addCleanup)
        frontend = free_port()
        await self.haproxy(
            "haproxy-tls-tlvs.cfg",
            [("127.0.0.1", frontend)],
            frontend=f"127.0.0.1:{frontend}",
            certificate=directory / "server.pem",
            client_ca=directory / "client-ca.pem",
            backend=f"127.0.0.1:{port.getHost().port}",
        )

        def tls_client() -> tuple[Any, tuple[str, int], str]:
            context = ssl.create_default_context(cafile=str(directory / "server-cert.pem"))
            context.load_cert_chain(str(directory / "client.pem"))
            with socket.socket() as raw:
                raw.settimeout(10)
                raw.bind((CLIENT_HOST, 0))
                raw.connect(("127.0.0.1", frontend))
                local = raw.getsockname()
                with context.wrap_socket(raw, server_hostname="app.example") as tls:
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
                    cipher = tls.cipher()[0]
            return json.loads(data), local, cipher

        report, local, cipher = await deferToThread(tls_client)
        self.assertEqual(report["peer"], {"type": "TCP", "host": local[0], "port": local[1]})
        decoded = report["proxy"]["decoded"]
        self.assertEqual(decoded["authority"], "app.example")
        self.assertTrue(decoded["unique_id"], decoded)
        self.assertTrue(decoded["crc32c"].endswith("(verified)"))
        details = decoded["ssl"]
        self.assertTrue(details["client_ssl"])
        self.assertTrue(details["client_cert_conn"])
        self.assertTrue(details["verified"])
        self.assertEqual(details["version"], "TLSv1.3")
        self.assertEqual(details["cipher"], cipher)
        self.assertEqual(details["cn"], "alice")
        self.assertIn("SHA256", details["sig_alg"].upper())
        self.assertTrue(details["key_alg"].startswith("EC"), details)

    async def test_tls_passthrough_with_curl(self) -> None:
        """HAProxy in TCP mode before proxy:ssl; curl over HTTPS sees its own address."""
        curl = require("curl")
        directory = temp_dir()
        key, cert = make_self_signed("localhost")
        (directory / "key.pem").write_bytes(key)
        (directory / "cert.pem").write_bytes(cert)
        port, _ = await listen(
            f"proxy:ssl:0:interface=127.0.0.1:privateKey={directory / 'key.pem'}"
            f":certKey={directory / 'cert.pem'}",
            web_site(),
            self.addCleanup,
        )
        frontend = free_port()
        await self.haproxy(
            "haproxy-tls-passthrough.cfg",
            [("127.0.0.1", frontend)],
            frontend=f"127.0.0.1:{frontend}",
            backend=f"127.0.0.1:{port.getHost().port}",
        )
        result = await deferToThread(
            subprocess.run,
            [
                curl,
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--interface",
                CLIENT_HOST,
                "--cacert",
                str(directory / "cert.pem"),
                "--resolve",
                f"localhost:{frontend}:127.0.0.1",
                f"https://localhost:{frontend}/",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["client_address"]["host"], CLIENT_HOST)
        self.assertEqual(report["proxy"]["version"], 2)

    async def test_health_checks(self) -> None:
        """Checks with the header are served, not logged as rejections."""
        events: list[LogEvent] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        v2, v1 = ReportFactory(), ReportFactory()
        port2, endpoint2 = await listen("proxy:tcp:0:interface=127.0.0.1", v2, self.addCleanup)
        port1, endpoint1 = await listen("proxy:tcp:0:interface=127.0.0.1", v1, self.addCleanup)
        frontend = free_port()
        await self.haproxy(
            "haproxy-health-checks.cfg",
            [("127.0.0.1", frontend)],
            frontend=f"127.0.0.1:{frontend}",
            backend1=f"127.0.0.1:{port2.getHost().port}",
            backend2=f"127.0.0.1:{port1.getHost().port}",
        )
        deadline = time.monotonic() + 10
        while (len(v2.reports) < 3 or len(v1.reports) < 3) and time.monotonic() < deadline:
            await deferToThread(time.sleep, 0.1)
        self.assertGreaterEqual(len(v2.reports), 3)
        self.assertGreaterEqual(len(v1.reports), 3)
        self.assertEqual(v2.reports[0]["proxy"]["command"], "LOCAL")
        self.assertEqual(v1.reports[0]["proxy"]["version"], 1)
        for endpoint in (endpoint1, endpoint2):
            self.assertEqual(dict(endpoint.stats.rejected), {})
            self.assertEqual(endpoint.stats.timed_out, 0)
        self.assertEqual([e for e in events if e.get("log_namespace") == "pptwisted"], [])

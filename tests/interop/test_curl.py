"""
curl --haproxy-protocol (a v1 header with curl's own addresses) straight to
a twisted.web server on proxy:tcp.
"""

from __future__ import annotations

import json

from .harness import CLIENT_HOST, InteropTestCase, require_address, require_binary
from .servers import web_site

#: What curl prints after the body: the address and port it connected from.
WRITE_OUT = "\n%{local_ip} %{local_port}"


class CurlTests(InteropTestCase):
    def setUp(self) -> None:
        self.curl = require_binary("curl")

    async def fetch(self, host: str, source: str) -> None:
        interface = host.replace(":", "\\:")
        port, endpoint = await self.listen(f"proxy:tcp:0:interface={interface}", web_site())
        url_host = f"[{host}]" if ":" in host else host
        result = await self.run_client(
            [
                self.curl,
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--haproxy-protocol",
                "--interface",
                source,
                "--write-out",
                WRITE_OUT,
                f"http://{url_host}:{port}/",
            ]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        body, written = result.stdout.rsplit("\n", 1)
        local_ip, local_port = written.split()
        report = json.loads(body)
        client = {"type": "TCP", "host": local_ip, "port": int(local_port)}
        self.assertEqual(local_ip, source)
        self.assertEqual(report["client_address"], client)
        self.assertEqual(report["peer"], client)
        self.assertEqual(report["host"], {"type": "TCP", "host": host, "port": port})
        self.assertEqual(report["proxy"]["version"], 1)
        self.assertEqual(report["proxy"]["family"], "INET6" if ":" in host else "INET")
        self.assertEqual(endpoint.stats.accepted, 1)
        self.assertEqual(dict(endpoint.stats.rejected), {})

    async def test_haproxy_protocol_ipv4(self) -> None:
        """curl --haproxy-protocol from 127.0.0.2: twisted.web sees curl's address and port."""
        require_address(CLIENT_HOST)
        await self.fetch("127.0.0.1", CLIENT_HOST)

    async def test_haproxy_protocol_ipv6(self) -> None:
        """The same over ::1 (a TCP6 line): an IPv6 client address."""
        require_address("::1")
        await self.fetch("::1", "::1")

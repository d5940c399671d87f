"""
proxySecure=yes behind a real HAProxy (Debian's 2.6) terminating TLS with
C{send-proxy-v2 proxy-v2-options ssl} (examples/haproxy-tls-secure.cfg):
twisted.web's isSecure(), prePathURL() and redirects say https; the plain
frontend sending to the same server, and a server without the option, stay
http. HAProxy 2.6 cannot send the client certificate (0x28): that part is
tested with pptwisted's own client in tests/test_secure.py.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

from twisted.internet.threads import deferToThread
from twisted.web.server import Site

from ..net.test_secure import Report
from .clients import TIMEOUT
from .harness import (
    CLIENT_HOST,
    InteropTestCase,
    require_address,
    require_binary,
)


def get(port: int, path: str, cafile: str | None) -> tuple[int, dict[str, str], bytes]:
    """GET C{path} from CLIENT_HOST, over TLS when C{cafile} is given."""
    connection: http.client.HTTPConnection
    if cafile is not None:
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=TIMEOUT, source_address=(CLIENT_HOST, 0), context=context
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=TIMEOUT, source_address=(CLIENT_HOST, 0)
        )
    try:
        connection.request("GET", path, headers={"Host": "app.example"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class HAProxySecureTests(InteropTestCase):
    def setUp(self) -> None:
        require_binary("haproxy")
        require_address(CLIENT_HOST)

    async def test_tls_termination_is_secure(self) -> None:
        secure_port, secure = await self.listen(
            "proxy:tcp:0:interface=127.0.0.1:proxySecure=yes:proxyTrusted=127.0.0.1",
            Site(Report()),
        )
        other_port, other = await self.listen(
            "proxy:tcp:0:interface=127.0.0.1:proxyTrusted=127.0.0.1", Site(Report())
        )
        cafile, tls_frontend, plain_frontend, other_frontend = await self.tls_terminating_haproxy(
            secure_port, other_port
        )

        async def report(port: int, tls: bool) -> Any:
            status, _, data = await deferToThread(get, port, "/", cafile if tls else None)
            self.assertEqual(status, 200)
            return json.loads(data)

        # The frontend's port is the header's destination, hence in the URL.
        self.assertEqual(
            await report(tls_frontend, True),
            {"secure": True, "url": f"https://app.example:{tls_frontend}/", "cn": None},
        )
        status, headers, _ = await deferToThread(get, tls_frontend, "/go", cafile)
        self.assertEqual(
            (status, headers["Location"]), (302, f"https://app.example:{tls_frontend}/landed")
        )
        self.assertEqual(
            await report(plain_frontend, False),
            {"secure": False, "url": f"http://app.example:{plain_frontend}/", "cn": None},
        )
        status, headers, _ = await deferToThread(get, plain_frontend, "/go", None)
        self.assertEqual(headers["Location"], f"http://app.example:{plain_frontend}/landed")
        self.assertEqual(
            await report(other_frontend, True),
            {"secure": False, "url": f"http://app.example:{other_frontend}/", "cn": None},
        )
        self.assertEqual(secure.stats.accepted, 4)
        self.assertEqual(other.stats.accepted, 1)
        self.assertEqual(dict(secure.stats.rejected), {})

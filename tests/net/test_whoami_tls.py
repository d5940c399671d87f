"""
C{twist proxy-whoami} over C{proxy:ssl:} and C{proxy:tls:} answers TLS
clients whatever ALPN they offer: curl (h2 and http/1.1 by default, or
none), and a client offering only a non-HTTP protocol.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess

from twisted.internet import reactor, threads
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from pptwisted.tools.whoami import WhoamiFactory

from ..certs import write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT
from ..interop.harness import require_binary

HEADER = b"PROXY TCP4 203.0.113.9 192.0.2.1 4321 443\r\n"


def python_client(port: int, alpn: list[str] | None) -> tuple[str | None, bytes]:
    """Send the header, then TLS offering C{alpn}; the protocol chosen and the reply."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(HEADER)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            chosen = tls.selected_alpn_protocol()
            tls.sendall(b"hello\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    return chosen, reply


class _WhoamiTLSMixin:
    timeout = 60

    def description(self, directory: FilePath[str]) -> str:
        raise NotImplementedError

    async def listen(self) -> int:
        directory = FilePath(self.mktemp())
        directory.makedirs()
        write_self_signed(directory, "localhost")
        endpoint = serverFromString(reactor, self.description(directory))
        port: IListeningPort = await endpoint.listen(WhoamiFactory())
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[attr-defined, no-any-return]

    async def curl(self, *options: str) -> dict[str, object]:
        curl = require_binary("curl")
        port = await self.listen()
        url = f"https://127.0.0.1:{port}/?format=json"
        command = [curl, "-sS", "-k", "--max-time", "10", "--haproxy-protocol", *options, url]
        result = await threads.deferToThread(
            subprocess.run, command, capture_output=True, text=True, timeout=30
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        report: dict[str, object] = json.loads(result.stdout)
        return report

    def assert_client(self, report: dict[str, object]) -> None:
        self.assertIn("127.0.0.1", json.dumps(report))

    async def test_curl_default_alpn(self) -> None:
        """curl offers h2 and http/1.1: whoami chooses http/1.1 and answers."""
        self.assert_client(await self.curl())

    async def test_curl_http11(self) -> None:
        self.assert_client(await self.curl("--http1.1"))

    async def test_curl_no_alpn(self) -> None:
        self.assert_client(await self.curl("--no-alpn"))

    async def test_python_client_alpn(self) -> None:
        port = await self.listen()
        for offered, expected in (
            (["h2", "http/1.1"], "http/1.1"),
            (None, None),
            (["imap"], "imap"),
        ):
            chosen, reply = await threads.deferToThread(python_client, port, offered)
            self.assertEqual(chosen, expected, offered)
            self.assertIn(b"203.0.113.9", reply, offered)


class SSLTests(_WhoamiTLSMixin, TestCase):
    def description(self, directory: FilePath[str]) -> str:
        key = quoteStringArgument(directory.child("localhost.key").path)
        cert = quoteStringArgument(directory.child("localhost.pem").path)
        return f"proxy:ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"


class TLSTests(_WhoamiTLSMixin, TestCase):
    skip = NEEDS_TLS_ENDPOINT

    def description(self, directory: FilePath[str]) -> str:
        return f"proxy:tls:{quoteStringArgument(directory.path)}:port=0:interface=127.0.0.1"

"""
Tests for C{twist proxy-whoami}: what it answers for v1, v2 with TLVs, LOCAL
and direct connections, to HTTP and non-HTTP clients.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import TLV, ProxyHeader, ProxyProtocolPolicy, ProxyProtocolWrapper
from pptwisted.tlv import aws_vpce_tlv, azure_link_id_tlv, gcp_psc_tlv, ssl_tlv
from pptwisted.tools.whoami import Options, WhoamiFactory

LB = IPv4Address("TCP", "10.0.0.9", 40000)
SELF = IPv4Address("TCP", "10.0.0.1", 8080)
CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)
V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"


def converse(sent: bytes, policy: ProxyProtocolPolicy | None = None, wait: float = 0) -> bytes:
    """Send C{sent} to whoami behind the wrapper; return what it answered."""
    clock = MemoryReactorClock()
    wrapper = ProxyProtocolWrapper(WhoamiFactory(clock), policy, clock=clock)
    transport = StringTransport(peerAddress=LB, hostAddress=SELF)
    protocol = wrapper.buildProtocol(LB)
    protocol.makeConnection(transport)
    protocol.dataReceived(sent)
    if wait:
        clock.advance(wait)
    return transport.value()


def http_body(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


class WhoamiTests(SynchronousTestCase):
    def test_http_text_v1(self) -> None:
        answer = converse(V1 + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = http_body(answer)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertIn(b"Content-Type: text/plain; charset=utf-8", head)
        self.assertIn(f"Content-Length: {len(body)}".encode(), head)
        text = body.decode()
        self.assertIn("client (getPeer): 192.0.2.7:4321 (TCP)", text)
        self.assertIn("server (getHost): 198.51.100.1:443 (TCP)", text)
        self.assertIn("real peer:        10.0.0.9:40000 (TCP)", text)
        self.assertIn("PROXY header:     v1 PROXY INET STREAM", text)

    def json_report(self, sent: bytes, policy: ProxyProtocolPolicy | None = None) -> Any:
        answer = converse(sent + b"GET /?format=json HTTP/1.1\r\nHost: x\r\n\r\n", policy)
        head, body = http_body(answer)
        self.assertIn(b"Content-Type: application/json", head)
        return json.loads(body)

    def test_json_v2_with_tlvs(self) -> None:
        tlvs = [
            TLV(0x01, b"h2"),
            TLV(0x02, b"example.com"),
            TLV(0x05, b"req-1"),
            ssl_tlv(version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", cn="alice"),
            aws_vpce_tlv("vpce-0123abcd"),
            azure_link_id_tlv(0x01020304),
            gcp_psc_tlv(123456789),
            TLV(0xE5, b"\x00\xff"),
        ]
        header = ProxyHeader.proxy(CLIENT, DEST, tlvs=tlvs)
        report = self.json_report(header.to_bytes(crc32c=True))
        self.assertEqual(report["peer"], {"type": "TCP", "host": "192.0.2.7", "port": 4321})
        self.assertEqual(report["real_peer"], {"type": "TCP", "host": "10.0.0.9", "port": 40000})
        proxy = report["proxy"]
        self.assertEqual((proxy["version"], proxy["command"]), (2, "PROXY"))
        decoded = proxy["decoded"]
        self.assertEqual(decoded["alpn"], "h2")
        self.assertEqual(decoded["authority"], "example.com")
        self.assertEqual(decoded["unique_id"], "req-1")
        self.assertEqual(decoded["aws_vpce_id"], "vpce-0123abcd")
        self.assertEqual(decoded["azure_link_id"], 0x01020304)
        self.assertEqual(decoded["gcp_psc_connection_id"], 123456789)
        self.assertTrue(decoded["crc32c"].endswith("(verified)"))
        self.assertEqual(decoded["ssl"]["version"], "TLSv1.3")
        self.assertEqual(decoded["ssl"]["cn"], "alice")
        self.assertTrue(decoded["ssl"]["client_ssl"])
        names = [t["name"] for t in proxy["tlvs"]]
        self.assertEqual(
            names,
            ["ALPN", "AUTHORITY", "UNIQUE_ID", "SSL", "AWS", "AZURE", "GCP", "CUSTOM", "CRC32C"],
        )
        self.assertEqual(proxy["tlvs"][7]["hex"], "00ff")

    def test_accept_header_json(self) -> None:
        answer = converse(V1 + b"GET / HTTP/1.1\r\nAccept: application/json\r\n\r\n")
        _, body = http_body(answer)
        self.assertEqual(json.loads(body)["proxy"]["version"], 1)

    def test_local(self) -> None:
        report = self.json_report(ProxyHeader.local().to_bytes())
        self.assertEqual(report["proxy"]["command"], "LOCAL")
        self.assertTrue(report["proxy"]["uses_real_addresses"])
        self.assertEqual(report["peer"], report["real_peer"])

    def test_unknown_v1(self) -> None:
        report = self.json_report(b"PROXY UNKNOWN\r\n")
        self.assertEqual(report["proxy"]["command"], "UNKNOWN")

    def test_direct(self) -> None:
        policy = ProxyProtocolPolicy(require_header=False)
        report = self.json_report(b"", policy)
        self.assertIsNone(report["proxy"])
        answer = converse(b"GET / HTTP/1.0\r\n\r\n", policy)
        self.assertIn(b"PROXY header:     none (direct connection)", answer)

    def test_head(self) -> None:
        answer = converse(V1 + b"HEAD / HTTP/1.1\r\n\r\n")
        head, body = http_body(answer)
        self.assertIn(b"200 OK", head)
        self.assertEqual(body, b"")

    def test_non_http_line(self) -> None:
        answer = converse(V1 + b"hello there\r\n")
        self.assertTrue(answer.startswith(b"client (getPeer): 192.0.2.7:4321 (TCP)\n"), answer)

    def test_silent_client(self) -> None:
        self.assertEqual(converse(V1), b"")
        answer = converse(V1, wait=0.5)
        self.assertIn(b"PROXY header:     v1 PROXY INET STREAM", answer)

    def test_default_listen(self) -> None:
        options = Options()
        options.parseOptions([])
        self.assertEqual(options["listen"], "proxy:tcp:8080")

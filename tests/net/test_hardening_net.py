"""
The hardening options over real sockets (issue 12, issue 13 items 2 and 3):
C{proxyMaxTLVs}, C{proxyRequireCrc32c}, C{proxyMaxPending} and the policy's
C{check}, each seen by a client on loopback and in a scrape of
L{pptwisted.metrics} (rejections by rule, pending, evicted, header delay).
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from pptwisted import ProxyHeader, ProxyProtocolPolicy, ProxyProtocolServerEndpoint
from pptwisted.metrics import metrics_resource
from pptwisted.tlv import aws_vpce_tlv

from ..helpers import inet4, seal_crc32c, tlv, v2
from .test_metrics import _exchange, samples

V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
ADDRESSES = inet4("192.0.2.7", "198.51.100.1", 4321, 443)
V2_THREE_TLVS = v2(
    0x21, 0x11, ADDRESSES + tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0x04, b"")
)
V2_CRC = seal_crc32c(v2(0x21, 0x11, ADDRESSES + tlv(0x03, b"\0\0\0\0")), 16 + 12 + 3)


class _Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)
        self.transport.loseConnection()


def _hold(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


class NetTests(TestCase):
    timeout = 60

    async def listen(self, description: str) -> tuple[int, ProxyProtocolServerEndpoint]:
        endpoint = serverFromString(reactor, description)
        assert isinstance(endpoint, ProxyProtocolServerEndpoint)
        port = await endpoint.listen(Factory.forProtocol(_Echo))
        self.addCleanup(port.stopListening)
        number: int = port.getHost().port
        return number, endpoint

    async def scrape(self) -> str:
        root = Resource()
        root.putChild(b"metrics", metrics_resource())
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(Site(root))
        self.addCleanup(port.stopListening)
        request = b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        answer: bytes = await deferToThread(_exchange, port.getHost().port, request)
        return answer.partition(b"\r\n\r\n")[2].decode()

    async def exchange(self, port: int, data: bytes) -> bytes:
        result: bytes = await deferToThread(_exchange, port, data)
        return result

    async def until(self, predicate: Any, what: str) -> None:
        for _ in range(400):
            if predicate():
                return
            await deferLater(reactor, 0.025, lambda: None)
        self.fail(f"timed out waiting for {what}")

    async def test_tlv_cap_and_crc32c(self) -> None:
        port, _ = await self.listen(
            "proxy:tcp:0:interface=127.0.0.1:proxyMaxTLVs=2:proxyRequireCrc32c=yes"
            ":proxyName=hardening-codec"
        )
        self.assertEqual(await self.exchange(port, V2_THREE_TLVS + b"x"), b"")
        self.assertEqual(await self.exchange(port, V2_CRC + b"ping"), b"ping")
        # Without CRC32C (and under the TLV cap): rejected too.
        no_crc = v2(0x21, 0x11, ADDRESSES + tlv(0x01, b"h2"))
        self.assertEqual(await self.exchange(port, no_crc + b"x"), b"")
        # v1 headers carry no checksum and are not affected.
        self.assertEqual(await self.exchange(port, V1 + b"ping"), b"ping")
        got = samples(await self.scrape(), "hardening-codec")
        rule = 'pptwisted_rejections_total{{listener="hardening-codec",rule="{}"}}'
        self.assertEqual(got[rule.format("v2-too-many-tlvs")], 1)
        self.assertEqual(got[rule.format("v2-crc32c-required")], 1)
        self.assertEqual(got['pptwisted_header_delay_seconds_count{listener="hardening-codec"}'], 2)

    async def test_pending_and_evicted(self) -> None:
        port, endpoint = await self.listen(
            "proxy:tcp:0:interface=127.0.0.1:proxyMaxPending=2:proxyName=hardening-cap"
        )
        held: list[socket.socket] = []
        self.addCleanup(lambda: [s.close() for s in held])
        for _ in range(2):
            held.append(await deferToThread(_hold, port, b"PROXY "))
        await self.until(lambda: endpoint.stats.pending == 2, "2 pending")
        got = samples(await self.scrape(), "hardening-cap")
        self.assertEqual(got['pptwisted_pending_connections{listener="hardening-cap"}'], 2)
        held.append(await deferToThread(_hold, port, b"PROXY "))
        await self.until(lambda: endpoint.stats.evicted == 1, "an eviction")
        # The oldest was closed. A good client is served: while it waits
        # for its header it is the newest of three, and evicts the next.
        self.assertEqual(await deferToThread(held[0].recv, 10), b"")
        self.assertEqual(await self.exchange(port, V1 + b"ping"), b"ping")
        self.assertEqual(await deferToThread(held[1].recv, 10), b"")
        got = samples(await self.scrape(), "hardening-cap")
        total = 'pptwisted_connections_total{{listener="hardening-cap",outcome="{}"}}'
        self.assertEqual(got[total.format("evicted")], 2)
        self.assertEqual(got[total.format("accepted")], 1)
        self.assertEqual(got[total.format("lost")], 0)
        self.assertEqual(got['pptwisted_pending_connections{listener="hardening-cap"}'], 1)
        for s in held:
            s.close()
        await self.until(lambda: endpoint.stats.pending == 0, "0 pending")
        self.assertEqual(endpoint.stats.lost, 1)

    async def test_check_vpce(self) -> None:
        """Only the allowed VPC endpoint gets through; the rest under rule policy."""
        seen: list[Any] = []

        def check(header: ProxyHeader | None, peer: Any) -> Deferred[bool]:
            seen.append(peer)
            allowed = header is not None and header.aws_vpce_id == "vpce-0a1b2c3d4e5f6a7b8"
            return deferLater(reactor, 0.01, lambda: allowed)

        policy = ProxyProtocolPolicy(check=check, name="hardening-check")
        endpoint = ProxyProtocolServerEndpoint(
            TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), policy
        )
        listening = await endpoint.listen(Factory.forProtocol(_Echo))
        self.addCleanup(listening.stopListening)
        port = listening.getHost().port

        def header(vpce: str) -> bytes:
            return ProxyHeader.proxy(
                IPv4Address("TCP", "192.0.2.7", 4321),
                IPv4Address("TCP", "198.51.100.1", 443),
                tlvs=[aws_vpce_tlv(vpce)],
            ).to_bytes()

        self.assertEqual(
            await self.exchange(port, header("vpce-0a1b2c3d4e5f6a7b8") + b"ping"), b"ping"
        )
        self.assertEqual(await self.exchange(port, header("vpce-ffffffffffffffff0") + b"x"), b"")
        self.assertEqual(await self.exchange(port, V1 + b"x"), b"")
        self.assertEqual(seen[0].host, "127.0.0.1")
        got = samples(await self.scrape(), "hardening-check")
        rule = 'pptwisted_rejections_total{listener="hardening-check",rule="policy"}'
        self.assertEqual(got[rule], 2)
        self.assertEqual(endpoint.stats.accepted, 1)

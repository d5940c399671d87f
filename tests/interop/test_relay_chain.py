"""
A chain of proxies: pptwisted's client endpoint sends a v2 header with TLVs
and a CRC32C to C{twist proxy-relay} listening on C{proxy:}, which passes
the client's address and the TLVs its rules keep on to HAProxy
(C{accept-proxy}). HAProxy checks the CRC32C (a stale one resets the
connection) and answers with what it learnt: C{fc_pp_authority} and
C{fc_pp_unique_id} (HAProxy 2.6 has no C{fc_pp_tlv}).
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from pptwisted import TLV, ProxyHeader, ProxyProtocolClientEndpoint
from pptwisted.tools.relay import RelayFactory

from .harness import (
    REPO,
    HAProxy,
    InteropTestCase,
    Managed,
    on_free_port,
    require_binary,
    start_haproxy,
)

HAPROXY_CONFIG = """\
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend www
    bind 127.0.0.1:{port} accept-proxy
    http-request return status 200 content-type text/plain \
lf-string "%[src]:%[src_port] authority=%[fc_pp_authority] unique_id=%[fc_pp_unique_id]"
"""

CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)
TLVS = [TLV(0x02, b"example.com"), TLV(0x05, b"req-1"), TLV(0xE5, b"x")]


class _Request(Protocol):
    """Sends an HTTP/1.0 GET, collects the answer until the server closes."""

    def __init__(self, done: Deferred[bytes]) -> None:
        self.done = done
        self.received = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.done.callback(self.received)


class RelayChainTests(InteropTestCase):
    async def start_haproxy(self) -> int:
        require_binary("haproxy")

        async def start(port: int) -> HAProxy:
            directory = self.make_directory()
            managed: HAProxy = await deferToThread(
                start_haproxy, HAPROXY_CONFIG.format(port=port), [("127.0.0.1", port)], directory
            )
            self.addCleanup(deferToThread, managed.stop)
            return managed

        _, port = await on_free_port(start)
        return port

    async def ask(self, relay_port: int) -> str:
        """What HAProxy answers the client through the relay (the HTTP body)."""
        header = ProxyHeader.proxy(CLIENT, DEST, tlvs=TLVS)
        endpoint = ProxyProtocolClientEndpoint(
            TCP4ClientEndpoint(reactor, "127.0.0.1", relay_port), header, crc32c=True
        )
        done: Deferred[bytes] = Deferred()
        await endpoint.connect(Factory.forProtocol(lambda: _Request(done)))
        answer = await done
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head)
        return body.decode()

    async def test_tlvs_passed_on(self) -> None:
        """Every TLV passes; the CRC32C is computed afresh, so HAProxy accepts it."""
        haproxy = await self.start_haproxy()
        relay = RelayFactory(TCP4ClientEndpoint(reactor, "127.0.0.1", haproxy))
        port = await serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(relay)
        self.addCleanup(port.stopListening)
        body = await self.ask(port.getHost().port)
        self.assertEqual(body, "192.0.2.7:4321 authority=example.com unique_id=req-1")

    async def test_twist_proxy_relay_rules(self) -> None:
        """C{twist proxy-relay --drop-tlv unique_id --set-tlv authority=...} as a process."""
        haproxy = await self.start_haproxy()
        argv = [
            sys.executable,
            "-m",
            "twisted",
            "proxy-relay",
            *("--listen", "proxy:tcp:0:interface=127.0.0.1"),
            *("--connect", f"tcp:host=127.0.0.1:port={haproxy}"),
            *("--drop-tlv", "unique_id", "--set-tlv", "authority=relay.example"),
        ]
        relay = Managed(
            argv, self.make_directory(), "relay", cwd=REPO, env={"PYTHONUNBUFFERED": "1"}
        )
        self.addCleanup(deferToThread, relay.stop)
        relay_port = await deferToThread(relay.logged_port)
        body = await self.ask(relay_port)
        self.assertEqual(body, "192.0.2.7:4321 authority=relay.example unique_id=")

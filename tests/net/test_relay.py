"""
Tests for C{twist proxy-relay}: the target sees the original client, data
flows both ways intact, half-close is passed on, and a slow reader does not
make the relay buffer without bound.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from twisted.internet import reactor, threads
from twisted.internet.address import IPv4Address
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface import implementer

from pptwisted import TLV, ProxyHeader, get_proxy_header
from pptwisted.tools.relay import Options, RelayFactory, TLVRules, parse_tlv_type

from ..compat import Started, twist_command, twist_env
from ..helpers import inet4, seal_crc32c, tlv, v2

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@implementer(IHalfCloseableProtocol)
class Target(Protocol):
    """
    Records the client it sees; sends C{factory.send} bytes, hashes what it
    receives, and answers C{"bye"} plus a digest when the client half-closes.
    """

    factory: TargetFactory

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.digest = hashlib.sha256()
        self.count = 0
        self.factory.peers.append(self.transport.getPeer())
        self.factory.headers.append(get_proxy_header(self.transport))
        if self.factory.send:
            self.transport.write(self.factory.send)

    def dataReceived(self, data: bytes) -> None:
        self.digest.update(data)
        self.count += len(data)

    def readConnectionLost(self) -> None:
        assert self.transport is not None
        self.transport.write(b"bye " + self.digest.hexdigest().encode() + b" %d" % self.count)
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


class TargetFactory(Factory):
    protocol = Target

    def __init__(self, send: bytes = b"") -> None:
        self.send = send
        self.peers: list[Any] = []
        self.headers: list[Any] = []


def exchange(port: int, payload: bytes, expect: int) -> tuple[bytes, tuple[str, int]]:
    """
    Blocking client (run in a thread): send C{payload} while reading, then
    half-close and read to EOF.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    local = sock.getsockname()
    received = bytearray()

    def reader() -> None:
        while True:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                return
            received.extend(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the relay may already have closed (target down)
    thread.join(60)
    sock.close()
    return bytes(received), local


class RelayTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def start(self, send: bytes, version: int = 2) -> Any:
        target = TargetFactory(send)
        target_port = yield serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            target
        )
        self.addCleanup(target_port.stopListening)
        relay = RelayFactory(
            TCP4ClientEndpoint(reactor, "127.0.0.1", target_port.getHost().port), version=version
        )
        relay_port = yield serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(relay)
        self.addCleanup(relay_port.stopListening)
        return target, relay_port.getHost().port

    @inlineCallbacks
    def test_ten_mebibytes_each_way(self):  # type: ignore[no-untyped-def]
        down = os.urandom(10 * MiB)
        up = os.urandom(10 * MiB)
        target, port = yield self.start(down)
        received, local = yield threads.deferToThread(exchange, port, up, len(down))
        self.assertEqual(target.peers, [IPv4Address("TCP", local[0], local[1])])
        self.assertEqual(received[: len(down)], down)
        trailer = received[len(down) :].decode()
        self.assertEqual(trailer, f"bye {hashlib.sha256(up).hexdigest()} {len(up)}")

    @inlineCallbacks
    def test_v1_header(self):  # type: ignore[no-untyped-def]
        target, port = yield self.start(b"", version=1)
        received, local = yield threads.deferToThread(exchange, port, b"ping", 0)
        self.assertEqual(target.headers[0].version, 1)
        self.assertEqual(target.peers, [IPv4Address("TCP", local[0], local[1])])
        self.assertTrue(received.startswith(b"bye "))

    @inlineCallbacks
    def test_target_down(self):  # type: ignore[no-untyped-def]
        """A target that refuses connections: the client is closed, not left hanging."""
        # Bound, never listening, held to the end: connections are refused
        # and no other process can take the port meanwhile.
        probe = socket.socket()
        self.addCleanup(probe.close)
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        relay = RelayFactory(TCP4ClientEndpoint(reactor, "127.0.0.1", dead))
        relay_port = yield serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(relay)
        self.addCleanup(relay_port.stopListening)
        received, _ = yield threads.deferToThread(exchange, relay_port.getHost().port, b"hello", 0)
        self.assertEqual(received, b"")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class SlowReaderTests(TestCase):
    """A relay process between a fast sender and a stalled reader stays small."""

    timeout = 120

    @inlineCallbacks
    def test_memory_bounded(self):  # type: ignore[no-untyped-def]
        if not Path("/proc/self/status").exists():
            raise SkipTest("reads the relay's RSS from /proc/PID/status, which this platform lacks")
        size = 96 * MiB
        target = TargetFactory(b"x" * size)
        target_port = yield serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            target
        )
        self.addCleanup(target_port.stopListening)
        relay = Started(
            [
                *twist_command(),
                "proxy-relay",
                "--listen",
                "tcp:0:interface=127.0.0.1",
                "--connect",
                f"tcp:host=127.0.0.1:port={target_port.getHost().port}",
            ],
            cwd=REPO,
            env=twist_env({"PYTHONUNBUFFERED": "1"}),
        )
        self.addCleanup(relay.stop)
        process = relay.process
        relay_port = yield threads.deferToThread(relay.port)

        def slow_client() -> tuple[int, int, int]:
            with socket.create_connection(("127.0.0.1", relay_port), timeout=30) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                baseline = rss_kib(process.pid)
                peak = baseline
                # Read nothing for a while: the target keeps pushing.
                for _ in range(30):
                    time.sleep(0.1)
                    peak = max(peak, rss_kib(process.pid))
                total = 0
                while total < size:
                    chunk = sock.recv(1024 * 1024)
                    if not chunk:
                        break
                    total += len(chunk)
                return baseline, peak, total

        baseline, peak, total = yield threads.deferToThread(slow_client)
        self.assertEqual(total, size)
        # Without flow control the relay would hold most of the 96 MiB.
        self.assertLess(peak - baseline, 16 * 1024, (baseline, peak))


class OptionsTests(SynchronousTestCase):
    def test_parse(self) -> None:
        options = Options()
        options.parseOptions(
            ["--listen", "tcp:9000", "--connect", "tcp:host=h:port=1", "--tlv", "authority=x"]
        )
        self.assertEqual(options["header-version"], 2)
        self.assertEqual(options["tlv"][0].value, b"x")

    def test_errors(self) -> None:
        base = ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1"]
        for argv in (
            ["--listen", "tcp:1"],
            [*base, "--header-version", "3"],
            [*base, "--header-version", "1", "--crc32c"],
            [*base, "--tlv", "nonsense"],
            [*base, "-v", "1"],
        ):
            self.assertRaises(usage.UsageError, Options().parseOptions, argv)

    def test_tlv_options(self) -> None:
        options = Options()
        options.parseOptions(
            [
                *("--listen", "proxy:tcp:9000", "--connect", "tcp:host=h:port=1"),
                *("--drop-tlv", "unique_id", "--drop-tlv", "0xE5", "--drop-tlv", "AWS"),
                *("--set-tlv", "authority=relay.example", "--set-tlv", "0xE1=hex:00ff"),
            ]
        )
        rules = options["rules"]
        self.assertEqual(rules.drop, {0x05, 0xE5, 0xEA})
        self.assertIsNone(rules.keep)
        self.assertEqual(rules.replace, (TLV(0x02, b"relay.example"), TLV(0xE1, b"\x00\xff")))
        options = Options()
        options.parseOptions(
            ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1", "--keep-tlv", "ssl"]
        )
        self.assertEqual(options["rules"].keep, {0x20})

    def test_tlv_option_errors(self) -> None:
        base = ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1"]
        for extra in (
            ["--keep-tlv", "authority", "--drop-tlv", "alpn"],
            ["--set-tlv", "crc32c=hex:00000000"],
            ["--set-tlv", "authority"],
            ["--keep-tlv", "nonsense"],
            ["--drop-tlv", "256"],
            ["--drop-tlv", "ssl_version"],
            ["--header-version", "1", "--drop-tlv", "authority"],
        ):
            self.assertRaises(usage.UsageError, Options().parseOptions, base + extra)

    def test_tlv_type_names(self) -> None:
        self.assertEqual(parse_tlv_type("0xEA"), 0xEA)
        self.assertEqual(parse_tlv_type("234"), 0xEA)
        self.assertEqual(parse_tlv_type("aws"), 0xEA)
        self.assertEqual(parse_tlv_type("Unique-ID"), 0x05)
        self.assertEqual(parse_tlv_type("crc32c"), 0x03)


CLIENT = IPv4Address("TCP", "192.0.2.7", 4321)
DEST = IPv4Address("TCP", "198.51.100.1", 443)
#: The header the relay receives: AUTHORITY, UNIQUE_ID, a custom 0xE5, CRC32C.
RECEIVED = ProxyHeader.proxy(
    CLIENT, DEST, tlvs=[TLV(0x02, b"example.com"), TLV(0x05, b"req-1"), TLV(0xE5, b"x")]
).to_bytes(crc32c=True)
ADDRESSES = inet4("192.0.2.7", "198.51.100.1", 4321, 443)


def sealed(*records: bytes) -> bytes:
    """A v2 PROXY TCP4 header of the client with C{records} then a CRC32C, sealed."""
    header = v2(0x21, 0x11, ADDRESSES + b"".join(records) + tlv(0x03, b"\0\0\0\0"))
    return seal_crc32c(header, len(header) - 4)


class Capture(Protocol):
    """Records the raw bytes the target receives."""

    def connectionMade(self) -> None:
        self.factory.received.append(b"")  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.factory.received[-1] += data  # type: ignore[attr-defined]


def send(port: int, data: bytes) -> None:
    """Blocking: connect, send C{data}, wait for the relay to close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass


class TLVPassThroughTests(TestCase):
    """
    A relay on C{proxy:} passes the received TLVs on as its rules say, in a
    fresh header (spec 4.1) whose CRC32C covers what it sends (spec 2.2.3):
    the exact bytes the target receives.
    """

    timeout = 60

    async def relayed(self, received: bytes, **kwargs: Any) -> bytes:
        """The header bytes the target gets when a client sends C{received}."""
        target = Factory.forProtocol(Capture)
        target.received = []  # type: ignore[attr-defined]
        target_port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(target)
        self.addCleanup(target_port.stopListening)
        relay = RelayFactory(
            TCP4ClientEndpoint(reactor, "127.0.0.1", target_port.getHost().port), **kwargs
        )
        relay_port = await serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            relay
        )
        self.addCleanup(relay_port.stopListening)
        await threads.deferToThread(send, relay_port.getHost().port, received + b"ping")
        for _ in range(200):
            got = target.received  # type: ignore[attr-defined]
            if got and got[0].endswith(b"ping"):
                return bytes(got[0][:-4])
            await deferLater(reactor, 0.02, lambda: None)
        self.fail(f"the target got {target.received!r}")  # type: ignore[attr-defined]

    async def test_passed_on_with_fresh_crc32c(self) -> None:
        header = await self.relayed(RECEIVED)
        expected = sealed(tlv(0x02, b"example.com"), tlv(0x05, b"req-1"), tlv(0xE5, b"x"))
        self.assertEqual(header, expected)

    async def test_drop_and_set(self) -> None:
        rules = TLVRules(drop=frozenset({0x05}), replace=(TLV(0x02, b"relay.example"),))
        header = await self.relayed(RECEIVED, rules=rules)
        self.assertEqual(header, sealed(tlv(0xE5, b"x"), tlv(0x02, b"relay.example")))

    async def test_keep(self) -> None:
        """Only the kept types pass: without crc32c among them, no CRC32C is sent."""
        header = await self.relayed(RECEIVED, rules=TLVRules(keep=frozenset({0x02, 0xE5})))
        body = ADDRESSES + tlv(0x02, b"example.com") + tlv(0xE5, b"x")
        self.assertEqual(header, v2(0x21, 0x11, body))

    async def test_no_crc32c_received(self) -> None:
        plain = ProxyHeader.proxy(CLIENT, DEST, tlvs=[TLV(0x02, b"example.com")]).to_bytes()
        header = await self.relayed(plain)
        self.assertEqual(header, v2(0x21, 0x11, ADDRESSES + tlv(0x02, b"example.com")))
        header = await self.relayed(plain, crc32c=True, tlvs=[TLV(0xE1, b"added")])
        expected = sealed(tlv(0x02, b"example.com"), tlv(0xE1, b"added"))
        # --tlv records come after the passed ones; the CRC32C is last.
        self.assertEqual(header, expected)

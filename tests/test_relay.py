"""
Tests for C{twist proxy-relay}: the target sees the original client, data
flows both ways intact, half-close is passed on, and a slow reader does not
make the relay buffer without bound.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
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
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from pptwisted import get_proxy_header
from pptwisted._relay import Options, RelayFactory

from .compat import twist_command, twist_env

REPO = Path(__file__).resolve().parent.parent
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
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        probe.close()
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
        size = 96 * MiB
        target = TargetFactory(b"x" * size)
        target_port = yield serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            target
        )
        self.addCleanup(target_port.stopListening)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        relay_port = probe.getsockname()[1]
        probe.close()
        process = subprocess.Popen(
            [
                *twist_command(),
                "proxy-relay",
                "--listen",
                f"tcp:{relay_port}:interface=127.0.0.1",
                "--connect",
                f"tcp:host=127.0.0.1:port={target_port.getHost().port}",
            ],
            cwd=REPO,
            env=twist_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.kill)

        def slow_client() -> tuple[int, int, int]:
            deadline = time.monotonic() + 20
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", relay_port), timeout=30)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            with sock:
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
        self.assertEqual(options["version"], 2)
        self.assertEqual(options["tlv"][0].value, b"x")

    def test_errors(self) -> None:
        for argv in (
            ["--listen", "tcp:1"],
            ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1", "--version", "3"],
            ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1", "--version", "1", "--crc32c"],
            ["--listen", "tcp:1", "--connect", "tcp:host=h:port=1", "--tlv", "nonsense"],
        ):
            self.assertRaises(usage.UsageError, Options().parseOptions, argv)

"""
Tests for L{pptwisted.metrics} and the counters under it: the stats
snapshot and histogram, the collector's exposition, the listener registry
(names, liveness, no leak), and a scrape over HTTP after known connections.
"""

from __future__ import annotations

import gc
import re
import socket
import subprocess
import sys
import threading
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from pptwisted import ProxyProtocolPolicy, ProxyProtocolStats, ProxyProtocolWrapper
from pptwisted.endpoints._registry import address_name, listeners, track, untrack
from pptwisted.endpoints._server import policy_from_options
from pptwisted.metrics import OUTCOMES, ProxyProtocolCollector, metrics_resource, register
from pptwisted.stream._stats import HEADER_DELAY_BUCKETS

from ..compat import Started, twist_env

V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"


def exposition(*pairs: tuple[str, ProxyProtocolStats]) -> str:
    """The text a scrape of a registry holding only a collector of C{pairs} shows."""
    registry = CollectorRegistry()
    registry.register(ProxyProtocolCollector(lambda: list(pairs)))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def samples(text: str, listener: str) -> dict[str, float]:
    """C{metric{labels}} -> value for the lines of C{listener} in an exposition."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or f'listener="{listener}"' not in line:
            continue
        key, _, value = line.rpartition(" ")
        found[key] = float(value)
    return found


def delayed(stats: ProxyProtocolStats, seconds: float, bound: float | None) -> None:
    """Count in C{stats} a header C{seconds} after its accept: in C{bound}'s bucket (None: +Inf)."""
    stats.header_delay_counts[-1 if bound is None else HEADER_DELAY_BUCKETS.index(bound)] += 1
    stats.header_delay_sum += seconds


class StatsTests(SynchronousTestCase):
    def test_histogram_buckets(self) -> None:
        """
        A delay goes in the first bucket whose bound is >= it (Prometheus'
        le), as the wrapper counts it: each header sent that many seconds
        after its accept. (Delays and bounds of a few binary digits, and a
        power of two as the timeout, keep the wrapper's arithmetic exact.)
        """
        clock = MemoryReactorClock()
        wrapper = ProxyProtocolWrapper(
            Factory.forProtocol(Protocol), ProxyProtocolPolicy(timeout=16), clock=clock
        )
        delays = (0.0, 2**-10, 2**-9, 0.25, 0.375, 2.5, 10.0, 12.0)
        for seconds in delays:
            connection = wrapper.buildProtocol(IPv4Address("TCP", "10.0.0.9", 4000))
            connection.makeConnection(StringTransport())
            clock.advance(seconds)
            connection.dataReceived(V1)
        counts = wrapper.stats.header_delay_counts
        self.assertEqual(len(counts), len(HEADER_DELAY_BUCKETS) + 1)
        self.assertEqual(counts[0], 2)  # 0 and 2**-10 (le="0.001")
        self.assertEqual(counts[1], 1)  # 2**-9 (le="0.0025")
        self.assertEqual(counts[HEADER_DELAY_BUCKETS.index(0.25)], 1)  # its bound
        self.assertEqual(counts[HEADER_DELAY_BUCKETS.index(0.5)], 1)  # 0.375
        self.assertEqual(counts[HEADER_DELAY_BUCKETS.index(2.5)], 1)
        self.assertEqual(counts[HEADER_DELAY_BUCKETS.index(10.0)], 1)
        self.assertEqual(counts[-1], 1)  # 12: +Inf only
        self.assertEqual(sum(counts), len(delays))
        self.assertEqual(wrapper.stats.header_delay_sum, sum(delays))

    def test_observe_header_delay_deprecated(self) -> None:
        """The old way to count a delay still counts, with a DeprecationWarning."""
        stats = ProxyProtocolStats()
        stats.observe_header_delay(0.25)
        [warning] = self.flushWarnings([self.test_observe_header_delay_deprecated])
        self.assertIs(warning["category"], DeprecationWarning)
        self.assertIn("header_delay_counts", warning["message"])
        self.assertEqual(stats.header_delay_counts[HEADER_DELAY_BUCKETS.index(0.25)], 1)
        self.assertEqual(stats.header_delay_sum, 0.25)

    def test_snapshot_is_a_copy(self) -> None:
        stats = ProxyProtocolStats(accepted=3, direct=1, timed_out=2, lost=4, refused=5)
        stats.rejected["signature"] += 2
        stats.evicted = 6
        stats.pending = 7
        delayed(stats, 0.002, 0.0025)
        snapshot = stats.snapshot()
        stats.accepted += 1
        stats.rejected["signature"] += 1
        stats.rejected["untrusted"] += 1
        delayed(stats, 0.002, 0.0025)
        self.assertEqual(
            (snapshot.accepted, snapshot.direct, snapshot.timed_out, snapshot.lost),
            (3, 1, 2, 4),
        )
        self.assertEqual((snapshot.refused, snapshot.evicted, snapshot.pending), (5, 6, 7))
        self.assertEqual(snapshot.rejected, {"signature": 2})
        self.assertIs(type(snapshot.rejected), dict)
        self.assertEqual(snapshot.header_delay_counts[1], 1)
        self.assertIsInstance(snapshot.header_delay_counts, tuple)
        self.assertAlmostEqual(snapshot.header_delay_sum, 0.002)

    def test_snapshot_while_counting(self) -> None:
        """A thread taking snapshots while another counts never fails or tears a Counter."""
        stats = ProxyProtocolStats()
        stop = threading.Event()
        errors: list[BaseException] = []

        def count() -> None:
            i = 0
            while not stop.is_set():
                stats.rejected[f"rule-{i % 500}"] += 1
                stats.accepted += 1
                i += 1

        thread = threading.Thread(target=count)
        thread.start()
        try:
            for _ in range(2000):
                try:
                    snapshot = stats.snapshot()
                except BaseException as e:  # pragma: no cover - the failure
                    errors.append(e)
                    break
                self.assertTrue(all(v > 0 for v in snapshot.rejected.values()))
        finally:
            stop.set()
            thread.join(10)
        self.assertEqual(errors, [])


class CollectorTests(SynchronousTestCase):
    def test_exposition(self) -> None:
        """Every outcome, rule, the pending gauge and the histogram, with exact values."""
        stats = ProxyProtocolStats(accepted=3, direct=1, timed_out=2, lost=4, refused=5)
        stats.rejected.update({"signature": 2, "v1-ipv4": 1, "untrusted": 6})
        stats.evicted = 7
        stats.pending = 8
        delayed(stats, 0.0005, 0.001)
        delayed(stats, 0.3, 0.5)
        text = exposition(("web", stats))
        got = samples(text, "web")
        expected = {
            "accepted": 3,
            "direct": 1,
            "rejected": 3,  # signature + v1-ipv4
            "refused": 6,  # untrusted
            "timed_out": 2,
            "evicted": 7,
            "lost": 4,
            "declined": 5,  # the application's factory returned None
        }
        self.assertEqual(list(expected), list(OUTCOMES))
        for outcome, value in expected.items():
            key = f'pptwisted_connections_total{{listener="web",outcome="{outcome}"}}'
            self.assertEqual(got[key], value, outcome)
        for rule, value in (("signature", 2), ("untrusted", 6), ("v1-ipv4", 1)):
            key = f'pptwisted_rejections_total{{listener="web",rule="{rule}"}}'
            self.assertEqual(got[key], value, rule)
        self.assertEqual(got['pptwisted_pending_connections{listener="web"}'], 8)
        bucket = 'pptwisted_header_delay_seconds_bucket{{le="{}",listener="web"}}'
        self.assertEqual(got[bucket.format("0.001")], 1)
        self.assertEqual(got[bucket.format("0.25")], 1)
        self.assertEqual(got[bucket.format("0.5")], 2)
        self.assertEqual(got[bucket.format("+Inf")], 2)
        self.assertEqual(got['pptwisted_header_delay_seconds_count{listener="web"}'], 2)
        self.assertAlmostEqual(got['pptwisted_header_delay_seconds_sum{listener="web"}'], 0.3005)
        self.assertIn("# TYPE pptwisted_connections_total counter", text)
        self.assertIn("# TYPE pptwisted_pending_connections gauge", text)
        self.assertIn("# TYPE pptwisted_header_delay_seconds histogram", text)

    def test_same_name_summed(self) -> None:
        """Two listeners given one name are one series: their counts added."""
        a, b = ProxyProtocolStats(accepted=2), ProxyProtocolStats(accepted=5)
        a.rejected["signature"] += 1
        b.rejected["signature"] += 2
        b.rejected["untrusted"] += 1
        delayed(a, 0.01, 0.01)
        delayed(b, 20, None)
        got = samples(exposition(("api", a), ("api", b)), "api")
        self.assertEqual(got['pptwisted_connections_total{listener="api",outcome="accepted"}'], 7)
        self.assertEqual(got['pptwisted_connections_total{listener="api",outcome="refused"}'], 1)
        self.assertEqual(got['pptwisted_rejections_total{listener="api",rule="signature"}'], 3)
        self.assertEqual(got['pptwisted_header_delay_seconds_count{listener="api"}'], 2)

    def test_no_listener(self) -> None:
        text = exposition()
        self.assertIn("# TYPE pptwisted_connections_total counter", text)
        self.assertNotIn("listener=", text)

    def test_register_once(self) -> None:
        registry = CollectorRegistry()
        self.assertIs(register(registry), register(registry))

    def test_label_values_escaped(self) -> None:
        text = exposition(('a "quoted"\\name', ProxyProtocolStats(accepted=1)))
        self.assertIn('listener="a \\"quoted\\"\\\\name"', text)


class _Echo(Protocol):
    """Answers the first bytes with themselves, then closes."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.transport.loseConnection()


def _wrapper(name: str | None = None) -> ProxyProtocolWrapper:
    return ProxyProtocolWrapper(
        Factory.forProtocol(_Echo),
        ProxyProtocolPolicy(name=name),
        clock=MemoryReactorClock(),
    )


class RegistryTests(SynchronousTestCase):
    def test_address_names(self) -> None:
        self.assertEqual(address_name(IPv4Address("TCP", "127.0.0.1", 8080)), "127.0.0.1:8080")
        self.assertEqual(address_name(IPv6Address("TCP", "::1", 8443)), "[::1]:8443")
        self.assertEqual(address_name(UNIXAddress(b"/run/app.sock")), "unix:/run/app.sock")
        self.assertEqual(address_name(UNIXAddress(None)), "unix:(unnamed)")

    def test_reported_while_listening(self) -> None:
        wrapper = _wrapper("tracked-test")
        track(wrapper)
        self.addCleanup(untrack, wrapper)
        names = lambda: [n for n, _ in listeners() if n == "tracked-test"]  # noqa: E731
        self.assertEqual(names(), [])  # not listening yet
        wrapper.doStart()
        self.assertEqual(listeners().count(("tracked-test", wrapper.stats)), 1)
        wrapper.doStop()
        self.assertEqual(names(), [])

    def test_weak(self) -> None:
        """A dropped wrapper leaves the registry (no leak)."""
        from pptwisted.endpoints import _registry

        wrapper = _wrapper()
        track(wrapper, "weak-test")
        entry = _registry._tracked[id(wrapper)]
        self.assertIs(entry[0](), wrapper)
        del wrapper
        gc.collect()
        self.assertIsNone(entry[0]())
        self.assertNotIn(entry, list(_registry._tracked.values()))

    def test_needs_a_name(self) -> None:
        self.assertRaises(ValueError, track, _wrapper())

    def test_name_option(self) -> None:
        self.assertEqual(policy_from_options({"proxyName": "public web"}).name, "public web")
        self.assertIsNone(policy_from_options({}).name)
        for bad in ("", "x" * 129, "tab\there"):
            with self.assertRaises(ValueError) as caught:
                policy_from_options({"proxyName": bad})
            self.assertIn("name must be 1-128 printable characters", str(caught.exception))

    def test_lazy_imports(self) -> None:
        """
        The plugin dropin imports neither prometheus_client nor the reactor;
        pptwisted.metrics imports prometheus_client but not the reactor.
        """
        code = (
            "import sys\n"
            "import twisted.plugins.pptwisted_plugins\n"
            "assert 'prometheus_client' not in sys.modules, 'dropin'\n"
            "import pptwisted.metrics\n"
            "assert 'twisted.internet.reactor' not in sys.modules, 'metrics'\n"
            "assert 'prometheus_client.twisted' not in sys.modules, 'metrics'\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        self.assertEqual(done.returncode, 0, done.stderr)


def _exchange(port: int, data: bytes) -> bytes:
    """Blocking: send C{data}, read to EOF (bounded by a timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class ScrapeTests(TestCase):
    """Real sockets: connections of known outcome, then GET /metrics over HTTP."""

    timeout = 60

    async def listen(self, description: str, factory: Any) -> int:
        port = await serverFromString(reactor, description).listen(factory)
        self.addCleanup(port.stopListening)
        number: int = port.getHost().port
        return number

    async def scrape(self, port: int) -> str:
        """GET /metrics over HTTP; the body, once the status is checked."""
        request = b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        answer: bytes = await deferToThread(_exchange, port, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(
            head.startswith(b"HTTP/1.0 200 ") or head.startswith(b"HTTP/1.1 200 "), head
        )
        self.assertIn(b"content-type: text/plain", head.lower())
        return body.decode()

    async def test_scrape(self) -> None:
        echo = Factory.forProtocol(_Echo)
        web = await self.listen("proxy:tcp:0:interface=127.0.0.1:proxyName=scrape-web", echo)
        strict = await self.listen("proxy:tcp:0:interface=127.0.0.1:proxyTrusted=10.0.0.0/8", echo)
        root = Resource()
        root.putChild(b"metrics", metrics_resource())
        metrics_port = await self.listen("tcp:0:interface=127.0.0.1", Site(root))

        for _ in range(3):
            self.assertEqual(await deferToThread(_exchange, web, V1 + b"ping"), b"ping")
        for bad in (b"GET / HTTP/1.0\r\n\r\n", b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n"):
            self.assertEqual(await deferToThread(_exchange, web, bad), b"")
        self.assertEqual(await deferToThread(_exchange, strict, V1 + b"ping"), b"")

        text = await self.scrape(metrics_port)
        got = samples(text, "scrape-web")
        total = 'pptwisted_connections_total{{listener="scrape-web",outcome="{}"}}'
        self.assertEqual(got[total.format("accepted")], 3)
        self.assertEqual(got[total.format("rejected")], 2)
        self.assertEqual(got[total.format("refused")], 0)
        rule = 'pptwisted_rejections_total{{listener="scrape-web",rule="{}"}}'
        self.assertEqual(got[rule.format("signature")], 1)
        self.assertEqual(got[rule.format("v1-ipv4")], 1)
        # The unnamed listener is named by its address, never its description.
        got = samples(text, f"127.0.0.1:{strict}")
        total = 'pptwisted_connections_total{{listener="127.0.0.1:{}",outcome="{}"}}'
        self.assertEqual(got[total.format(strict, "refused")], 1)
        self.assertEqual(got[total.format(strict, "accepted")], 0)
        self.assertNotIn("proxyTrusted", text)

    async def test_whoami_metrics(self) -> None:
        """C{twist proxy-whoami --metrics ENDPOINT} serves /metrics beside whoami."""
        from pptwisted.tools.whoami import Options, makeService

        logs = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        options = Options()
        options.parseOptions(
            [
                "--listen",
                "proxy:tcp:0:interface=127.0.0.1:proxyName=whoami-test",
                "--metrics",
                "tcp:0:interface=127.0.0.1",
            ]
        )
        service = makeService(options)
        service.startService()
        self.addCleanup(service.stopService)
        # Both on port 0: the ports are those Twisted logs ("PREFIX starting on PORT").
        started = [
            match.groups()
            for match in (
                re.search(r"(\(PROXY\))? starting on (\d+)", formatEvent(e)) for e in logs
            )
            if match is not None
        ]
        [listen] = [int(port) for proxy, port in started if proxy]
        [metrics] = [int(port) for proxy, port in started if not proxy]
        # HTTP: a bare line would leave whoami's silence timer armed for
        # 0.5 s after the answer (a whoami quirk reported separately).
        request = V1 + b"GET / HTTP/1.0\r\n\r\n"
        answer = await deferToThread(_exchange, listen, request)
        self.assertIn(b"client (getPeer): 192.0.2.7:4321 (TCP)", answer)
        self.assertEqual(await deferToThread(_exchange, listen, b"HELLO\r\n"), b"")
        got = samples(await self.scrape(metrics), "whoami-test")
        total = 'pptwisted_connections_total{{listener="whoami-test",outcome="{}"}}'
        self.assertEqual(got[total.format("accepted")], 1)
        self.assertEqual(got[total.format("rejected")], 1)

    def test_whoami_without_metrics(self) -> None:
        from pptwisted.tools.whoami import Options

        options = Options()
        options.parseOptions([])
        self.assertIsNone(options["metrics"])


class DocsExampleTests(TestCase):
    """docs/examples/metrics_app.py, the metrics how-to's application, runs as written."""

    timeout = 60

    async def test_docs_web_app(self) -> None:
        import time

        from ..interop.harness import REPO

        example = REPO / "docs" / "examples" / "metrics_app.py"
        code = example.read_text()
        self.assertIn('("proxy:tcp:8080", "tcp:9100")', code)
        self.assertIn('f"{app}:proxyName=www"', code)
        # Both on port 0 (Twisted logs "starting on PORT" for each).
        argv = [sys.executable, "-u", str(example), "proxy:tcp:0:interface=127.0.0.1", "tcp:0"]
        server = Started(argv, cwd=REPO, env=twist_env())  # File("."): the repository
        self.addCleanup(server.stop)
        process = server.process
        ports = await deferToThread(server.ports, 2)
        [app] = [port for prefix, port in ports.items() if prefix.endswith("(PROXY)")]
        [metrics] = [port for prefix, port in ports.items() if not prefix.endswith("(PROXY)")]

        def request_when_up(port: int, data: bytes) -> bytes:
            deadline = time.monotonic() + 20
            while True:
                try:
                    return _exchange(port, data)
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.1)

        page = await deferToThread(request_when_up, app, V1 + b"GET /LICENSE HTTP/1.0\r\n\r\n")
        self.assertTrue(page.endswith((REPO / "LICENSE").read_bytes()), page[:200])
        scrape = b"GET /metrics HTTP/1.0\r\n\r\n"
        text = (await deferToThread(request_when_up, metrics, scrape)).decode()
        got = samples(text, "www")
        self.assertEqual(got['pptwisted_connections_total{listener="www",outcome="accepted"}'], 1)

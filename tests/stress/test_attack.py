"""
The receiver under attack, over real sockets, against a C{twist
proxy-whoami} in a subprocess (issue 12). Behaviour, not time: every stalled
connection is closed, the server's descriptors come back to where they were,
its log lines stay bounded, and a well-behaved client is served. The figures
(lines, latency, RSS) are bench/hardening.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench import _attack as attack

#: The issue's scenario: a descriptor limit of 1,200, and 1,500 stalled headers.
NOFILE = 1200
STALLED = 1500


def linux_only() -> None:
    if not sys.platform.startswith("linux"):
        raise SkipTest("reads the server's descriptors and RSS in /proc (Linux)")


def ensure_fds(case: SynchronousTestCase, needed: int) -> None:
    """This (client) process may open C{needed} descriptors (restored after), or skip."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SkipTest(f"needs {needed} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    case.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


class PendingCapTests(SynchronousTestCase):
    def test_stalled_headers_at_the_fd_limit(self) -> None:
        """
        Under a descriptor limit of 1,200, 1,500 connections that send
        C{PROXY } and stop: the default cap (half the limit) evicts the
        oldest, so a well-behaved client is served while the newest 500+
        still wait; at the timeout every stalled connection is closed and
        the server holds as many descriptors as before. Evictions and
        timeouts are logged within the rate limit.
        """
        linux_only()
        ensure_fds(self, STALLED + 256)
        log_dir = Path(self.mktemp())
        log_dir.mkdir()
        with attack.server(":proxyTimeout=4", nofile=NOFILE, log_dir=log_dir) as server:
            _, reply = attack.request(server.port)
            self.assertTrue(attack.served(reply), reply)
            baseline = server.fds()
            stalled = attack.stall(server.port, STALLED)
            self.addCleanup(attack.close_all, stalled)
            _, reply = attack.request(server.port)
            self.assertTrue(attack.served(reply), server.log_text()[-2000:])
            # Served while at least the newest 500 still wait (not after
            # the timeout closed them all).
            closed = attack.count_closed(stalled)
            self.assertLessEqual(closed, STALLED - 500)
            self.assertGreaterEqual(closed, STALLED - NOFILE // 2 - 1 - 50)
            # The timeout closes the rest: every one of them.
            self.assertEqual(attack.count_closed(stalled, wait=60), STALLED)
            self.assertTrue(
                attack.wait_until(lambda: server.fds() <= baseline, 30),
                f"{server.fds()} descriptors, {baseline} before",
            )
            _, reply = attack.request(server.port)
            self.assertTrue(attack.served(reply))
        # Stopped: the summaries are out. Per rule (evicted, timeout): at
        # most 10 in full per 10 s, and a summary.
        text = server.log_text()
        self.assertIn("Suppressed", text)
        self.assertIn("evicted: ", text)
        self.assertLessEqual(server.rejection_lines(), 2 * 2 * (10 + 1) + 2)
        self.assertNotIn("Traceback", text)


class FloodTests(SynchronousTestCase):
    def test_direct_http_clients(self) -> None:
        """
        2,000 direct HTTP clients on a proxy: port are all closed, in at
        most 1% as many log lines; well-behaved clients in the middle of
        the flood are served.
        """
        linux_only()
        log_dir = Path(self.mktemp())
        log_dir.mkdir()
        with attack.server("", log_dir=log_dir) as server:
            baseline = server.fds()
            closed = attack.flood(server.port, 1000)
            _, reply = attack.request(server.port)
            self.assertTrue(attack.served(reply))
            closed += attack.flood(server.port, 1000)
            self.assertEqual(closed, 2000)
            self.assertTrue(attack.wait_until(lambda: server.fds() <= baseline, 30))
        lines = server.rejection_lines()
        self.assertGreaterEqual(lines, 10)
        self.assertLessEqual(lines, 2000 // 100)
        self.assertIn("signature: ", server.log_text())


class ServerFirstTests(SynchronousTestCase):
    def test_optional_mode_serves_a_silent_client(self) -> None:
        """
        C{proxyHeader=optional}: a client that waits for the server to speak
        first, and one that sent only C{\\r\\n}, are served as direct at the
        timeout (whoami reports their real address), and nothing is logged
        as rejected. In required mode both are closed.
        """
        log_dir = Path(self.mktemp())
        log_dir.mkdir()
        with attack.server(":proxyHeader=optional:proxyTimeout=1", log_dir=log_dir) as server:
            for first in (b"", b"\r\n"):
                _, reply = attack.request(server.port, first, timeout=30)
                self.assertIn(b"127.0.0.1", reply, first)
        self.assertNotIn("Rejected connection", server.log_text())
        self.assertNotIn("Timed out", server.log_text())
        with attack.server(":proxyTimeout=1", log_dir=log_dir) as server:
            for first in (b"", b"\r\n"):
                _, reply = attack.request(server.port, first, timeout=30)
                self.assertEqual(reply, b"")

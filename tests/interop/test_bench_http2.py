"""
The HTTP/2 row of C{python -m bench} runs: a tiny run of C{bench/http2.py}
against Debian's HAProxy and h2load gives figures for every contender (each
of its h2load runs had every request answered 2xx over the expected
protocol), and a server behind HAProxy without C{proxyALPN=yes}, which cannot
speak h2 there, stops the benchmark instead of giving it a figure.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bench import http2

from .harness import require_binary, require_module, skip_or_fail

#: As small as a run gets: a smoke test, not a measurement.
TINY = http2.Scale(requests=200, rounds=1, connections=4, streams=4)


class BenchHTTP2Tests(SynchronousTestCase):
    def setUp(self) -> None:
        require_binary("haproxy")
        require_binary("h2load")
        require_module("h2")
        missing = http2.available()
        if missing is not None:
            skip_or_fail(f"bench/http2.py cannot run here: {missing}")

    def test_tiny_run(self) -> None:
        figures = http2.run(scale=TINY)
        self.assertEqual(set(figures["rps"]), set(http2.CONTENDERS))
        for contender, rps in figures["rps"].items():
            self.assertGreater(rps, 0, contender)
        vs_h1, vs_direct = http2.rows(figures)
        self.assertGreater(vs_h1["ratio"], 0)
        self.assertGreater(vs_direct["ratio"], 0)

    def test_no_h2_behind_haproxy(self) -> None:
        """Without proxyALPN=yes the server speaks HTTP/1.1 to h2 clients: no figure."""
        e = self.assertRaises(
            RuntimeError,
            http2.run,
            scale=TINY,
            proxied=http2.PROXIED.replace(":proxyALPN=yes", ""),
        )
        self.assertIn("0 2xx of", str(e))

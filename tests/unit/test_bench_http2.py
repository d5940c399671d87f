"""
The HTTP/2 row of C{python -m bench} (C{bench/http2.py}) reads C{h2load}'s
report and refuses any run in which a request was not answered 2xx over the
expected protocol: C{h2load} exits 0 whatever happened, so a setup that
serves 404 pages, or no HTTP/2 at all, would otherwise be benchmarked.
The samples are real C{h2load} 1.52 (Debian 12) output.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bench import http2

_TLS = """\
TLS Protocol: TLSv1.3
Cipher: TLS_AES_256_GCM_SHA384
Server Temp Key: X25519 253 bits
"""
_PROGRESS = "".join(f"progress: {p}% done\n" for p in range(10, 101, 10))

#: h2 to twisted.web on ssl:, every request answered.
H2_OK = (
    "starting benchmark...\n"
    "spawning thread #0: 2 total client(s). 100 total requests\n"
    + _TLS
    + "Application protocol: h2\n"
    + _PROGRESS
    + """
finished in 35.89ms, 2785.98 req/s, 98.33KB/s
requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 100 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 3.53KB (3614) total, 594B (594) headers (space savings 94.29%), 200B (200) data
                     min         max         mean         sd        +/- sd
time for request:      558us      3.55ms      1.17ms       432us    90.00%
time for connect:     4.67ms      5.18ms      4.92ms       365us   100.00%
time to 1st byte:     7.00ms      7.56ms      7.28ms       393us   100.00%
req/s           :    1413.06     1423.19     1418.13        7.16   100.00%
"""
)

#: h2load --h1 to the same server.
H1_OK = (
    "starting benchmark...\n"
    "spawning thread #0: 2 total client(s). 100 total requests\n"
    + _TLS
    + "Application protocol: http/1.1\n"
    + _PROGRESS
    + """
finished in 25.06ms, 3989.79 req/s, 510.41KB/s
requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 100 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 12.79KB (13100) total, 9.18KB (9400) headers (space savings 0.00%), 200B (200) data
                     min         max         mean         sd        +/- sd
time for request:      185us      1.69ms       400us       193us    94.00%
time for connect:     4.20ms      4.62ms      4.41ms       298us   100.00%
time to 1st byte:     5.68ms      5.89ms      5.79ms       147us   100.00%
req/s           :    2026.48     2035.36     2030.92        6.27   100.00%
"""
)

#: Every request answered 404 (a site whose root is no leaf): fast, and worthless.
NOT_FOUND = (
    "starting benchmark...\n"
    "spawning thread #0: 10 total client(s). 2000 total requests\n"
    + _TLS
    + "Application protocol: h2\n"
    + _PROGRESS
    + """
finished in 429.88ms, 4652.42 req/s, 906.86KB/s
requests: 2000 total, 2000 started, 2000 done, 0 succeeded, 2000 failed, 0 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 2000 4xx, 0 5xx
"""
    + "traffic: 389.84KB (399200) total, 10.35KB (10600) headers (space savings 95.58%),"
    + " 326.17KB (334000) data\n"
    + """\
                     min         max         mean         sd        +/- sd
time for request:     6.79ms     33.31ms     20.99ms      2.31ms    92.30%
time for connect:     5.28ms      7.78ms      6.44ms       888us    60.00%
time to 1st byte:    15.02ms     27.20ms     25.45ms      3.92ms    90.00%
req/s           :     465.81      466.16      465.92        0.14    80.00%
"""
)

#: HAProxy negotiated h2, but the server behind it had no proxyALPN=yes.
NO_H2_BEHIND = (
    "starting benchmark...\n"
    "spawning thread #0: 2 total client(s). 200 total requests\n"
    + _TLS
    + "Application protocol: h2\n"
    + """
finished in 7.26ms, 0.00 req/s, 7.54KB/s
requests: 200 total, 4 started, 0 done, 0 succeeded, 200 failed, 200 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 56B (56) total, 0B (0) headers (space savings 0.00%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:        0us         0us         0us         0us     0.00%
time for connect:     2.30ms      3.67ms      2.98ms       970us   100.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :       0.00        0.00        0.00        0.00   100.00%
"""
)

#: Nothing listening.
REFUSED = """\
starting benchmark...
spawning thread #0: 1 total client(s). 10 total requests

finished in 348us, 0.00 req/s, 0B/s
requests: 10 total, 0 started, 0 done, 0 succeeded, 10 failed, 10 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 0B (0) total, 0B (0) headers (space savings 0.00%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:        0us         0us         0us         0us     0.00%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :       0.00        0.00        0.00        0.00   100.00%
"""


class ParseTests(SynchronousTestCase):
    def test_h2(self) -> None:
        """The summary: requests/s of the run (not the per-client line), counts, protocol."""
        self.assertEqual(
            http2.parse_h2load(H2_OK),
            http2.H2Load(
                rps=2785.98,
                total=100,
                succeeded=100,
                failed=0,
                errored=0,
                timeout=0,
                status_2xx=100,
                protocol="h2",
            ),
        )

    def test_h1(self) -> None:
        result = http2.parse_h2load(H1_OK)
        self.assertEqual((result.rps, result.protocol), (3989.79, "http/1.1"))

    def test_no_connection(self) -> None:
        """No connection, no protocol."""
        result = http2.parse_h2load(REFUSED)
        self.assertEqual((result.protocol, result.errored, result.status_2xx), (None, 10, 0))

    def test_no_summary(self) -> None:
        """Output without the summary (h2load died, or another program) is an error."""
        for text in ("", "h2load: invalid URI\n", H2_OK.split("finished")[0]):
            self.assertRaises(ValueError, http2.parse_h2load, text)


class CheckTests(SynchronousTestCase):
    def test_all_answered(self) -> None:
        http2.check(http2.parse_h2load(H2_OK), 100, "h2")
        http2.check(http2.parse_h2load(H1_OK), 100, "http/1.1")

    def assertRefused(self, output: str, requests: int, protocol: str, reason: str) -> None:
        e = self.assertRaises(
            RuntimeError, http2.check, http2.parse_h2load(output), requests, protocol
        )
        self.assertIn(reason, str(e))

    def test_error_pages(self) -> None:
        """Answers that are not 2xx make the row fail, however fast they came."""
        self.assertRefused(NOT_FOUND, 2000, "h2", "0 2xx of 2000 requests")

    def test_errored(self) -> None:
        """Streams that errored (the server behind HAProxy speaks no h2)."""
        self.assertRefused(NO_H2_BEHIND, 200, "h2", "200 failed, 200 errored")

    def test_refused(self) -> None:
        self.assertRefused(REFUSED, 10, "h2", "protocol None, not h2")

    def test_other_protocol(self) -> None:
        """A run measured over HTTP/1.1 is not an HTTP/2 figure."""
        self.assertRefused(H1_OK, 100, "h2", "protocol http/1.1, not h2")

    def test_fewer_than_asked(self) -> None:
        self.assertRefused(H2_OK, 200, "h2", "100 2xx of 200 requests")


class RowsTests(SynchronousTestCase):
    def figures(self, direct: float) -> dict[str, object]:
        return {
            "connections": 10,
            "streams": 10,
            "rps": {http2.H2_PROXIED: 4000.0, http2.H1_PROXIED: 10000.0, http2.H2_DIRECT: direct},
            "ratio_vs_h1": 0.4,
            "ratio_vs_direct": 4000.0 / direct,
        }

    def test_rows(self) -> None:
        """Two rows: the reading against HTTP/1.1, the target against h2 on ssl:."""
        vs_h1, vs_direct = http2.rows(self.figures(3200.0))
        self.assertEqual((vs_h1["ratio"], vs_h1["met"], vs_h1["pptwisted"]), (0.4, True, 4000.0))
        self.assertIn("HTTP/1.1 keep-alive via HAProxy 10000", vs_h1["peers"])
        self.assertEqual((vs_direct["ratio"], vs_direct["met"]), (1.25, True))
        self.assertIn("h2 direct on ssl: 3200", vs_direct["peers"])

    def test_missed(self) -> None:
        _, vs_direct = http2.rows(self.figures(5000.0))
        self.assertEqual((vs_direct["ratio"], vs_direct["met"]), (0.8, False))

    def test_proxied_endpoint(self) -> None:
        """The server behind HAProxy takes the ALPN TLV, from HAProxy only."""
        self.assertIn(":proxyALPN=yes", http2.PROXIED)
        self.assertIn(":proxyTrusted=127.0.0.1", http2.PROXIED)

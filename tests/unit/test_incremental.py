"""
The v1 decoder and the incremental parser (issue 11): fed one byte at a
time, the parser's work stays linear in the header's length; the decoder's
per-family expressions accept exactly what the whole grammar does.
"""

from __future__ import annotations

import re
import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import TLV, ProxyHeader, parse_header
from pptwisted.codec import _parser, _v1
from pptwisted.codec._parser import HeaderParser, ParserState
from pptwisted.codec._v1 import MAX_V1_LENGTH, V1Scanner

from .. import strategies

# The longest valid line: 107 bytes, CRLF included.
LONGEST_V1 = b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 16) + b"\r\n"
TCP4_V1 = b"PROXY TCP4 192.0.2.10 198.51.100.20 56324 443\r\n"


class V1WorkTests(SynchronousTestCase):
    """A v1 line fed byte by byte: each byte is scanned and searched once."""

    def _feed_bytewise(self, line: bytes) -> tuple[list[tuple[int, int]], int, int]:
        """
        Feed C{line} and a payload one byte at a time; return the spans the
        scanner checked, the bytes searched for CRLF, and the decoder calls.
        """
        expected = parse_header(line)[0]
        spans: list[tuple[int, int]] = []
        decoded = [0]
        real_scan = V1Scanner.scan
        real_decode = _parser.decode_v1

        def scan(self: V1Scanner, buf: bytes | bytearray, end: int, complete: bool) -> None:
            spans.append((self.pos, end))
            real_scan(self, buf, end, complete)

        def decode(data: bytes | bytearray) -> object:
            decoded[0] += 1
            return real_decode(data)

        self.patch(V1Scanner, "scan", scan)
        self.patch(_parser, "decode_v1", decode)
        parser = HeaderParser()
        searched = 0
        result = None
        data = line + b"GET /"
        for i in range(len(data)):
            # The CRLF search starts one byte before where the last one
            # stopped (a CR may have ended that read).
            start = max(0, parser._searched - 1)
            result = parser.feed(data[i : i + 1])
            if parser.state is not ParserState.START:  # no search before 'PROXY'
                searched += min(i + 1, MAX_V1_LENGTH) - start
            if result is not None:
                break
        self.assertIsNotNone(result)
        assert result is not None
        self.assertEqual(result[1], b"")
        self.assertEqual(result[0], expected)
        return spans, searched, decoded[0]

    def _assert_linear(self, line: bytes) -> None:
        """
        The CRLF search covers each byte at most twice, the decoder runs
        once, and the scanner never goes back over a field it has passed:
        each read it checks from the start of the field still open (at
        most the 45 bytes of an IPv6 address and a SP) to the end of the data.
        """
        spans, searched, decoded = self._feed_bytewise(line)
        n = len(line)
        self.assertLessEqual(searched, 2 * n)
        self.assertEqual(decoded, 1)
        checked_to = 0
        for start, end in spans:
            if start < checked_to:
                # Going back is only to the start of the open field.
                self.assertTrue(start == 0 or line[start - 1 : start] == b" ", (start, end))
                self.assertLessEqual(end - start, 46)  # an IPv6 field and its SP
            checked_to = max(checked_to, end)

    def test_longest_line(self) -> None:
        """The 107-byte line (UNKNOWN: once its family is known, no field)."""
        self._assert_linear(LONGEST_V1)

    def test_tcp4_line(self) -> None:
        self._assert_linear(TCP4_V1)

    def test_tcp6_line(self) -> None:
        self._assert_linear(
            b"PROXY TCP6 2001:db8:85a3:8d3:1319:8a2e:370:7348 ffff:ffff:ffff:ffff:"
            b"ffff:ffff:255.255.255.255 65535 65535\r\n"
        )


class V2WorkTests(SynchronousTestCase):
    """
    A v2 header fed byte by byte: the 16 fixed bytes are judged as they
    arrive, then only counted; the block is decoded once.
    """

    def test_bytewise(self) -> None:
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "192.0.2.10", 56324),
            IPv4Address("TCP", "198.51.100.20", 443),
            tlvs=[TLV(0xE0, b"x" * 300)],
        )
        data = header.to_bytes(crc32c=True)
        expected = parse_header(data)
        checked: list[int] = []
        decoded = [0]
        real_check = _parser.check_v2_prefix
        real_decode = _parser.decode_v2

        def check(buf: bytes | bytearray, max_length: int) -> int:
            checked.append(len(buf))
            return real_check(buf, max_length)

        def decode(*args: object) -> object:
            decoded[0] += 1
            return real_decode(*args)  # type: ignore[arg-type]

        self.patch(_parser, "check_v2_prefix", check)
        self.patch(_parser, "decode_v2", decode)
        parser = HeaderParser()
        result = None
        for i in range(len(data)):
            result = parser.feed(data[i : i + 1])
        self.assertEqual(result, expected)
        # Once per byte up to the length field, never after.
        self.assertEqual(checked, list(range(1, 17)))
        self.assertEqual(decoded[0], 1)


def _third(item: tuple[object, object, bytes]) -> bytes:
    return item[2]


_LINE = re.compile(_v1.proxy_line.encode("ascii"))


def _grammar_accepts(data: bytes) -> bool:
    """
    The reference: C{proxy_line}, the whole grammar as one expression, then
    the checks it leaves to code (TCP6 addresses judged by inet_pton, the
    107-byte limit).
    """
    m = _LINE.match(data)
    if m is None or m.end() > MAX_V1_LENGTH:
        return False
    if data[6:10] == b"TCP6":
        for field in data[: m.end() - 2].split(b" ")[2:4]:
            try:
                socket.inet_pton(socket.AF_INET6, field.decode("ascii"))
            except OSError:
                return False
    return True


class GrammarTests(SynchronousTestCase):
    """
    L{decode_v1} matches only the branch of C{proxy_line} its family allows:
    it accepts exactly the lines the whole grammar accepts, and returns every
    byte after the CRLF.
    """

    @given(st.one_of(strategies.arbitrary, strategies.mutated(), strategies.encoded.map(_third)))
    @settings(max_examples=500)
    def test_same_as_proxy_line(self, data: bytes) -> None:
        found = _v1.decode_v1(data)
        self.assertEqual(found is not None, _grammar_accepts(data), data)
        if found is not None:
            end = data.index(b"\r\n") + 2
            self.assertEqual(found[1], data[end:])
            self.assertEqual(found, _v1.decode_v1(bytearray(data)))

    def test_examples(self) -> None:
        for line in (
            TCP4_V1,
            b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n",
            b"PROXY UNKNOWN\r\n",
            b"PROXY TCP6 ::1 ::ffff:1.2.3.4 1 2\r\n",
            LONGEST_V1,
        ):
            self.assertTrue(_grammar_accepts(line + b"x"), line)
            self.assertEqual(_v1.decode_v1(line + b"x"), (parse_header(line)[0], b"x"))
        for line in (
            b"PROXY TCP4 256.1.1.1 1.1.1.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.01 1.1.1.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 1.1.1.1 65536 2\r\n",
            b"PROXY TCP6 1.1.1.1 ::1 1 2\r\n",
            b"PROXY UNKNOWN" + b"x" * 100 + b"\r\n",
            b"PROXY TCP5 1.1.1.1 1.1.1.1 1 2\r\n",
            b"PROXY",
        ):
            self.assertFalse(_grammar_accepts(line), line)
            self.assertIsNone(_v1.decode_v1(line), line)

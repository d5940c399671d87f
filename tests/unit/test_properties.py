"""
Properties of the codec, checked with hypothesis:

  - build -> parse round trip for random v1 and v2 headers and TLVs;
  - any split of header + payload gives the same header and payload as
    L{parse_header} on the whole;
  - every strict prefix of a header is incomplete, and C{needed} never asks
    for more than is really missing;
  - arbitrary bytes raise nothing but L{ProxyProtocolError} subclasses, and
    the outcome (header, rule broken, or incomplete) does not depend on how
    the bytes were split.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence

from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import (
    TLV,
    HeaderParser,
    IncompleteHeader,
    InvalidHeader,
    ProxyHeader,
    ProxyProtocolError,
    parse_header,
)
from pptwisted.codec import Command, Rule
from pptwisted.tlv import SSLInfo, aws_vpce_tlv, azure_link_id_tlv, gcp_psc_tlv

from ..helpers import feed_bytewise
from ..strategies import any_input, encoded, payloads, ssl_infos, tlv_lists

FAST = settings(max_examples=300, deadline=None)


def expected_after_parse(header: ProxyHeader, crc: bool, data: bytes) -> ProxyHeader:
    """What parsing C{header.to_bytes(crc32c=crc)} (that is, C{data}) gives."""
    if header.version == 1:
        return header
    if header.command == Command.LOCAL:
        # LOCAL: the block after the fixed part is skipped, TLVs included.
        return header._replace(tlvs=())
    if crc:
        return header._replace(tlvs=(*header.tlvs, TLV(0x03, data[-4:])))
    return header


def chunks_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


Outcome = tuple[str, object]


def whole_outcome(data: bytes) -> Outcome:
    """What L{parse_header} makes of C{data}; nothing else may escape."""
    try:
        header, rest = parse_header(data)
    except IncompleteHeader as e:
        assert e.needed >= 1
        return ("incomplete", None)
    except InvalidHeader as e:
        return ("invalid", (e.rule, type(e)))
    return ("ok", (header, rest))


def chunked_outcome(chunks: Sequence[bytes]) -> Outcome:
    """What a L{HeaderParser} fed C{chunks} makes of them."""
    parser = HeaderParser()
    for i, chunk in enumerate(chunks):
        try:
            result = parser.feed(chunk)
        except InvalidHeader as e:
            return ("invalid", (e.rule, type(e)))
        if result is not None:
            header, rest = result
            return ("ok", (header, rest + b"".join(chunks[i + 1 :])))
        assert parser.needed >= 1
    return ("incomplete", None)


class RoundTripTests(SynchronousTestCase):
    @FAST
    @given(encoded, payloads)
    def test_round_trip(self, item: tuple[ProxyHeader, bool, bytes], payload: bytes) -> None:
        header, crc, data = item
        expected = expected_after_parse(header, crc, data)
        parsed, rest = parse_header(data + payload)
        self.assertEqual(parsed, expected)
        self.assertEqual(rest, payload)
        self.assertEqual(feed_bytewise(data + payload), (parsed, payload))
        if isinstance(header.source, UNIXAddress):
            # UNIXAddress equality may fall back to the file system; compare names.
            assert isinstance(parsed.source, UNIXAddress)
            assert isinstance(parsed.destination, UNIXAddress)
            assert isinstance(header.destination, UNIXAddress)
            self.assertEqual(parsed.source.name, header.source.name)
            self.assertEqual(parsed.destination.name, header.destination.name)
        if not (header.command == Command.LOCAL and crc):
            self.assertEqual(parsed.to_bytes(), data)
        if crc and header.version == 2:
            # The checksum, checked independently: over the whole header with
            # the field zeroed; the field is the last 4 bytes.
            self.assertEqual(data[-7:-4], b"\x03\x00\x04")
            self.assertEqual(crc32c(data[:-4] + b"\0\0\0\0"), int.from_bytes(data[-4:], "big"))
            if header.command == Command.PROXY:
                self.assertEqual(parsed.crc32c, int.from_bytes(data[-4:], "big"))

    @FAST
    @given(ssl_infos, st.booleans())
    def test_ssl_round_trip(self, info: SSLInfo, crc: bool) -> None:
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "1.2.3.4", 1),
            IPv4Address("TCP", "5.6.7.8", 2),
            tlvs=[TLV(0x01, b"h2"), info.to_tlv()],
        )
        parsed, _ = parse_header(header.to_bytes(crc32c=crc))
        self.assertEqual(parsed.ssl, info)
        self.assertEqual(parsed.alpn, b"h2")

    @FAST
    @given(
        st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=40),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**64 - 1),
    )
    def test_vendor_round_trip(self, vpce: str, link_id: int, psc_id: int) -> None:
        header = ProxyHeader.proxy(
            IPv6Address("TCP", "::1", 1),
            IPv6Address("TCP", "::2", 2),
            tlvs=[aws_vpce_tlv(vpce), azure_link_id_tlv(link_id), gcp_psc_tlv(psc_id)],
        )
        parsed, _ = parse_header(header.to_bytes())
        self.assertEqual(parsed.aws_vpce_id, vpce)
        self.assertEqual(parsed.azure_link_id, link_id)
        self.assertEqual(parsed.gcp_psc_connection_id, psc_id)


class SplitTests(SynchronousTestCase):
    @FAST
    @given(encoded, payloads, st.lists(st.integers(0, 600), max_size=8))
    def test_random_splits(
        self, item: tuple[ProxyHeader, bool, bytes], payload: bytes, cuts: list[int]
    ) -> None:
        _, _, data = item
        whole = parse_header(data + payload)
        self.assertEqual(whole[1], payload)
        self.assertEqual(chunked_outcome(chunks_at(data + payload, cuts)), ("ok", whole))

    @FAST
    @given(encoded, payloads)
    def test_reading_exactly_needed(
        self, item: tuple[ProxyHeader, bool, bytes], payload: bytes
    ) -> None:
        """A reader that asks for exactly C{needed} bytes never reads past the header."""
        _, _, data = item
        stream = data + payload
        parser = HeaderParser()
        pos = 0
        while True:
            self.assertGreaterEqual(parser.needed, 1)
            chunk = stream[pos : pos + parser.needed]
            pos += len(chunk)
            self.assertLessEqual(pos, len(data))
            result = parser.feed(chunk)
            if result is not None:
                break
        self.assertEqual(pos, len(data))
        self.assertEqual(result, (parse_header(data)[0], b""))


class PrefixTests(SynchronousTestCase):
    @FAST
    @given(encoded)
    def test_strict_prefixes(self, item: tuple[ProxyHeader, bool, bytes]) -> None:
        _, _, data = item
        for k in range(len(data)):
            missing = len(data) - k
            incomplete = self.assertRaises(IncompleteHeader, parse_header, data[:k])
            self.assertGreaterEqual(incomplete.needed, 1)
            self.assertLessEqual(incomplete.needed, missing)
            parser = HeaderParser()
            self.assertIsNone(parser.feed(data[:k]))
            self.assertGreaterEqual(parser.needed, 1)
            self.assertLessEqual(parser.needed, missing)


class ArbitraryBytesTests(SynchronousTestCase):
    @settings(max_examples=500, deadline=None)
    @given(any_input)
    def test_parse_header_raises_only_protocol_errors(self, data: bytes) -> None:
        try:
            parse_header(data)
        except ProxyProtocolError:
            pass
        for versions in ((1,), (2,)):
            try:
                parse_header(data, versions=versions, max_v2_length=64)
            except ProxyProtocolError:
                pass

    @settings(max_examples=500, deadline=None)
    @given(any_input, st.lists(st.integers(0, 400), max_size=6))
    def test_split_does_not_change_the_outcome(self, data: bytes, cuts: list[int]) -> None:
        """Header and rest, rule broken, or incomplete: the same however split."""
        whole = whole_outcome(data)
        self.assertEqual(chunked_outcome(chunks_at(data, cuts)), whole)
        self.assertEqual(chunked_outcome([data[i : i + 1] for i in range(len(data))]), whole)


def _records(tlvs: Sequence[TLV]) -> int:
    """How many records count against max_tlvs: SSL sub-TLVs included."""
    count = 0
    for t, value in tlvs:
        count += 1
        if t == 0x20:
            info = SSLInfo.from_value(value)
            count += len(info.tlvs)
    return count


class TLVCapPropertyTests(SynchronousTestCase):
    @FAST
    @given(tlv_lists, st.integers(0, 12), st.lists(st.integers(0, 300), max_size=4))
    def test_cap(self, tlvs: tuple[TLV, ...], cap: int, cuts: list[int]) -> None:
        """A header is refused for its TLV count exactly when it exceeds the cap."""
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "1.2.3.4", 1), IPv4Address("TCP", "5.6.7.8", 2), tlvs=tlvs
        )
        data = header.to_bytes()
        parser = HeaderParser(max_tlvs=cap)
        if _records(tlvs) <= cap:
            parsed, _ = parse_header(data, max_tlvs=cap)
            self.assertEqual(parsed, header)
            self.assertEqual(len(parsed.tlvs), len(tlvs))
        else:
            error = self.assertRaises(InvalidHeader, parse_header, data, max_tlvs=cap)
            self.assertEqual(error.rule, Rule.V2_TOO_MANY_TLVS)
        chunks = chunks_at(data, cuts)
        outcome = None
        for chunk in chunks:
            try:
                outcome = parser.feed(chunk)
            except InvalidHeader as e:
                outcome = e.rule
                break
        if _records(tlvs) <= cap:
            self.assertEqual(outcome, (header, b""))
        else:
            self.assertEqual(outcome, Rule.V2_TOO_MANY_TLVS)

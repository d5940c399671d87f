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
import socket
import string
import struct
from collections.abc import Sequence
from typing import Literal

from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import (
    TLV,
    Command,
    Family,
    HeaderParser,
    IncompleteHeader,
    InvalidHeader,
    ProxyHeader,
    ProxyProtocolError,
    SSLInfo,
    Transport,
    aws_vpce_tlv,
    azure_link_id_tlv,
    gcp_psc_tlv,
    parse_header,
)

from .helpers import V2_SIG, feed_bytewise

FAST = settings(max_examples=300, deadline=None)

# -- addresses ----------------------------------------------------------------

ports = st.integers(0, 0xFFFF)
ipv4_hosts = st.integers(0, 2**32 - 1).map(
    lambda n: socket.inet_ntop(socket.AF_INET, n.to_bytes(4, "big"))
)
_groups = st.one_of(st.sampled_from([0, 0, 0, 1, 0xFFFF]), st.integers(0, 0xFFFF))
ipv6_hosts = st.one_of(
    st.integers(0, 2**128 - 1),
    st.lists(_groups, min_size=8, max_size=8).map(
        lambda gs: int.from_bytes(struct.pack("!8H", *gs), "big")
    ),
    st.integers(0, 2**32 - 1).map(lambda n: (0xFFFF << 32) | n),  # v4-mapped
    st.integers(0, 2**32 - 1),  # v4-compatible, and :: and ::1
).map(lambda n: socket.inet_ntop(socket.AF_INET6, n.to_bytes(16, "big")))
# UNIX names that survive NUL padding: a path without NUL (empty for an
# unnamed socket), or a non-empty Linux abstract name (leading NUL) that does
# not end in NUL.
unix_names = st.one_of(
    st.binary(max_size=108).map(lambda b: b.replace(b"\0", b"/")),
    st.binary(min_size=1, max_size=107)
    .map(lambda b: b"\0" + b.rstrip(b"\0"))
    .filter(lambda name: name != b"\0"),
)

# -- TLVs -------------------------------------------------------------------------

_plain_types = st.one_of(
    st.sampled_from([0x01, 0x02, 0x04, 0x05, 0x30, 0xE0, 0xEA, 0xEE, 0xF0, 0xF8, 0xFF]),
    st.integers(0, 0xFF),
).filter(lambda t: t not in (0x03, 0x20))
plain_tlvs = st.builds(TLV, _plain_types, st.binary(max_size=40))
sub_tlvs = st.lists(
    st.builds(
        TLV, st.one_of(st.integers(0x21, 0x28), st.integers(0, 0xFF)), st.binary(max_size=20)
    ),
    max_size=5,
).map(tuple)
ssl_infos = st.builds(SSLInfo, st.integers(0, 0xFF), st.integers(0, 2**32 - 1), sub_tlvs)
vendor_tlvs = st.one_of(
    st.builds(aws_vpce_tlv, st.text(string.ascii_letters + string.digits + "-", max_size=30)),
    st.builds(azure_link_id_tlv, st.integers(0, 2**32 - 1)),
    st.builds(gcp_psc_tlv, st.integers(0, 2**64 - 1)),
)
tlv_lists = st.lists(
    st.one_of(plain_tlvs, ssl_infos.map(SSLInfo.to_tlv), vendor_tlvs), max_size=6
).map(tuple)

# -- headers ----------------------------------------------------------------------


Kind = Literal["TCP", "UDP"]


def _inet(
    kind: Kind, src: str, dst: str, sport: int, dport: int, tlvs: tuple[TLV, ...]
) -> ProxyHeader:
    return ProxyHeader.proxy(
        IPv4Address(kind, src, sport), IPv4Address(kind, dst, dport), tlvs=tlvs
    )


def _inet6(
    kind: Kind, src: str, dst: str, sport: int, dport: int, tlvs: tuple[TLV, ...]
) -> ProxyHeader:
    return ProxyHeader.proxy(
        IPv6Address(kind, src, sport), IPv6Address(kind, dst, dport), tlvs=tlvs
    )


v1_headers = st.one_of(
    st.builds(
        lambda s, d, sp, dp: ProxyHeader.proxy(
            IPv4Address("TCP", s, sp), IPv4Address("TCP", d, dp), version=1
        ),
        ipv4_hosts,
        ipv4_hosts,
        ports,
        ports,
    ),
    st.builds(
        lambda s, d, sp, dp: ProxyHeader.proxy(
            IPv6Address("TCP", s, sp), IPv6Address("TCP", d, dp), version=1
        ),
        ipv6_hosts,
        ipv6_hosts,
        ports,
        ports,
    ),
    st.just(ProxyHeader.local(version=1)),
)
_kinds: st.SearchStrategy[Kind] = st.sampled_from(["TCP", "UDP"])
v2_headers = st.one_of(
    st.builds(_inet, _kinds, ipv4_hosts, ipv4_hosts, ports, ports, tlv_lists),
    st.builds(_inet6, _kinds, ipv6_hosts, ipv6_hosts, ports, ports, tlv_lists),
    st.builds(
        lambda tr, s, d, tlvs: ProxyHeader(
            2, Command.PROXY, Family.UNIX, tr, UNIXAddress(s), UNIXAddress(d), tlvs
        ),
        st.sampled_from([Transport.STREAM, Transport.DGRAM]),
        unix_names,
        unix_names,
        tlv_lists,
    ),
    st.just(ProxyHeader.local()),
    st.builds(
        lambda tlvs: ProxyHeader(
            2, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, tlvs
        ),
        tlv_lists,
    ),
)
headers = st.one_of(v1_headers, v2_headers)
#: (header, with a CRC32C?, its bytes)
encoded = st.builds(lambda h, crc: (h, crc, h.to_bytes(crc32c=crc)), headers, st.booleans())
payloads = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"PROXY UNKNOWN\r\n", V2_SIG + b"\x20\x00\x00\x00", b"\r\n"]),
)


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


# Bytes that look like the start of a header, then anything.
_v1_alphabet = list(b"PROXY TCP46UNKW 0123456789abcdefABCDEF.:%+-\r\n")
_tails = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(_v1_alphabet), max_size=120).map(bytes),
)
_starts = st.sampled_from(
    [
        b"",
        b"P",
        b"PROXY ",
        b"PROXY TCP4 ",
        b"PROXY TCP6 ",
        b"PROXY UNKNOWN",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 ",
        b"PROXY TCP6 ::1 ::ffff:1.2.3.4 ",
        V2_SIG,
        V2_SIG + b"\x21",
        V2_SIG + b"\x20",
    ]
)
arbitrary = st.builds(bytes.__add__, _starts, _tails)


@st.composite
def v2_with_random_body(draw: st.DrawFn) -> bytes:
    """A v2 fixed part with a plausible family and a random body of the right length."""
    ver_cmd = draw(st.sampled_from([0x20, 0x21, 0x21, 0x22, 0x11]))
    fam = draw(st.sampled_from([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x13]))
    prefix = draw(st.sampled_from([b"", bytes(12), bytes(36), bytes(216)]))
    body = prefix + draw(
        st.one_of(
            st.binary(max_size=80),
            st.lists(
                st.builds(
                    lambda t, v: struct.pack("!BH", t, len(v)) + v,
                    st.sampled_from([0x01, 0x03, 0x04, 0x20, 0xEE]),
                    st.binary(max_size=12),
                ),
                max_size=4,
            ).map(b"".join),
        )
    )
    length = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, -3]))
    length = max(0, length)
    return V2_SIG + struct.pack("!BBH", ver_cmd, fam, length) + body + draw(st.binary(max_size=4))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid header with a few bytes replaced, cut or added."""
    _, _, data = draw(encoded)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["set", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if action == "set" and buf:
            buf[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del buf[at : at + draw(st.integers(1, 3))]
        else:
            buf[at:at] = draw(st.binary(min_size=1, max_size=3))
    return bytes(buf)


any_input = st.one_of(arbitrary, v2_with_random_body(), mutated())


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

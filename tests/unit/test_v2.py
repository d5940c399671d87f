"""
PROXY protocol v2, the binary header (spec section 2.2): signature,
version, command, family, length, address blocks, TLV tiling, CRC32C, the
SSL record's shape, the length cap and the versions accepted.
"""

from __future__ import annotations

from crc32c import crc32c
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import TLV, HeaderParser, IncompleteHeader, InvalidHeader, ProxyHeader, parse_header
from pptwisted.codec import DEFAULT_MAX_V2_LENGTH, Command, Family, NotProxyHeader, Rule, Transport
from pptwisted.codec._parser import ParserState

from ..helpers import (
    V2_SIG,
    assert_accepts,
    assert_rejects,
    assert_rejects_at_last_byte,
    inet4,
    inet6,
    seal_crc32c,
    tlv,
    unix,
    v2,
)

# 192.168.0.1:56324 -> 192.168.0.11:443 over TCP, written out by hand.
TCP4_HEADER = bytes.fromhex(
    "0d0a0d0a000d0a515549540a"  # signature
    "21"  # version 2, PROXY
    "11"  # INET, STREAM
    "000c"  # 12 bytes follow
    "c0a80001"  # 192.168.0.1
    "c0a8000b"  # 192.168.0.11
    "dc04"  # 56324
    "01bb"  # 443
)

# The same with a CRC32C TLV; the checksum was computed over the header with
# the field zeroed (CRC32C, Castagnoli, RFC 4960 appendix B).
TCP4_CRC_HEADER = bytes.fromhex(
    "0d0a0d0a000d0a515549540a"
    "21"
    "11"
    "0013"  # 12 + 7
    "c0a80001c0a8000bdc0401bb"
    "03"  # PP2_TYPE_CRC32C
    "0004"
    "1c1ae9c6"
)
TCP4_CRC = 0x1C1AE9C6

# ALPN "h2" then CRC32C.
TCP4_ALPN_CRC_HEADER = bytes.fromhex(
    "0d0a0d0a000d0a515549540a21110018c0a80001c0a8000bdc0401bb" + "0100026832" + "03000476323a48"
)


# An IPv4 address block for tests that need one: 1.2.3.4:1 -> 5.6.7.8:2.
ADDR4 = bytes.fromhex("01020304 05060708 0001 0002")


def addresses(header: ProxyHeader) -> tuple[object, object]:
    return header.source, header.destination


class AcceptTests(SynchronousTestCase):
    """Valid v2 headers and what they parse to."""

    def test_tcp4(self) -> None:
        header, rest = assert_accepts(self, TCP4_HEADER + b"GET / HTTP/1.1\r\n")
        self.assertEqual(
            header,
            ProxyHeader(
                2,
                Command.PROXY,
                Family.INET,
                Transport.STREAM,
                IPv4Address("TCP", "192.168.0.1", 56324),
                IPv4Address("TCP", "192.168.0.11", 443),
                (),
            ),
        )
        self.assertEqual(rest, b"GET / HTTP/1.1\r\n")
        self.assertFalse(header.uses_real_addresses)

    def test_udp4(self) -> None:
        data = v2(0x21, 0x12, inet4("10.0.0.1", "10.0.0.2", 53, 5353))
        header, rest = assert_accepts(self, data)
        self.assertIs(header.family, Family.INET)
        self.assertIs(header.transport, Transport.DGRAM)
        self.assertEqual(
            addresses(header),
            (IPv4Address("UDP", "10.0.0.1", 53), IPv4Address("UDP", "10.0.0.2", 5353)),
        )
        self.assertEqual(rest, b"")

    def test_ports_are_big_endian(self) -> None:
        header, _ = assert_accepts(self, v2(0x21, 0x11, bytes(8) + b"\x00\x00\xff\xff"))
        self.assertEqual(
            addresses(header),
            (IPv4Address("TCP", "0.0.0.0", 0), IPv4Address("TCP", "0.0.0.0", 65535)),
        )
        header, _ = assert_accepts(self, v2(0x21, 0x11, bytes(8) + b"\x01\x02\x03\x04"))
        self.assertEqual(header.source, IPv4Address("TCP", "0.0.0.0", 0x0102))
        self.assertEqual(header.destination, IPv4Address("TCP", "0.0.0.0", 0x0304))

    def test_tcp6_canonical(self) -> None:
        block = bytes.fromhex(
            "20010db8000000000000000000000001"  # 2001:db8::1
            "fe80000000000000000000000000000a"  # fe80::a
            "0050"
            "01bb"
        )
        header, _ = assert_accepts(self, v2(0x21, 0x21, block))
        self.assertIs(header.family, Family.INET6)
        self.assertIs(header.transport, Transport.STREAM)
        self.assertEqual(
            addresses(header),
            (IPv6Address("TCP", "2001:db8::1", 80), IPv6Address("TCP", "fe80::a", 443)),
        )

    def test_udp6_v4_mapped(self) -> None:
        block = bytes.fromhex(
            "00000000000000000000ffff01020304"  # ::ffff:1.2.3.4
            "00000000000000000000000000000001"  # ::1
            "1234"
            "0000"
        )
        header, _ = assert_accepts(self, v2(0x21, 0x22, block))
        self.assertIs(header.transport, Transport.DGRAM)
        self.assertEqual(
            addresses(header),
            (IPv6Address("UDP", "::ffff:1.2.3.4", 0x1234), IPv6Address("UDP", "::1", 0)),
        )

    def test_unix_stream(self) -> None:
        data = v2(0x21, 0x31, unix(b"/var/run/client.sock", b"/var/run/haproxy.sock"))
        self.assertEqual(len(data), 16 + 216)
        header, rest = assert_accepts(self, data + b"tail")
        self.assertIs(header.family, Family.UNIX)
        self.assertIs(header.transport, Transport.STREAM)
        assert isinstance(header.source, UNIXAddress)
        assert isinstance(header.destination, UNIXAddress)
        self.assertEqual(header.source.name, b"/var/run/client.sock")
        self.assertEqual(header.destination.name, b"/var/run/haproxy.sock")
        self.assertEqual(rest, b"tail")

    def test_unix_dgram_abstract(self) -> None:
        """A Linux abstract name keeps its leading NUL; trailing padding goes."""
        data = v2(0x21, 0x32, unix(b"\0name", b"\0other\0x"))
        header, _ = assert_accepts(self, data)
        self.assertIs(header.transport, Transport.DGRAM)
        assert isinstance(header.source, UNIXAddress)
        assert isinstance(header.destination, UNIXAddress)
        self.assertEqual(header.source.name, b"\0name")
        self.assertEqual(header.destination.name, b"\0other\0x")

    def test_unix_unnamed(self) -> None:
        """All NULs is an unnamed socket (empty name), not an abstract one."""
        data = v2(0x21, 0x31, bytes(108) + unix(b"\0x", b"")[:108])
        header, _ = assert_accepts(self, data)
        assert isinstance(header.source, UNIXAddress)
        assert isinstance(header.destination, UNIXAddress)
        self.assertEqual(header.source.name, b"")
        self.assertEqual(header.destination.name, b"\0x")

    def test_unix_full_length(self) -> None:
        """A 108-byte path has no NUL terminator at all."""
        path = b"/" + b"p" * 107
        header, _ = assert_accepts(self, v2(0x21, 0x31, unix(path, b"/s")))
        assert isinstance(header.source, UNIXAddress)
        assert isinstance(header.destination, UNIXAddress)
        self.assertEqual(header.source.name, path)
        self.assertEqual(header.destination.name, b"/s")

    def test_unix_garbage_after_nul(self) -> None:
        """A path ends at its first NUL; what follows in the 108 bytes is padding."""
        header, _ = assert_accepts(self, v2(0x21, 0x31, unix(b"/a\0junk", b"/b")))
        assert isinstance(header.source, UNIXAddress)
        self.assertEqual(header.source.name, b"/a")

    def test_local(self) -> None:
        header, rest = assert_accepts(self, V2_SIG + bytes.fromhex("20 00 0000") + b"x")
        self.assertEqual(
            header,
            ProxyHeader(2, Command.LOCAL, Family.UNSPEC, Transport.UNSPEC, None, None, ()),
        )
        self.assertTrue(header.uses_real_addresses)
        self.assertEqual(rest, b"x")

    def test_local_skips_whole_length(self) -> None:
        """
        LOCAL: the receiver uses the real endpoints and skips C{len} bytes
        whatever the family byte says, addresses and all.
        """
        for fam, body in (
            (0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)),
            (0x11, b""),
            (0x21, b"\x01"),
            (0x00, b"\xff" * 40),
            (0x41, b"abcde"),
            (0x13, b""),
            (0xFF, b"\x00\x01\x02"),
            (0x31, b"x" * 300),
        ):
            header, rest = assert_accepts(self, v2(0x20, fam, body) + b"payload")
            self.assertIs(header.command, Command.LOCAL)
            self.assertIsNone(header.source)
            self.assertIsNone(header.destination)
            self.assertEqual(header.tlvs, ())
            self.assertEqual(rest, b"payload")

    def test_proxy_unspec(self) -> None:
        header, rest = assert_accepts(self, V2_SIG + bytes.fromhex("21 00 0000") + b"data")
        self.assertEqual(
            header,
            ProxyHeader(2, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, ()),
        )
        self.assertTrue(header.uses_real_addresses)
        self.assertEqual(rest, b"data")

    def test_tlvs_after_addresses(self) -> None:
        data = v2(
            0x21,
            0x11,
            inet4("1.2.3.4", "5.6.7.8", 1, 2) + tlv(0x04, b"") + tlv(0x01, b"h2"),
        )
        header, _ = assert_accepts(self, data)
        self.assertEqual(header.tlvs, (TLV(0x04, b""), TLV(0x01, b"h2")))

    def test_second_header_is_data(self) -> None:
        """After the header, another header (or anything) is application data."""
        second = v2(0x21, 0x11, inet4("9.9.9.9", "8.8.8.8", 9, 8))
        header, rest = assert_accepts(self, TCP4_HEADER + second + b"GET")
        self.assertEqual(header.source, IPv4Address("TCP", "192.168.0.1", 56324))
        self.assertEqual(rest, second + b"GET")
        header, rest = assert_accepts(self, TCP4_HEADER + b"PROXY UNKNOWN\r\n")
        self.assertEqual(rest, b"PROXY UNKNOWN\r\n")

    def test_length_beyond_address_block(self) -> None:
        """Length covers the address block and the TLVs; extra length is TLVs."""
        data = v2(0x21, 0x21, inet6("::1", "::2", 1, 2) + tlv(0xE5, b"abc"))
        header, _ = assert_accepts(self, data)
        self.assertEqual(header.tlvs, (TLV(0xE5, b"abc"),))

    def test_versions_2_only(self) -> None:
        header, _ = assert_accepts(self, TCP4_HEADER, versions=(2,))
        self.assertEqual(header.version, 2)


class SignatureTests(SynchronousTestCase):
    def test_signature_bytes(self) -> None:
        self.assertEqual(V2_SIG, b"\r\n\r\n\x00\r\nQUIT\n")

    def test_bad_signature_byte(self) -> None:
        """Any byte of the signature that differs rejects the data at once."""
        for i in range(12):
            bad = bytearray(V2_SIG[: i + 1])
            bad[i] ^= 0x40
            error = assert_rejects_at_last_byte(self, bytes(bad), Rule.SIGNATURE)
            self.assertIsInstance(error, NotProxyHeader)

    def test_signature_prefixes_incomplete(self) -> None:
        for k in range(1, 16):
            incomplete = self.assertRaises(IncompleteHeader, parse_header, TCP4_HEADER[:k])
            self.assertEqual(incomplete.needed, 16 - k)
        for k in range(16, len(TCP4_HEADER)):
            incomplete = self.assertRaises(IncompleteHeader, parse_header, TCP4_HEADER[:k])
            self.assertEqual(incomplete.needed, len(TCP4_HEADER) - k)

    def test_http_after_crlf(self) -> None:
        error = assert_rejects(self, b"\r\nGET / HTTP/1.1\r\n", Rule.SIGNATURE)
        self.assertIsInstance(error, NotProxyHeader)


class VersionCommandTests(SynchronousTestCase):
    """The 13th byte: version 2 only, command LOCAL or PROXY only."""

    def test_version(self) -> None:
        for ver_cmd in (0x11, 0x31, 0x01, 0x10, 0xF1, 0x21 ^ 0x80):
            error = assert_rejects_at_last_byte(self, V2_SIG + bytes([ver_cmd]), Rule.V2_VERSION)
            self.assertNotIsInstance(error, NotProxyHeader)
            assert_rejects(
                self, v2(ver_cmd, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)), Rule.V2_VERSION
            )

    def test_command(self) -> None:
        for ver_cmd in (0x22, 0x23, 0x2F):
            assert_rejects_at_last_byte(self, V2_SIG + bytes([ver_cmd]), Rule.V2_COMMAND)
            assert_rejects(
                self, v2(ver_cmd, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)), Rule.V2_COMMAND
            )


class FamilyTests(SynchronousTestCase):
    """The 14th byte, for PROXY: one of 00 11 12 21 22 31 32."""

    def test_invalid(self) -> None:
        for fam in (0x01, 0x02, 0x03, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0x42, 0xFF):
            assert_rejects_at_last_byte(self, V2_SIG + bytes([0x21, fam]), Rule.V2_FAMILY)
            assert_rejects(self, v2(0x21, fam, bytes(216)), Rule.V2_FAMILY)

    def test_valid(self) -> None:
        for fam, size in ((0x00, 0), (0x11, 12), (0x12, 12), (0x21, 36), (0x22, 36)):
            header, _ = assert_accepts(self, v2(0x21, fam, bytes(size)))
            self.assertEqual((header.family << 4) | header.transport, fam)
        for fam in (0x31, 0x32):
            header, _ = assert_accepts(self, v2(0x21, fam, unix(b"/a", b"/b")))
            self.assertEqual((header.family << 4) | header.transport, fam)


class LengthTests(SynchronousTestCase):
    """The length must cover the address block, and not exceed the cap."""

    def test_short_for_family(self) -> None:
        """Rejected as soon as the 16th byte, the end of the length, arrives."""
        for fam, size in ((0x11, 12), (0x12, 12), (0x21, 36), (0x22, 36), (0x31, 216), (0x32, 216)):
            for length in (0, size - 1):
                head = V2_SIG + bytes([0x21, fam]) + length.to_bytes(2, "big")
                self.assertEqual(len(head), 16)
                assert_rejects_at_last_byte(self, head, Rule.V2_LENGTH_SHORT)
                assert_rejects(self, head + bytes(length), Rule.V2_LENGTH_SHORT)

    def test_exact_length_incomplete(self) -> None:
        head = V2_SIG + bytes.fromhex("2131 00d8")
        incomplete = self.assertRaises(IncompleteHeader, parse_header, head)
        self.assertEqual(incomplete.needed, 216)

    def test_default_cap(self) -> None:
        self.assertEqual(DEFAULT_MAX_V2_LENGTH, 16384 - 16)
        at_cap = V2_SIG + b"\x21\x11" + DEFAULT_MAX_V2_LENGTH.to_bytes(2, "big")
        incomplete = self.assertRaises(IncompleteHeader, parse_header, at_cap)
        self.assertEqual(incomplete.needed, DEFAULT_MAX_V2_LENGTH)
        parser = HeaderParser()
        self.assertIsNone(parser.feed(at_cap))
        self.assertEqual(parser.needed, DEFAULT_MAX_V2_LENGTH)
        for length in (DEFAULT_MAX_V2_LENGTH + 1, 0xFFFF):
            head = V2_SIG + b"\x21\x11" + length.to_bytes(2, "big")
            assert_rejects_at_last_byte(self, head, Rule.V2_LENGTH_CAP)

    def test_header_at_default_cap(self) -> None:
        body = inet4("1.2.3.4", "5.6.7.8", 1, 2) + tlv(0x04, bytes(DEFAULT_MAX_V2_LENGTH - 15))
        self.assertEqual(len(body), DEFAULT_MAX_V2_LENGTH)
        header, rest = assert_accepts(self, v2(0x21, 0x11, body) + b"r")
        self.assertEqual(len(header.noop or b""), DEFAULT_MAX_V2_LENGTH - 15)
        self.assertEqual(rest, b"r")

    def test_custom_cap(self) -> None:
        body = inet4("1.2.3.4", "5.6.7.8", 1, 2) + tlv(0x04, bytes(85))
        self.assertEqual(len(body), 100)
        header, _ = assert_accepts(self, v2(0x21, 0x11, body), max_v2_length=100)
        self.assertEqual(header.noop, bytes(85))
        assert_rejects_at_last_byte(
            self, V2_SIG + bytes.fromhex("2111 0065"), Rule.V2_LENGTH_CAP, max_v2_length=100
        )
        assert_rejects(
            self,
            v2(0x21, 0x11, body + b"\x04\x00\x00"),
            Rule.V2_LENGTH_CAP,
            max_v2_length=100,
        )

    def test_cap_applies_to_local(self) -> None:
        assert_rejects_at_last_byte(
            self, V2_SIG + bytes.fromhex("2000 0011"), Rule.V2_LENGTH_CAP, max_v2_length=16
        )
        assert_accepts(self, v2(0x20, 0x00, bytes(16)), max_v2_length=16)

    def test_cap_below_address_block(self) -> None:
        """A cap smaller than the address block still rejects for the cap."""
        assert_rejects_at_last_byte(
            self, V2_SIG + bytes.fromhex("2121 0024"), Rule.V2_LENGTH_CAP, max_v2_length=12
        )

    def test_bad_cap(self) -> None:
        self.assertRaises(ValueError, HeaderParser, max_v2_length=-1)
        self.assertRaises(ValueError, HeaderParser, max_v2_length=0x10000)


class TLVTilingTests(SynchronousTestCase):
    """TLVs must fill the space after the address block exactly."""

    ADDR = ADDR4

    def test_stray_bytes(self) -> None:
        for stray in (b"\x01", b"\x01\x00", b"\x00\x00"):
            assert_rejects(self, v2(0x21, 0x11, self.ADDR + stray), Rule.V2_TLV_TRUNCATED)
            assert_rejects(
                self,
                v2(0x21, 0x11, self.ADDR + tlv(0x01, b"h2") + stray),
                Rule.V2_TLV_TRUNCATED,
            )

    def test_value_overruns(self) -> None:
        for body in (
            self.ADDR + b"\x01\x00\x03h2",
            self.ADDR + b"\x01\x00\x01",
            self.ADDR + b"\x04\xff\xff" + bytes(10),
            self.ADDR + tlv(0x04, b"") + b"\x02\x00\x05abcd",
        ):
            assert_rejects(self, v2(0x21, 0x11, body), Rule.V2_TLV_TRUNCATED)

    def test_overrun_into_payload(self) -> None:
        """Bytes after the header never complete a TLV of the header."""
        data = v2(0x21, 0x11, self.ADDR + b"\x01\x00\x02h") + b"2"
        assert_rejects(self, data, Rule.V2_TLV_TRUNCATED)

    def test_unspec_tlvs(self) -> None:
        assert_rejects(self, v2(0x21, 0x00, b"\x01\x00"), Rule.V2_TLV_TRUNCATED)
        header, _ = assert_accepts(self, v2(0x21, 0x00, tlv(0x01, b"h2")))
        self.assertEqual(header.alpn, b"h2")
        self.assertIsNone(header.source)

    def test_exact_tiling(self) -> None:
        body = self.ADDR + tlv(0x04, b"") + tlv(0x04, b"") + tlv(0xFF, bytes(300))
        header, _ = assert_accepts(self, v2(0x21, 0x11, body))
        self.assertEqual(header.tlvs, (TLV(0x04, b""), TLV(0x04, b""), TLV(0xFF, bytes(300))))


class CRC32CTests(SynchronousTestCase):
    """PP2_TYPE_CRC32C (spec 2.2.3): 4 bytes, and it must match."""

    def test_check_value(self) -> None:
        """The CRC32C (Castagnoli) check value."""
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)

    def test_known_good(self) -> None:
        header, rest = assert_accepts(self, TCP4_CRC_HEADER + b"\x00payload")
        self.assertEqual(header.crc32c, TCP4_CRC)
        self.assertEqual(header.tlvs, (TLV(0x03, bytes.fromhex("1c1ae9c6")),))
        self.assertEqual(header.source, IPv4Address("TCP", "192.168.0.1", 56324))
        self.assertEqual(rest, b"\x00payload")

    def test_known_good_with_alpn(self) -> None:
        header, _ = assert_accepts(self, TCP4_ALPN_CRC_HEADER)
        self.assertEqual(header.alpn, b"h2")
        self.assertEqual(header.crc32c, 0x76323A48)

    def test_known_good_matches_independent_crc(self) -> None:
        """The literal headers above agree with a checksum computed here."""
        zeroed = TCP4_CRC_HEADER[:-4] + b"\0\0\0\0"
        self.assertEqual(crc32c(zeroed), TCP4_CRC)
        self.assertEqual(seal_crc32c(zeroed, len(zeroed) - 4), TCP4_CRC_HEADER)

    def test_crc_first(self) -> None:
        """The checksum field may sit before other TLVs."""
        body = inet6("::1", "::2", 1, 2) + tlv(0x03, bytes(4)) + tlv(0x02, b"example.com")
        data = seal_crc32c(v2(0x21, 0x21, body), 16 + 36 + 3)
        header, _ = assert_accepts(self, data)
        self.assertEqual(header.authority, "example.com")
        self.assertEqual(header.crc32c, int.from_bytes(data[55:59], "big"))

    def test_mismatch(self) -> None:
        """Flip any single bit of the header: the checksum no longer matches."""
        for position in (16, 17, 27, len(TCP4_CRC_HEADER) - 4, len(TCP4_CRC_HEADER) - 1):
            bad = bytearray(TCP4_CRC_HEADER)
            bad[position] ^= 0x01
            assert_rejects(self, bytes(bad), Rule.V2_CRC32C_MISMATCH)
        assert_rejects(self, TCP4_CRC_HEADER[:-4] + b"\0\0\0\0", Rule.V2_CRC32C_MISMATCH)

    def test_mismatch_in_tlv(self) -> None:
        bad = bytearray(TCP4_ALPN_CRC_HEADER)
        bad[32] = ord("3")  # "h2" -> "h3"
        self.assertEqual(bytes(bad[28:33]), b"\x01\x00\x02h3")
        assert_rejects(self, bytes(bad), Rule.V2_CRC32C_MISMATCH)

    def test_length(self) -> None:
        addr = inet4("1.2.3.4", "5.6.7.8", 1, 2)
        for value in (b"", b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00\x00", bytes(8)):
            assert_rejects(self, v2(0x21, 0x11, addr + tlv(0x03, value)), Rule.V2_CRC32C_LENGTH)

    def test_duplicate(self) -> None:
        body = inet4("1.2.3.4", "5.6.7.8", 1, 2) + tlv(0x03, bytes(4)) + tlv(0x03, bytes(4))
        assert_rejects(self, v2(0x21, 0x11, body), Rule.V2_CRC32C_DUPLICATE)


class SSLShapeTests(SynchronousTestCase):
    """PP2_TYPE_SSL: at least client (1) and verify (4); sub-TLVs tile the rest."""

    ADDR = ADDR4

    def test_short(self) -> None:
        for value in (b"", b"\x01", b"\x01\x00\x00\x00"):
            assert_rejects(self, v2(0x21, 0x11, self.ADDR + tlv(0x20, value)), Rule.V2_SSL_SHORT)

    def test_fixed_part_only(self) -> None:
        header, _ = assert_accepts(self, v2(0x21, 0x11, self.ADDR + tlv(0x20, b"\x01\0\0\0\0")))
        ssl = header.ssl
        assert ssl is not None
        self.assertEqual((ssl.client, ssl.verify, ssl.tlvs), (1, 0, ()))

    def test_sub_tlvs_truncated(self) -> None:
        for subs in (
            b"\x21",
            b"\x21\x00",
            b"\x21\x00\x07TLSv1.",
            b"\x21\x00\x07TLSv1.3\x22",
            b"\x21\x00\x07TLSv1.3\x22\x00\x05abc",
        ):
            value = b"\x01\x00\x00\x00\x00" + subs
            assert_rejects(
                self, v2(0x21, 0x11, self.ADDR + tlv(0x20, value)), Rule.V2_SSL_TRUNCATED
            )

    def test_sub_tlvs_tile(self) -> None:
        value = b"\x07\x00\x00\x00\x00" + b"\x21\x00\x07TLSv1.3" + b"\x22\x00\x00"
        header, _ = assert_accepts(self, v2(0x21, 0x11, self.ADDR + tlv(0x20, value)))
        ssl = header.ssl
        assert ssl is not None
        self.assertEqual(ssl.tlvs, (TLV(0x21, b"TLSv1.3"), TLV(0x22, b"")))


class VersionsAcceptedTests(SynchronousTestCase):
    def test_v2_when_only_v1(self) -> None:
        """Rejected once the signature and version nibble are in."""
        error = assert_rejects_at_last_byte(
            self, V2_SIG + b"\x21", Rule.VERSION_NOT_ACCEPTED, versions=(1,)
        )
        self.assertIsInstance(error, InvalidHeader)
        assert_rejects(self, TCP4_HEADER, Rule.VERSION_NOT_ACCEPTED, versions=(1,))

    def test_v1_when_only_v2(self) -> None:
        assert_rejects_at_last_byte(self, b"PROXY", Rule.VERSION_NOT_ACCEPTED, versions=(2,))
        assert_rejects(
            self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Rule.VERSION_NOT_ACCEPTED, versions=(2,)
        )
        assert_rejects(self, b"PROXY UNKNOWN\r\n", Rule.VERSION_NOT_ACCEPTED, versions=(2,))

    def test_both(self) -> None:
        assert_accepts(self, TCP4_HEADER, versions=(1, 2))
        assert_accepts(self, b"PROXY UNKNOWN\r\n", versions=[2, 1])

    def test_bad_versions(self) -> None:
        for versions in ((), (3,), (1, 3), (0,)):
            self.assertRaises(ValueError, HeaderParser, versions=versions)


class BuilderDefectTests(SynchronousTestCase):
    """Issue 11 item 7: builders raise instead of dropping what they cannot encode."""

    def test_local_v1_with_tlvs_raises(self) -> None:
        error = self.assertRaises(ValueError, ProxyHeader.local, version=1, tlvs=[TLV(0x01, b"h2")])
        self.assertIn("v1", str(error))
        self.assertEqual(ProxyHeader.local(version=1).to_bytes(), b"PROXY UNKNOWN\r\n")

    def test_local_bad_version_raises(self) -> None:
        for version in (0, 3):
            error = self.assertRaises(ValueError, ProxyHeader.local, version=version)
            self.assertIn(str(version), str(error))

    def test_v1_crc32c_raises(self) -> None:
        v1 = ProxyHeader.proxy(
            IPv4Address("TCP", "1.2.3.4", 1), IPv4Address("TCP", "5.6.7.8", 2), version=1
        )
        self.assertRaises(ValueError, v1.to_bytes, crc32c=True)
        self.assertRaises(ValueError, ProxyHeader.local(version=1).to_bytes, crc32c=True)
        self.assertEqual(v1.to_bytes(), b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")


class ParserReuseTests(SynchronousTestCase):
    """Issue 11 item 7: a HeaderParser reads one header, then refuses more bytes."""

    def test_after_a_header(self) -> None:
        line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
        parser = HeaderParser()
        self.assertIs(parser.state, ParserState.START)
        result = parser.feed(line)
        assert result is not None
        self.assertIs(parser.state, ParserState.DONE)
        error = self.assertRaises(RuntimeError, parser.feed, line)
        self.assertIn("one header", str(error))
        self.assertRaises(RuntimeError, parser.feed, b"")

    def test_after_an_error(self) -> None:
        parser = HeaderParser()
        self.assertRaises(InvalidHeader, parser.feed, b"GET / HTTP/1.1\r\n")
        self.assertIs(parser.state, ParserState.FAILED)
        self.assertRaises(RuntimeError, parser.feed, b"PROXY UNKNOWN\r\n")

    def test_states_while_reading(self) -> None:
        parser = HeaderParser()
        parser.feed(b"PROXY ")
        self.assertIs(parser.state, ParserState.V1)
        parser = HeaderParser()
        parser.feed(V2_SIG + b"\x21\x11\x00\x0c")
        self.assertIs(parser.state, ParserState.V2)

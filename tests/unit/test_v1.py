"""
PROXY protocol v1, the text header (spec section 2.1): every rule, accepted
and rejected, byte-exact, whole and one byte at a time.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import HeaderParser, IncompleteHeader, InvalidHeader, ProxyHeader, parse_header
from pptwisted.codec import Command, Family, NotProxyHeader, Rule, Transport

from ..helpers import assert_accepts, assert_rejects, assert_rejects_at_last_byte, feed_bytewise


def tcp4(src: str, dst: str, sport: int, dport: int) -> ProxyHeader:
    return ProxyHeader(
        1,
        Command.PROXY,
        Family.INET,
        Transport.STREAM,
        IPv4Address("TCP", src, sport),
        IPv4Address("TCP", dst, dport),
        (),
    )


def tcp6(src: str, dst: str, sport: int, dport: int) -> ProxyHeader:
    return ProxyHeader(
        1,
        Command.PROXY,
        Family.INET6,
        Transport.STREAM,
        IPv6Address("TCP", src, sport),
        IPv6Address("TCP", dst, dport),
        (),
    )


UNKNOWN = ProxyHeader(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, ())

# The spec's longest lines (section 2.1).
TCP4_LONGEST = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
TCP6_LONGEST = (
    b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    b" ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)
UNKNOWN_LONGEST = (
    b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    b" ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)
# A valid TCP6 line of exactly 107 bytes (addresses with an IPv4 tail are
# longer than 39 characters) ...
TCP6_107 = (
    b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.25"
    b" ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65535\r\n"
)
# ... and one byte longer: no CRLF within the first 107 bytes.
TCP6_108 = (
    b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
    b" ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65535\r\n"
)


class AcceptTests(SynchronousTestCase):
    """Valid v1 lines and what they parse to."""

    def test_tcp4(self) -> None:
        header, rest = assert_accepts(
            self, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"
        )
        self.assertEqual(header, tcp4("192.168.0.1", "192.168.0.11", 56324, 443))
        self.assertEqual(rest, b"GET / HTTP/1.1\r\n")
        self.assertEqual(header.version, 1)
        self.assertIs(header.command, Command.PROXY)
        self.assertIs(header.family, Family.INET)
        self.assertIs(header.transport, Transport.STREAM)
        self.assertEqual(header.tlvs, ())
        self.assertFalse(header.uses_real_addresses)

    def test_tcp4_longest(self) -> None:
        self.assertEqual(len(TCP4_LONGEST), 56)
        header, rest = assert_accepts(self, TCP4_LONGEST)
        self.assertEqual(header, tcp4("255.255.255.255", "255.255.255.255", 65535, 65535))
        self.assertEqual(rest, b"")

    def test_tcp4_octet_and_port_bounds(self) -> None:
        header, _ = assert_accepts(self, b"PROXY TCP4 0.0.0.0 10.200.249.255 0 65535\r\n")
        self.assertEqual(header, tcp4("0.0.0.0", "10.200.249.255", 0, 65535))

    def test_ports(self) -> None:
        for port in (b"0", b"1", b"9", b"10", b"99", b"100", b"999", b"1000", b"9999"):
            for text in (b"10000", b"59999", b"60000", b"65499", b"65529", b"65535", port):
                line = b"PROXY TCP4 1.2.3.4 5.6.7.8 " + port + b" " + text + b"\r\n"
                header, _ = assert_accepts(self, line)
                self.assertEqual(header, tcp4("1.2.3.4", "5.6.7.8", int(port), int(text)))

    def test_tcp6(self) -> None:
        header, rest = assert_accepts(self, b"PROXY TCP6 2001:db8::1 ::1 1 2\r\nrest")
        self.assertEqual(header, tcp6("2001:db8::1", "::1", 1, 2))
        self.assertEqual(rest, b"rest")
        self.assertIs(header.family, Family.INET6)

    def test_tcp6_canonical_text(self) -> None:
        """Addresses come out in compressed lower-case form (RFC 5952)."""
        header, _ = assert_accepts(
            self, b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 FE80:0000::00A 80 443\r\n"
        )
        self.assertEqual(header, tcp6("2001:db8::1", "fe80::a", 80, 443))

    def test_tcp6_v4_mapped(self) -> None:
        header, _ = assert_accepts(self, b"PROXY TCP6 ::ffff:1.2.3.4 ::FFFF:10.0.0.1 1 2\r\n")
        self.assertEqual(header, tcp6("::ffff:1.2.3.4", "::ffff:10.0.0.1", 1, 2))

    def test_tcp6_unspecified(self) -> None:
        header, _ = assert_accepts(self, b"PROXY TCP6 :: :: 0 0\r\n")
        self.assertEqual(header, tcp6("::", "::", 0, 0))

    def test_tcp6_longest(self) -> None:
        self.assertEqual(len(TCP6_LONGEST), 104)
        header, _ = assert_accepts(self, TCP6_LONGEST)
        all_ones = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        self.assertEqual(header, tcp6(all_ones, all_ones, 65535, 65535))

    def test_tcp6_107_bytes(self) -> None:
        """A line of exactly 107 bytes, CRLF included, is accepted."""
        self.assertEqual(len(TCP6_107), 107)
        header, rest = assert_accepts(self, TCP6_107 + b"x")
        self.assertEqual(
            header,
            tcp6(
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff19",
                "ffff:ffff:ffff:ffff:ffff:ffff:102:304",
                65535,
                65535,
            ),
        )
        self.assertEqual(rest, b"x")

    def test_unknown_short(self) -> None:
        """C{PROXY UNKNOWN\\r\\n}, what HAProxy sends."""
        header, rest = assert_accepts(self, b"PROXY UNKNOWN\r\nHELO")
        self.assertEqual(header, UNKNOWN)
        self.assertIsNone(header.source)
        self.assertIsNone(header.destination)
        self.assertTrue(header.uses_real_addresses)
        self.assertEqual(rest, b"HELO")

    def test_unknown_anything(self) -> None:
        """For UNKNOWN the receiver ignores anything before the CRLF."""
        for line in (
            b"PROXY UNKNOWN anything here\r\n",
            b"PROXY UNKNOWN \r\n",
            b"PROXY UNKNOWN  double  spaces \r\n",
            b"PROXY UNKNOWN 999.1.1.1 nonsense -1 +65536\r\n",
            b"PROXY UNKNOWN \x00\x7f\xff\tbinary\r\n",
            UNKNOWN_LONGEST,
        ):
            header, rest = assert_accepts(self, line + b"tail")
            self.assertEqual(header, UNKNOWN, line)
            self.assertEqual(rest, b"tail")

    def test_unknown_longest(self) -> None:
        self.assertEqual(len(UNKNOWN_LONGEST), 107)
        header, _ = assert_accepts(self, UNKNOWN_LONGEST)
        self.assertEqual(header, UNKNOWN)

    def test_rest_untouched(self) -> None:
        """Bytes after the CRLF are returned as they are, binary included."""
        payload = b"\x00\xff\r\n\r\n\x00\r\nQUIT\nPROXY"
        header, rest = assert_accepts(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + payload)
        self.assertEqual(header, tcp4("1.2.3.4", "5.6.7.8", 1, 2))
        self.assertEqual(rest, payload)

    def test_second_header_is_data(self) -> None:
        """Only the first header belongs to this hop; a second one is data."""
        second = b"PROXY TCP4 9.9.9.9 8.8.8.8 9 8\r\n"
        header, rest = assert_accepts(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + second + b"x")
        self.assertEqual(header, tcp4("1.2.3.4", "5.6.7.8", 1, 2))
        self.assertEqual(rest, second + b"x")
        header, rest = assert_accepts(self, b"PROXY UNKNOWN\r\n" + second)
        self.assertEqual(header, UNKNOWN)
        self.assertEqual(rest, second)

    def test_split_crlf(self) -> None:
        """A CR at the end of one read and the LF in the next make a CRLF."""
        parser = HeaderParser()
        self.assertIsNone(parser.feed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"))
        self.assertEqual(parser.needed, 1)
        self.assertEqual(parser.feed(b"\nabc"), (tcp4("1.2.3.4", "5.6.7.8", 1, 2), b"abc"))

    def test_versions_1_only(self) -> None:
        header, _ = assert_accepts(self, b"PROXY UNKNOWN\r\n", versions=(1,))
        self.assertEqual(header, UNKNOWN)


class SeparatorTests(SynchronousTestCase):
    """Exactly one space between fields, none before or after."""

    def test_double_space(self) -> None:
        for line in (
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
            b"PROXY TCP6 ::1  ::2 1 2\r\n",
            b"PROXY  UNKNOWN\r\n",
        ):
            assert_rejects(self, line, Rule.V1_SEPARATOR)

    def test_trailing_space(self) -> None:
        """After the destination port only CRLF may come: a space makes a 7th field."""
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", Rule.V1_FIELD_COUNT)

    def test_leading_space(self) -> None:
        error = assert_rejects(self, b" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Rule.SIGNATURE)
        self.assertIsInstance(error, NotProxyHeader)

    def test_no_space_after_proxy(self) -> None:
        assert_rejects(self, b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", Rule.V1_SEPARATOR)

    def test_tab(self) -> None:
        assert_rejects(self, b"PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", Rule.V1_FAMILY)
        assert_rejects(self, b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", Rule.V1_IPV4)

    def test_space_before_crlf_only(self) -> None:
        assert_rejects(self, b"PROXY \r\n", Rule.V1_SEPARATOR)


class FamilyTests(SynchronousTestCase):
    """TCP4, TCP6 or UNKNOWN, upper case."""

    def test_unknown_families(self) -> None:
        for family in (
            b"tcp4",
            b"Tcp4",
            b"TCP5",
            b"UDP4",
            b"TCP",
            b"TCP46",
            b"unknown",
            b"UNKNOWn",
        ):
            assert_rejects(self, b"PROXY " + family + b" 1.2.3.4 5.6.7.8 1 2\r\n", Rule.V1_FAMILY)

    def test_unknown_glued(self) -> None:
        assert_rejects(self, b"PROXY UNKNOWNX\r\n", Rule.V1_FAMILY)

    def test_family_alone(self) -> None:
        assert_rejects(self, b"PROXY TCP4\r\n", Rule.V1_FIELD_COUNT)
        assert_rejects(self, b"PROXY TCP6\r\n", Rule.V1_FIELD_COUNT)


class KeywordTests(SynchronousTestCase):
    """The line starts with exactly C{PROXY}."""

    def test_lower_case(self) -> None:
        error = assert_rejects(self, b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Rule.SIGNATURE)
        self.assertIsInstance(error, NotProxyHeader)

    def test_misspelt(self) -> None:
        for line in (b"PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXy UNKNOWN\r\n"):
            error = assert_rejects(self, line, Rule.SIGNATURE)
            self.assertIsInstance(error, NotProxyHeader)

    def test_http(self) -> None:
        error = assert_rejects(self, b"GET / HTTP/1.1\r\n", Rule.SIGNATURE)
        self.assertIsInstance(error, NotProxyHeader)

    def test_post(self) -> None:
        """
        C{PR} and C{PRO} may still become C{PROXY}; C{PO} cannot (the second
        letter of C{PROXY} is R), so C{PO} and C{POST} are not PROXY headers.
        """
        for prefix in (b"P", b"PR", b"PRO", b"PROX"):
            incomplete = self.assertRaises(IncompleteHeader, parse_header, prefix)
            self.assertEqual(incomplete.needed, 15 - len(prefix))
            parser = HeaderParser()
            self.assertIsNone(parser.feed(prefix))
            self.assertEqual(parser.needed, 15 - len(prefix))
        for data in (b"PO", b"POST", b"POST / HTTP/1.1\r\n"):
            error = self.assertRaises(NotProxyHeader, parse_header, data)
            self.assertEqual(error.rule, Rule.SIGNATURE)
        assert_rejects_at_last_byte(self, b"PO", Rule.SIGNATURE)
        assert_rejects_at_last_byte(self, b"PROXx", Rule.SIGNATURE)

    def test_tls_client_hello(self) -> None:
        error = assert_rejects(
            self, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", Rule.SIGNATURE
        )
        self.assertIsInstance(error, NotProxyHeader)

    def test_empty(self) -> None:
        incomplete = self.assertRaises(IncompleteHeader, parse_header, b"")
        self.assertGreaterEqual(incomplete.needed, 1)
        parser = HeaderParser()
        self.assertIsNone(parser.feed(b""))
        self.assertGreaterEqual(parser.needed, 1)


class IPv4Tests(SynchronousTestCase):
    """Dotted quad, octets 0-255, no leading zeros."""

    BAD = (
        b"01.2.3.4",
        b"1.2.3.04",
        b"1.02.3.4",
        b"00.0.0.0",
        b"256.1.1.1",
        b"1.1.1.256",
        b"1.300.1.1",
        b"999.1.1.1",
        b"1.2.3",
        b"1.2.3.4.5",
        b"1..2.3",
        b"1.2.3.",
        b".1.2.3",
        b"a.b.c.d",
        b"0x1.2.3.4",
        b"1.2.3.4/32",
        b"+1.2.3.4",
        b"1.2.3.-4",
        b"1234",
    )

    def test_bad_source(self) -> None:
        for address in self.BAD:
            line = b"PROXY TCP4 " + address + b" 5.6.7.8 1 2\r\n"
            assert_rejects(self, line, Rule.V1_IPV4)

    def test_bad_destination(self) -> None:
        for address in self.BAD:
            line = b"PROXY TCP4 5.6.7.8 " + address + b" 1 2\r\n"
            assert_rejects(self, line, Rule.V1_IPV4)

    def test_good(self) -> None:
        for address in (b"0.0.0.0", b"1.2.3.4", b"9.99.199.255", b"100.249.250.205"):
            header, _ = assert_accepts(self, b"PROXY TCP4 " + address + b" 1.1.1.1 1 2\r\n")
            self.assertEqual(header, tcp4(address.decode(), "1.1.1.1", 1, 2))


class IPv6Tests(SynchronousTestCase):
    """RFC 4291 text, no zone id, 128 bits exactly."""

    BAD = (
        b"fe80::1%eth0",
        b"fe80::1%1",
        b"1:2:3:4:5:6:7:8:9",
        b"1:2:3:4:5:6:7",
        b"12345::1",
        b"::g",
        b":::1",
        b"1::2::3",
        b"[::1]",
        b":1",
        b"1:",
        b"::ffff:1.2.3",
        b"::ffff:256.1.1.1",
        b"::1.2.3.4.5",
        b"1:2:3:4:5:6:7:1.2.3.4",
    )

    def test_bad_source(self) -> None:
        for address in self.BAD:
            assert_rejects(self, b"PROXY TCP6 " + address + b" ::1 1 2\r\n", Rule.V1_IPV6)

    def test_bad_destination(self) -> None:
        for address in self.BAD:
            assert_rejects(self, b"PROXY TCP6 ::1 " + address + b" 1 2\r\n", Rule.V1_IPV6)

    def test_good(self) -> None:
        for text, canonical in (
            (b"::", "::"),
            (b"::1", "::1"),
            (b"1::", "1::"),
            (b"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            (b"0001:0002::", "1:2::"),
            (b"1:0:0:2:0:0:0:3", "1:0:0:2::3"),
            (b"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            (b"::ffff:255.255.255.255", "::ffff:255.255.255.255"),
            (b"ABCD:EF01::", "abcd:ef01::"),
        ):
            header, _ = assert_accepts(self, b"PROXY TCP6 " + text + b" ::1 1 2\r\n")
            self.assertEqual(header, tcp6(canonical, "::1", 1, 2))


class FamilyMismatchTests(SynchronousTestCase):
    """The family keyword dictates the address format, both ways."""

    def test_ipv6_in_tcp4(self) -> None:
        for line in (
            b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 ::ffff:1.2.3.4 1.2.3.4 1 2\r\n",
        ):
            assert_rejects(self, line, Rule.V1_FAMILY_MISMATCH)

    def test_ipv4_in_tcp6(self) -> None:
        for line in (
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
        ):
            assert_rejects(self, line, Rule.V1_FAMILY_MISMATCH)


class SplitIndependentRuleTests(SynchronousTestCase):
    """
    The rule named is the one the shortest bad prefix breaks, whether the line
    arrives whole or one byte at a time (C{assert_rejects} checks both).
    """

    def test_bad_octet_before_colon(self) -> None:
        # One byte at a time, "256" is already no IPv4 address.
        assert_rejects(self, b"PROXY TCP4 256::1 1.2.3.4 1 2\r\n", Rule.V1_IPV4)
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 x:: 1 2\r\n", Rule.V1_IPV4)

    def test_dotted_before_junk_in_tcp6(self) -> None:
        # "4." can only be the start of an IPv4 address.
        assert_rejects(self, b"PROXY TCP6 4.x ::1 1 2\r\n", Rule.V1_FAMILY_MISMATCH)

    def test_bad_field_then_bare_line_end(self) -> None:
        assert_rejects(self, b"PROXY TCP4 256\n", Rule.V1_IPV4)
        assert_rejects(self, b"PROXY TCX\r\n", Rule.V1_FAMILY)
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\rx", Rule.V1_PORT)

    def test_space_after_last_field(self) -> None:
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \n", Rule.V1_FIELD_COUNT)
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2  \r\n", Rule.V1_FIELD_COUNT)


class PortTests(SynchronousTestCase):
    """Decimal 0-65535, no sign, no leading zeros."""

    BAD = (
        b"65536",
        b"65540",
        b"99999",
        b"100000",
        b"+1",
        b"-1",
        b"01",
        b"00",
        b"0x10",
        b"1.5",
        b"1e3",
        b"a",
    )

    def test_bad_source_port(self) -> None:
        for port in self.BAD:
            assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 " + port + b" 2\r\n", Rule.V1_PORT)

    def test_bad_destination_port(self) -> None:
        for port in self.BAD:
            assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 " + port + b"\r\n", Rule.V1_PORT)
            assert_rejects(self, b"PROXY TCP6 ::1 ::2 1 " + port + b"\r\n", Rule.V1_PORT)

    def test_bounds(self) -> None:
        header, _ = assert_accepts(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n")
        self.assertEqual(header, tcp4("1.2.3.4", "5.6.7.8", 0, 65535))


class FieldCountTests(SynchronousTestCase):
    def test_too_few(self) -> None:
        for line in (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
            b"PROXY TCP4 1.2.3.4\r\n",
            b"PROXY TCP6 ::1 ::2 1\r\n",
        ):
            assert_rejects(self, line, Rule.V1_FIELD_COUNT)

    def test_too_many(self) -> None:
        assert_rejects(self, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", Rule.V1_FIELD_COUNT)


class LineEndTests(SynchronousTestCase):
    """Only CRLF ends the line; a lone CR or LF is an error."""

    def test_bare_lf(self) -> None:
        for line in (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n",
            b"PROXY UNKNOWN\n",
            b"PROXY UNKNOWN foo\nbar\r\n",
        ):
            error = assert_rejects(self, line, Rule.V1_LINE_END)
            self.assertNotIsInstance(error, NotProxyHeader)

    def test_bare_cr(self) -> None:
        for line in (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
            b"PROXY UNKNOWN\r\r\n",
            b"PROXY UNKNOWN foo\rbar\r\n",
        ):
            assert_rejects(self, line, Rule.V1_LINE_END)

    def test_lf_cr(self) -> None:
        assert_rejects(self, b"PROXY UNKNOWN\n\r", Rule.V1_LINE_END)

    def test_trailing_cr_is_incomplete(self) -> None:
        incomplete = self.assertRaises(
            IncompleteHeader, parse_header, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"
        )
        self.assertEqual(incomplete.needed, 1)


class LengthTests(SynchronousTestCase):
    """No CRLF within the first 107 bytes: invalid."""

    def test_unknown_107_without_crlf(self) -> None:
        line = b"PROXY UNKNOWN " + b"a" * 93
        self.assertEqual(len(line), 107)
        assert_rejects_at_last_byte(self, line, Rule.V1_TOO_LONG)

    def test_unknown_107_with_crlf(self) -> None:
        line = b"PROXY UNKNOWN " + b"a" * 91 + b"\r\n"
        self.assertEqual(len(line), 107)
        self.assertEqual(assert_accepts(self, line + b"z"), (UNKNOWN, b"z"))

    def test_unknown_108(self) -> None:
        """The CRLF in bytes 107-108 is one byte too late."""
        line = b"PROXY UNKNOWN " + b"a" * 92 + b"\r\n"
        self.assertEqual(len(line), 108)
        assert_rejects(self, line, Rule.V1_TOO_LONG)
        assert_rejects(self, line + b"more data", Rule.V1_TOO_LONG)
        assert_rejects_at_last_byte(self, line[:107], Rule.V1_TOO_LONG)

    def test_tcp6_108(self) -> None:
        self.assertEqual(len(TCP6_108), 108)
        assert_rejects(self, TCP6_108, Rule.V1_TOO_LONG)
        assert_rejects(self, TCP6_108 + b"GET / HTTP/1.1\r\n", Rule.V1_TOO_LONG)

    def test_long_garbage(self) -> None:
        """However much arrives without CRLF, the 107th byte decides."""
        data = b"PROXY UNKNOWN " + b"x" * 5000
        assert_rejects(self, data, Rule.V1_TOO_LONG)
        error = self.assertRaises(InvalidHeader, HeaderParser().feed, data)
        self.assertEqual(error.rule, Rule.V1_TOO_LONG)


class EarlyDecisionTests(SynchronousTestCase):
    """
    A prefix that can no longer become a valid line is rejected at once; a
    prefix that can is incomplete, with C{needed} >= 1.
    """

    def test_invalid_prefixes(self) -> None:
        for prefix, rule in (
            (b"PROXY TCP5", Rule.V1_FAMILY),
            (b"PROXY t", Rule.V1_FAMILY),
            (b"PROXY X", Rule.V1_FAMILY),
            (b"PROXY UNKNOWNX", Rule.V1_FAMILY),
            (b"PROXY  ", Rule.V1_SEPARATOR),
            (b"PROXYT", Rule.V1_SEPARATOR),
            (b"PROXY TCP4 256", Rule.V1_IPV4),
            (b"PROXY TCP4 01", Rule.V1_IPV4),
            (b"PROXY TCP4 1.2.3.4.", Rule.V1_IPV4),
            (b"PROXY TCP4 1.2.3.4 01", Rule.V1_IPV4),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01", Rule.V1_PORT),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536", Rule.V1_PORT),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +", Rule.V1_PORT),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -", Rule.V1_PORT),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", Rule.V1_FIELD_COUNT),
            (b"PROXY TCP4 1:", Rule.V1_FAMILY_MISMATCH),
            (b"PROXY TCP6 1.", Rule.V1_FAMILY_MISMATCH),
            (b"PROXY TCP6 fe80::1%", Rule.V1_IPV6),
            (b"PROXY TCP6 :::", Rule.V1_IPV6),
            (b"PROXY TCP6 12345", Rule.V1_IPV6),
            (b"PROXY TCP6 g", Rule.V1_IPV6),
            (b"PROXY TCP4 1.2.3.4\n", Rule.V1_LINE_END),
            (b"PROXY UNKNOWN\n", Rule.V1_LINE_END),
            (b"PROXY UNKNOWN foo\rb", Rule.V1_LINE_END),
        ):
            error = assert_rejects_at_last_byte(self, prefix, rule)
            self.assertNotIsInstance(error, NotProxyHeader)

    def test_valid_prefixes(self) -> None:
        for line in (
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            TCP4_LONGEST,
            TCP6_LONGEST,
            TCP6_107,
            b"PROXY TCP6 ::ffff:1.2.3.4 :: 0 0\r\n",
            b"PROXY UNKNOWN\r\n",
            UNKNOWN_LONGEST,
        ):
            for k in range(len(line)):
                incomplete = self.assertRaises(IncompleteHeader, parse_header, line[:k])
                self.assertGreaterEqual(incomplete.needed, 1)
                self.assertLessEqual(incomplete.needed, len(line) - k, line[:k])
            feed_bytewise(line)

    def test_needed_after_proxy(self) -> None:
        """Before the family is known, the shortest line is C{PROXY UNKNOWN\\r\\n}."""
        incomplete = self.assertRaises(IncompleteHeader, parse_header, b"PROXY")
        self.assertEqual(incomplete.needed, 10)
        incomplete = self.assertRaises(IncompleteHeader, parse_header, b"P")
        self.assertEqual(incomplete.needed, 14)

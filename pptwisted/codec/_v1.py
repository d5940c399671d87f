"""
The PROXY protocol v1 text header (spec section 2.1).

The grammar is written as small named regular expressions, one per rule of
the spec, so that it can be checked against the text line by line (the way
h11 writes RFC 9110's ABNF)::

    PROXY SP ( TCP4 | TCP6 | UNKNOWN ) SP src SP dst SP sport SP dport CRLF

L{decode_v1} is the one decoder of a line: the family's branch of
C{proxy_line}, compiled from those pieces, then the header. The one-shot and the incremental parser
both call it. When it says no, or while a prefix still waits for its CRLF,
L{V1Scanner} checks the same pieces field by field to name the rule broken
and to reject a prefix as soon as it can no longer become a valid line; it
never decodes.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import overload

from ._addresses import ipv4_address, ipv6_address
from ._errors import InvalidHeader, Rule
from ._header import Command, Family, ProxyHeader, Transport

__all__ = ["MAX_V1_LENGTH", "V1Scanner", "decode_v1"]

#: The longest valid v1 line, CRLF included (spec 2.1: 107 bytes).
MAX_V1_LENGTH = 107

# -- the grammar, one piece per rule -----------------------------------------

SP = r" "
CRLF = r"\r\n"
# dec-octet as in RFC 3986: 0-255 without leading zeros.
dec_octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
# Four octets written out: a repeated group costs the regex engine more.
IPv4address = rf"{dec_octet}\.{dec_octet}\.{dec_octet}\.{dec_octet}"
# IPv6 text (RFC 4291 2.2): these characters, then judged by inet_pton.
IPv6address = r"[0-9A-Fa-f:.]{2,45}"
# port: decimal 0-65535, no sign, no leading zero.
port = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}"
    r"|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
)
tcp4 = rf"TCP4{SP}({IPv4address}){SP}({IPv4address}){SP}({port}){SP}({port})"
tcp6 = rf"TCP6{SP}({IPv6address}){SP}({IPv6address}){SP}({port}){SP}({port})"
# UNKNOWN: "the receiver must ignore anything presented before the CRLF";
# 91 = 107 - len("PROXY UNKNOWN") - len(SP) - len(CRLF).
unknown = rf"UNKNOWN(?:{SP}[^\r\n]{{0,91}})?"
proxy_line = rf"PROXY{SP}(?:{tcp4}|{tcp6}|{unknown}){CRLF}"


def _compile(regex: str) -> re.Pattern[bytes]:
    return re.compile(regex.encode("ascii"))


# decode_v1 matches the one branch of proxy_line that the family's last
# character (offset 9: TCP4, TCP6, UNKNOWN) leaves possible, and captures
# every byte after the CRLF: no alternation, no unused groups.
_REST = r"(?s:(.*))"
_match_tcp4 = _compile(rf"PROXY{SP}{tcp4}{CRLF}{_REST}").match
_match_tcp6 = _compile(rf"PROXY{SP}{tcp6}{CRLF}{_REST}").match
_match_unknown = _compile(rf"PROXY{SP}{unknown}{CRLF}{_REST}").match
_IPV4_FULL = _compile(rf"{IPv4address}\Z")
_IPV4_PREFIX = _compile(rf"(?:{dec_octet}\.){{0,3}}{dec_octet}?\Z")
_PORT_FULL = _compile(rf"{port}\Z")
_IPV6_TEXT = _compile(r"[0-9A-Fa-f:.]*\Z")

# -- the decoder --------------------------------------------------------------

_tuple_new = tuple.__new__
_ntop = socket.inet_ntop
_pton = socket.inet_pton
_AF_INET6 = socket.AF_INET6
_PROXY = Command.PROXY
_INET = Family.INET
_INET6 = Family.INET6
_STREAM = Transport.STREAM
_UNKNOWN_HEADER = ProxyHeader(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, ())


@overload
def decode_v1(data: bytes) -> tuple[ProxyHeader, bytes] | None: ...


@overload
def decode_v1(data: bytearray) -> tuple[ProxyHeader, bytearray] | None: ...


def decode_v1(data: bytes | bytearray) -> tuple[ProxyHeader, bytes | bytearray] | None:
    """
    The header of the whole, valid v1 line at the start of C{data}, and
    every byte after its CRLF; C{None} if C{data} does not start with one
    (L{V1Scanner} then says why, or that it may still come). No field can
    hold CR or LF, so a line found ends at the first CRLF.
    """
    try:
        kind = data[9]
    except IndexError:
        return None
    if kind == 0x34:  # TCP4, the common case
        m = _match_tcp4(data)
        if m is None:
            return None
        src, dst, sport, dport, rest = m.groups()
        source = ipv4_address("TCP", src.decode(), int(sport))
        destination = ipv4_address("TCP", dst.decode(), int(dport))
        return _tuple_new(ProxyHeader, (1, _PROXY, _INET, _STREAM, source, destination, ())), rest
    if kind == 0x4E:  # UNKNOWN
        m = _match_unknown(data)
        return None if m is None else (_UNKNOWN_HEADER, m[1])
    if kind != 0x36:
        return None
    m = _match_tcp6(data)
    if m is None or m.start(5) > MAX_V1_LENGTH:
        return None
    src6, dst6, sport6, dport6, rest = m.groups()
    # The expression admitted only [0-9A-Fa-f:.]{2,45}: inet_pton judges the
    # rest, inet_ntop gives the canonical (RFC 5952) form.
    try:
        src_text = _ntop(_AF_INET6, _pton(_AF_INET6, src6.decode()))
        dst_text = _ntop(_AF_INET6, _pton(_AF_INET6, dst6.decode()))
    except OSError:
        return None
    source6 = ipv6_address("TCP", src_text, int(sport6))
    destination6 = ipv6_address("TCP", dst_text, int(dport6))
    header = _tuple_new(ProxyHeader, (1, _PROXY, _INET6, _STREAM, source6, destination6, ()))
    return header, rest


# -- naming the rule broken ---------------------------------------------------

_FAMILIES = (b"TCP4", b"TCP6", b"UNKNOWN")
# Shortest complete line once the family is known, for IncompleteHeader.needed.
_MIN_LINE = {None: 15, b"UNKNOWN": 15, b"TCP4": 32, b"TCP6": 22}


def _is_ipv6(field: bytes) -> bool:
    """Is C{field} an IPv6 address in RFC 4291 text form (no zone)?"""
    if len(field) > 45 or _IPV6_TEXT.match(field) is None:
        return False
    try:
        _pton(_AF_INET6, field.decode("ascii"))
    except (OSError, UnicodeDecodeError):
        return False
    return True


def _ipv6_prefix_viable(field: bytes) -> bool:
    """
    C{False} when no completion of C{field} is an IPv6 address. Conservative:
    a C{True} may still fail once the field is complete.
    """
    if len(field) > 45 or _IPV6_TEXT.match(field) is None:
        return False
    if b":::" in field or field.count(b"::") > 1:
        return False
    if field[:1] == b":" and field[1:2] not in (b"", b":"):
        return False
    groups = field.split(b":")
    ipv4_tail = b"." in groups[-1]
    if b"." in field and not ipv4_tail:
        return False
    if ipv4_tail:
        if len(groups) < 2 or _IPV4_PREFIX.match(groups[-1]) is None:
            return False
        groups = groups[:-1]
    if any(len(g) > 4 or b"." in g for g in groups):
        return False
    explicit = sum(1 for g in groups if g) + (2 if ipv4_tail else 0)
    return explicit <= (7 if b"::" in field else 8)


def _ipv4_prefix_viable(field: bytes) -> bool:
    return _IPV4_PREFIX.match(field) is not None


def _first_bad_prefix(field: bytes, viable: Callable[[bytes], bool]) -> bytes:
    """
    The shortest prefix of a bad address field that no completion can make
    valid (or the whole field): the error is named after it, as it would be
    if the field had arrived one byte at a time.
    """
    for k in range(1, len(field)):
        if not viable(field[:k]):
            return field[:k]
    return field


class V1Scanner:
    """
    Walks a v1 line (or a prefix of one) field by field, remembering the
    fields already checked so that no byte is checked twice however the line
    is split across reads.
    """

    __slots__ = ("family", "index", "pos")

    def __init__(self) -> None:
        self.pos = 0
        self.index = 0
        self.family: bytes | None = None

    def min_length(self) -> int:
        """Length of the shortest complete line given what was seen so far."""
        return _MIN_LINE[self.family]

    def scan(self, buf: bytes | bytearray, end: int, complete: bool) -> None:
        """
        Check C{buf[:end]}: the whole line without its CRLF if C{complete},
        else a prefix of one. Raise L{InvalidHeader} for the first rule
        broken.
        """
        while True:
            if self.family == b"UNKNOWN" and self.index >= 2:
                rest = buf[self.pos : end]
                for bad in (b"\r", b"\n"):
                    at = rest.find(bad)
                    if at >= 0:
                        raise self._bare(bad, self.pos + at)
                self.pos = end
                return
            sp = buf.find(b" ", self.pos, end)
            if sp < 0:
                self._field(bytes(buf[self.pos : end]), complete, self.pos)
                if complete:
                    self._check_count()
                return
            self._field(bytes(buf[self.pos : sp]), True, self.pos)
            self.index += 1
            self.pos = sp + 1

    def _check_count(self) -> None:
        if self.family == b"UNKNOWN":
            return
        if self.index != 5:
            raise InvalidHeader(
                Rule.V1_FIELD_COUNT,
                f"{self.index + 1} field(s) before CRLF, {self.family!r} needs 6",
                "PROXY SP family SP src SP dst SP sport SP dport CRLF",
            )

    @staticmethod
    def _bare(char: bytes, offset: int) -> InvalidHeader:
        name = "CR" if char == b"\r" else "LF"
        return InvalidHeader(
            Rule.V1_LINE_END, f"bare {name} at offset {offset}", "lines end with CRLF"
        )

    def _field(self, field: bytes, done: bool, offset: int) -> None:
        """
        Check one field; C{done} when it is followed by SP or CRLF. The rule
        reported is the one broken by the shortest bad prefix, so that it does
        not depend on how the line was split across reads.
        """
        if self.index > 5:
            raise InvalidHeader(
                Rule.V1_FIELD_COUNT,
                "more than 6 fields",
                "PROXY SP family SP src SP dst SP sport SP dport CRLF",
            )
        cut = -1
        for bad in (b"\r", b"\n"):
            at = field.find(bad)
            if at >= 0 and (cut < 0 or at < cut):
                cut = at
        if cut >= 0:
            self._field(field[:cut], False, offset)
            raise self._bare(field[cut : cut + 1], offset + cut)
        if done and not field:
            raise InvalidHeader(
                Rule.V1_SEPARATOR,
                f"empty field at offset {offset}",
                "fields are separated by exactly one space",
            )
        index = self.index
        if index == 0:
            if len(field) > 5 and field.startswith(b"PROXY"):
                raise InvalidHeader(Rule.V1_SEPARATOR, "no space after 'PROXY'")
            if field != b"PROXY"[: len(field)] or (done and field != b"PROXY"):
                raise InvalidHeader(Rule.V1_KEYWORD, f"expected 'PROXY', got {field!r}")
        elif index == 1:
            if done:
                if field not in _FAMILIES:
                    raise InvalidHeader(
                        Rule.V1_FAMILY,
                        f"unknown family {field!r}",
                        "TCP4, TCP6 or UNKNOWN, upper case",
                    )
                # The constant, not this read's copy: one less object per line.
                self.family = _FAMILIES[_FAMILIES.index(field)]
            elif not any(f.startswith(field) for f in _FAMILIES):
                raise InvalidHeader(
                    Rule.V1_FAMILY, f"unknown family {field[:10]!r}...", "TCP4, TCP6 or UNKNOWN"
                )
        elif index in (2, 3):
            self._address(field, done, "source" if index == 2 else "destination")
        elif field and _PORT_FULL.match(field) is None:
            what = "source" if index == 4 else "destination"
            raise InvalidHeader(
                Rule.V1_PORT,
                f"bad {what} port {field[:8]!r}",
                "decimal 0-65535, no sign, no leading zero",
            )

    def _address(self, field: bytes, done: bool, what: str) -> None:
        if self.family == b"TCP4":
            ok = (_IPV4_FULL if done else _IPV4_PREFIX).match(field) is not None
            if not ok:
                if b":" in _first_bad_prefix(field, _ipv4_prefix_viable):
                    raise InvalidHeader(
                        Rule.V1_FAMILY_MISMATCH,
                        f"{what} address {field!r} is not IPv4 but the family is TCP4",
                    )
                raise InvalidHeader(
                    Rule.V1_IPV4,
                    f"bad {what} address {field[:16]!r}",
                    "dotted quad, octets 0-255, no leading zeros",
                )
        else:
            ok = _is_ipv6(field) if done else _ipv6_prefix_viable(field)
            if not ok:
                key = _first_bad_prefix(field, _ipv6_prefix_viable)
                if b":" not in key and _IPV4_PREFIX.match(key) is not None:
                    raise InvalidHeader(
                        Rule.V1_FAMILY_MISMATCH,
                        f"{what} address {field!r} is IPv4 but the family is TCP6",
                        "write it as ::ffff:a.b.c.d in TCP6",
                    )
                detail = f"bad {what} address {field[:46]!r}"
                if b"%" in field:
                    detail += " (zone ids are not allowed)"
                raise InvalidHeader(Rule.V1_IPV6, detail, "RFC 4291 text form")

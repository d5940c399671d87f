"""
Finding one PROXY header at the start of a byte stream (spec sections 2 and
2.1-2.2): detection of the version, the incremental parser and the one-shot
L{parse_header}.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from typing import Literal

from twisted.internet.address import IPv6Address

from ._addresses import ipv4_address
from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, Rule
from ._header import V2_SIGNATURE, Command, Family, ProxyHeader, Transport
from ._tlv import TLV, parse_header_tlvs
from ._v1 import MAX_V1_LENGTH, TCP4_LINE, TCP6_LINE, UNKNOWN_LINE, V1Scanner
from ._v2 import ADDRESS_SIZE, DEFAULT_MAX_V2_LENGTH, check_v2_prefix, parse_v2

__all__ = ["DEFAULT_MAX_V2_LENGTH", "HeaderParser", "parse_header"]

_tuple_new = tuple.__new__
_unpack_inet = struct.Struct("!4s4sHH").unpack_from
_ntoa = socket.inet_ntoa
_ntop = socket.inet_ntop
_pton = socket.inet_pton
_AF_INET6 = socket.AF_INET6
_unpack_head = struct.Struct("!BBH").unpack_from
_match4 = TCP4_LINE.match
_match6 = TCP6_LINE.match
_match_unknown = UNKNOWN_LINE.match
_PROXY = Command.PROXY
_INET = Family.INET
_INET6 = Family.INET6
_STREAM = Transport.STREAM
_DGRAM = Transport.DGRAM
_UNKNOWN_HEADER = ProxyHeader(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, ())
_V1_SIGNATURE = b"PROXY"


def _v1_from_line(data: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
    """The fast path: a whole, valid v1 line at the start of C{data}."""
    m = _match4(data)
    if m is not None:
        src, dst, sport, dport = m.groups()
        header = _tuple_new(
            ProxyHeader,
            (
                1,
                _PROXY,
                _INET,
                _STREAM,
                ipv4_address("TCP", src.decode(), int(sport)),
                ipv4_address("TCP", dst.decode(), int(dport)),
                (),
            ),
        )
        return header, m.end()
    m = _match6(data)
    if m is not None and m.end() <= MAX_V1_LENGTH:
        src, dst, sport, dport = m.groups()
        # The expression admitted only [0-9A-Fa-f:.]{2,45}: inet_pton judges
        # the rest, inet_ntop gives the canonical form.
        try:
            src_text = _ntop(_AF_INET6, _pton(_AF_INET6, src.decode()))
            dst_text = _ntop(_AF_INET6, _pton(_AF_INET6, dst.decode()))
        except OSError:
            return None
        header = _tuple_new(
            ProxyHeader,
            (
                1,
                _PROXY,
                _INET6,
                _STREAM,
                IPv6Address("TCP", src_text, int(sport)),
                IPv6Address("TCP", dst_text, int(dport)),
                (),
            ),
        )
        return header, m.end()
    m = _match_unknown(data)
    if m is not None and m.end() <= MAX_V1_LENGTH:
        return _UNKNOWN_HEADER, m.end()
    return None


class HeaderParser:
    """
    Incremental parser for one PROXY header.

    Feed it the connection's bytes as they arrive; L{feed} returns C{None}
    while the header is incomplete (L{needed} then says at least how many
    more bytes are needed), the header and the bytes that followed it once it
    is complete, and raises L{InvalidHeader} as soon as the bytes received
    can no longer begin a valid header. Bytes already searched are never
    searched again, so the work is linear however the data is split.

    @param versions: the versions accepted; a header of another version is
        rejected with L{Rule.VERSION_NOT_ACCEPTED} once its signature is seen.
    @param max_v2_length: cap on the v2 length field, checked as soon as the
        length field arrives.
    """

    __slots__ = ("_buf", "_kind", "_scanner", "_searched", "max_v2_length", "needed", "versions")

    def __init__(
        self,
        *,
        versions: Collection[int] = (1, 2),
        max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    ) -> None:
        # Reuse a frozenset given (the wrapper's policy holds one per server).
        self.versions = versions if type(versions) is frozenset else frozenset(versions)
        if not self.versions or not self.versions <= {1, 2}:
            raise ValueError(f"versions must be a non-empty subset of {{1, 2}}, not {versions!r}")
        if not 0 <= max_v2_length <= 0xFFFF:
            raise ValueError("max_v2_length must be 0-65535")
        self.max_v2_length = max_v2_length
        self._buf: bytes | bytearray = b""
        self._kind = 0
        self._searched = 0
        self._scanner: V1Scanner | None = None
        #: At least how many more bytes the header needs.
        self.needed = 1

    @property
    def buffered(self) -> int:
        """How many bytes are held waiting for the header to complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> tuple[ProxyHeader, bytes] | None:
        """
        Add C{data}; return C{(header, rest)} once the header is complete,
        C{rest} being every byte after it, else C{None}.
        """
        buf: bytes | bytearray
        held = self._buf
        if held:
            if type(held) is bytes:
                # A second read: from now on, grow a buffer (amortised O(1)).
                held = self._buf = bytearray(held)
            held += data
            buf = held
        else:
            buf = data
        if not buf:
            return None
        try:
            result = self._advance(buf)
        except InvalidHeader:
            self._buf = b""
            raise
        if result is None:
            if buf is data:
                # Keep the caller's bytes: no copy while only one read came.
                self._buf = data
            return None
        header, end = result
        rest = bytes(buf[end:])
        self._buf = b""
        return header, rest

    def _advance(self, buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
        kind = self._kind
        if kind == 0:
            first = buf[0]
            if first == 0x50:
                kind = 1
            elif first == 0x0D:
                kind = 2
            else:
                raise NotProxyHeader(
                    Rule.SIGNATURE,
                    f"first byte 0x{first:02X} begins neither 'PROXY' (v1) nor the v2 signature",
                )
        if kind == 1:
            return self._advance_v1(buf)
        return self._advance_v2(buf)

    def _advance_v1(self, buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
        n = len(buf)
        if self._kind == 0:
            head = bytes(buf[:5])
            if head != _V1_SIGNATURE[: len(head)]:
                raise NotProxyHeader(Rule.SIGNATURE, f"{head!r} does not begin 'PROXY'")
            if len(head) < 5:
                self.needed = 15 - n
                return None
            if 1 not in self.versions:
                raise InvalidHeader(
                    Rule.VERSION_NOT_ACCEPTED, "a v1 header, but only v2 is accepted"
                )
            self._kind = 1
            self._scanner = V1Scanner()
        scanner = self._scanner
        assert scanner is not None
        # A CR at the end of the previous read may be the first half of CRLF.
        crlf = buf.find(b"\r\n", max(0, self._searched - 1), MAX_V1_LENGTH)
        if crlf >= 0:
            found = _v1_from_line(buf)
            if found is not None and found[1] == crlf + 2:
                return found
            scanner.scan(buf, crlf, complete=True)
            raise InvalidHeader(Rule.V1_FIELD_COUNT, "malformed v1 line")
        # Only the first 107 bytes can hold a line: check no further, so that
        # the rule reported does not depend on how much arrived at once.
        limit = n if n < MAX_V1_LENGTH else MAX_V1_LENGTH
        end = limit - 1 if buf[limit - 1] == 0x0D else limit
        scanner.scan(buf, end, complete=False)
        if n >= MAX_V1_LENGTH:
            raise InvalidHeader(
                Rule.V1_TOO_LONG,
                f"no CRLF within the first {MAX_V1_LENGTH} bytes",
                "a v1 line is at most 107 bytes",
            )
        self._searched = n
        self.needed = max(1, scanner.min_length() - n)
        return None

    def _advance_v2(self, buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
        n = len(buf)
        if n >= 13 and 2 not in self.versions:
            # Judge the signature and the version byte first, as when the
            # bytes come one at a time: the rule must not depend on the split.
            check_v2_prefix(buf[:13], self.max_v2_length)
            raise InvalidHeader(Rule.VERSION_NOT_ACCEPTED, "a v2 header, but only v1 is accepted")
        total = check_v2_prefix(buf, self.max_v2_length)
        if total == 0:
            self.needed = 16 - n
            return None
        self._kind = 2
        if n < total:
            self.needed = total - n
            return None
        # TLV values are slices of what is parsed: make them bytes.
        return parse_v2(bytes(buf[:total]), total), total


def _parse_slow(
    data: bytes,
    versions: Collection[int],
    max_v2_length: int,
) -> tuple[ProxyHeader, bytes] | HeaderParser:
    """
    The general case of L{parse_header}: the header and what follows it,
    or the L{HeaderParser} that has consumed C{data} and waits for more.
    """
    parser = HeaderParser(versions=versions, max_v2_length=max_v2_length)
    result = parser.feed(data)
    if result is None:
        return parser
    return result


def parse_header(
    data: bytes,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
) -> tuple[ProxyHeader, bytes]:
    """
    Parse one complete PROXY header (v1 or v2) at the start of C{data}.

    @return: the header and the bytes that follow it, untouched.
    @raise IncompleteHeader: C{data} is a valid beginning of a header;
        C{needed} says at least how many more bytes are required, and
        C{parser} is a L{HeaderParser} holding C{data}, to feed the rest to.
    @raise InvalidHeader: C{data} can never begin a valid header; C{rule}
        names the rule broken (L{NotProxyHeader} when it is not the PROXY
        protocol at all).
    """
    if data[:12] == V2_SIGNATURE:
        if 2 in versions and len(data) >= 28:
            ver_cmd, fam, length = _unpack_head(data, 12)
            # The most common header, PROXY over IPv4, in one place; every
            # other case (and every error) goes through HeaderParser.
            if ver_cmd == 0x21 and (fam == 0x11 or fam == 0x12) and 12 <= length <= max_v2_length:
                total = 16 + length
                if len(data) >= total:
                    src, dst, sport, dport = _unpack_inet(data, 16)
                    if total == 28:
                        tlvs: tuple[TLV, ...] = ()
                    else:
                        tlvs = parse_header_tlvs(data, 28, total)
                    kind: Literal["TCP", "UDP"] = "TCP" if fam == 0x11 else "UDP"
                    header = _tuple_new(
                        ProxyHeader,
                        (
                            2,
                            _PROXY,
                            _INET,
                            _STREAM if fam == 0x11 else _DGRAM,
                            ipv4_address(kind, _ntoa(src), sport),
                            ipv4_address(kind, _ntoa(dst), dport),
                            tlvs,
                        ),
                    )
                    return header, data[total:]
            else:
                found = _v2_complete(data, versions, max_v2_length)
                if found is not None:
                    return found
    elif 1 in versions:
        line = _v1_from_line(data)
        if line is not None:
            return line[0], data[line[1] :]
    result = _parse_slow(data, versions, max_v2_length)
    if isinstance(result, HeaderParser):
        raise IncompleteHeader(result.needed, result)
    return result


def _v2_complete(
    data: bytes, versions: Collection[int], max_v2_length: int
) -> tuple[ProxyHeader, bytes] | None:
    """A whole, valid v2 header of any family at the start of C{data}, or None."""
    if 2 not in versions:
        return None
    ver_cmd, fam, length = _unpack_head(data, 12)
    if (
        (ver_cmd == 0x21 or ver_cmd == 0x20)
        and length <= max_v2_length
        and len(data) >= 16 + length
        and (ver_cmd == 0x20 or ADDRESS_SIZE.get(fam, 0x10000) <= length)
    ):
        total = 16 + length
        return parse_v2(data, total, ver_cmd, fam), data[total:]
    return None

"""
Finding one PROXY header at the start of a byte stream (spec sections 2 and
2.1-2.2): detection of the version, the incremental parser and the one-shot
L{parse_header}.

Neither decodes anything itself: a v1 line is decoded by L{decode_v1}, a v2
block by L{decode_v2} (which walks the TLVs with L{walk_tlvs}). The one-shot
path only picks the common case, a whole header in one read, before handing
anything else to L{HeaderParser}.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Collection

from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, Rule
from ._header import ADDRESS_SIZE, V2_SIGNATURE, ProxyHeader
from ._tlv import DEFAULT_MAX_TLVS
from ._v1 import MAX_V1_LENGTH, V1Scanner, decode_v1
from ._v2 import DEFAULT_MAX_V2_LENGTH, check_v2_prefix, decode_v2

__all__ = ["DEFAULT_MAX_TLVS", "DEFAULT_MAX_V2_LENGTH", "HeaderParser", "parse_header"]

_V1_SIGNATURE = b"PROXY"
_unpack_head = struct.Struct("!BBH").unpack_from
_size = ADDRESS_SIZE.get
#: Both versions, the default (tested by identity first: it is cheaper).
_BOTH = (1, 2)


class ParserState(enum.Enum):
    """Where a L{HeaderParser} stands."""

    #: No byte has told the version yet.
    START = "start"
    #: The bytes begin a v1 line.
    V1 = "v1"
    #: The bytes begin a v2 header.
    V2 = "v2"
    #: End state: the header was returned; the parser takes no more bytes.
    DONE = "done"
    #: End state: the bytes broke a rule; the parser takes no more bytes.
    FAILED = "failed"


_START = ParserState.START
_V1 = ParserState.V1
_V2 = ParserState.V2
_DONE = ParserState.DONE
_FAILED = ParserState.FAILED


class HeaderParser:
    """
    Incremental parser for one PROXY header.

    Feed it the connection's bytes as they arrive; L{feed} returns C{None}
    while the header is incomplete (L{needed} then says at least how many
    more bytes are needed), the header and the bytes that followed it once it
    is complete, and raises L{InvalidHeader} as soon as the bytes received
    can no longer begin a valid header. Bytes already searched are never
    searched again, so the work is linear however the data is split. A
    parser reads one header: once it has returned one, or raised, L{feed}
    raises L{RuntimeError}.

    @param versions: the versions accepted; a header of another version is
        rejected with L{Rule.VERSION_NOT_ACCEPTED} once its signature is seen.
    @param max_v2_length: cap on the v2 length field, checked as soon as the
        length field arrives.
    @param max_tlvs: cap on the number of TLV records of a v2 header, SSL
        sub-TLVs included (L{Rule.V2_TOO_MANY_TLVS}).
    @param require_crc32c: reject a v2 header without a CRC32C TLV
        (L{Rule.V2_CRC32C_REQUIRED}), LOCAL ones included.
    """

    __slots__ = (
        "_buf",
        "_scanner",
        "_searched",
        "_total",
        "max_tlvs",
        "max_v2_length",
        "needed",
        "require_crc32c",
        "state",
        "versions",
    )

    def __init__(
        self,
        *,
        versions: Collection[int] = (1, 2),
        max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
        max_tlvs: int = DEFAULT_MAX_TLVS,
        require_crc32c: bool = False,
    ) -> None:
        # Reuse a frozenset given (the wrapper's policy holds one per server).
        self.versions = versions if type(versions) is frozenset else frozenset(versions)
        if not self.versions or not self.versions <= {1, 2}:
            raise ValueError(f"versions must be a non-empty subset of {{1, 2}}, not {versions!r}")
        if not 0 <= max_v2_length <= 0xFFFF:
            raise ValueError("max_v2_length must be 0-65535")
        if not 0 <= max_tlvs <= 0xFFFF:
            raise ValueError("max_tlvs must be 0-65535")
        self.max_v2_length = max_v2_length
        self.max_tlvs = max_tlvs
        self.require_crc32c = require_crc32c
        self.state = _START
        self._buf: bytes | bytearray = b""
        self._searched = 0
        self._total = 0
        self._scanner: V1Scanner | None = None
        #: At least how many more bytes the header needs.
        self.needed = 1

    @property
    def buffered(self) -> int:
        """How many bytes are held waiting for the header to complete."""
        return len(self._buf)

    @property
    def held(self) -> bytes:
        """
        The bytes held waiting for the header: every byte fed so far, while
        the header is incomplete (a receiver in optional mode passes them on
        untouched when it gives up waiting).
        """
        return bytes(self._buf)

    def feed(self, data: bytes) -> tuple[ProxyHeader, bytes] | None:
        """
        Add C{data}; return C{(header, rest)} once the header is complete,
        C{rest} being every byte after it, else C{None}.
        """
        if self.state is _DONE or self.state is _FAILED:
            raise RuntimeError(
                f"this HeaderParser is {self.state.value}: it reads one header,"
                " make a new one for the next"
            )
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
            self.state = _FAILED
            raise
        if result is None:
            if buf is data:
                # Keep the caller's bytes: no copy while only one read came.
                self._buf = data
            return None
        header, end = result
        rest = bytes(buf[end:])
        self._buf = b""
        self.state = _DONE
        return header, rest

    def _advance(self, buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
        state = self.state
        if state is _START:
            first = buf[0]
            if first == 0x50:
                return self._advance_v1(buf)
            if first == 0x0D:
                return self._advance_v2(buf)
            raise NotProxyHeader(
                Rule.SIGNATURE,
                f"first byte 0x{first:02X} begins neither 'PROXY' (v1) nor the v2 signature",
            )
        if state is _V1:
            return self._advance_v1(buf)
        return self._advance_v2(buf)

    def _advance_v1(self, buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
        """
        Read a v1 line in C{buf}, every byte fed so far.

        The first time, check that C{buf} can begin C{PROXY} and that v1 is
        accepted, and start a L{V1Scanner}. Then look for the CRLF only in
        the bytes not searched before (less one: a CR that ended the last
        read may begin the CRLF), so the work stays linear however the line
        is split. With the CRLF, L{decode_v1} decodes the line, and when it
        cannot, the scanner names the rule the line breaks. Without it, the
        scanner checks the fields that have arrived, so a bad line fails at
        its first bad field rather than at its end, and L{needed} becomes
        what the shortest line still possible lacks.

        @return: the header and the offset just past its CRLF, or C{None}
            while the line is incomplete.
        @raise NotProxyHeader: C{buf} does not begin C{PROXY}.
        @raise InvalidHeader: v1 is not accepted, the line breaks a rule, or
            the first L{MAX_V1_LENGTH} bytes hold no CRLF.
        """
        n = len(buf)
        if self.state is _START:
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
            self.state = _V1
            self._scanner = V1Scanner()
        scanner = self._scanner
        assert scanner is not None
        # A CR at the end of the previous read may be the first half of CRLF.
        crlf = buf.find(b"\r\n", max(0, self._searched - 1), MAX_V1_LENGTH)
        if crlf >= 0:
            found = decode_v1(buf)
            if found is not None:
                return found[0], crlf + 2
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
        if self.state is _V2:
            # The 16 fixed bytes were judged: only count what arrives.
            total = self._total
            if n < total:
                self.needed = total - n
                return None
            return self._decode_v2(buf, total)
        if n >= 13 and 2 not in self.versions:
            # Judge the signature and the version byte first, as when the
            # bytes come one at a time: the rule must not depend on the split.
            check_v2_prefix(buf[:13], self.max_v2_length)
            raise InvalidHeader(Rule.VERSION_NOT_ACCEPTED, "a v2 header, but only v1 is accepted")
        total = check_v2_prefix(buf, self.max_v2_length)
        if total == 0:
            self.needed = 16 - n
            return None
        self.state = _V2
        self._total = total
        if n < total:
            self.needed = total - n
            return None
        return self._decode_v2(buf, total)

    def _decode_v2(self, buf: bytes | bytearray, total: int) -> tuple[ProxyHeader, int]:
        data = buf if type(buf) is bytes else bytes(buf[:total])
        header = decode_v2(data, total, data[12], data[13], self.max_tlvs, self.require_crc32c)
        return header, total


def parse_header(
    data: bytes,
    versions: Collection[int] = _BOTH,
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    max_tlvs: int = DEFAULT_MAX_TLVS,
    require_crc32c: bool = False,
) -> tuple[ProxyHeader, bytes]:
    """
    Parse one complete PROXY header (v1 or v2) at the start of C{data}.

    @return: the header and the bytes that follow it, untouched.
    @raise IncompleteHeader: C{data} is a valid beginning of a header;
        C{needed} says at least how many more bytes are required, and
        C{parser} is a L{HeaderParser} holding C{data}, to feed the rest to.
    @raise InvalidHeader: C{data} can never begin a valid header; C{rule}
        names the rule broken (L{NotProxyHeader} when it is not the PROXY
        protocol at all). The keyword arguments are those of L{HeaderParser}:
        pass them by keyword (they are not keyword-only because CPython does
        not specialise calls to such functions, ~40 ns per header).
    """
    # The common case, a whole well-formed header in this read, goes straight
    # to its decoder; anything else (a part, an error) to HeaderParser,
    # which judges every byte.
    if data[:12] == V2_SIGNATURE:
        try:
            ver_cmd, fam, length = _unpack_head(data, 12)
        except struct.error:  # fewer than 16 bytes
            pass
        else:
            total = 16 + length
            if (
                total <= len(data)
                and length <= max_v2_length
                and (ver_cmd == 0x20 or (ver_cmd == 0x21 and _size(fam, 0x10000) <= length))
                and (versions is _BOTH or 2 in versions)
            ):
                return decode_v2(data, total, ver_cmd, fam, max_tlvs, require_crc32c), data[total:]
    elif 1 in versions:
        found = decode_v1(data)
        if found is not None:
            return found
    parser = HeaderParser(
        versions=versions,
        max_v2_length=max_v2_length,
        max_tlvs=max_tlvs,
        require_crc32c=require_crc32c,
    )
    result = parser.feed(data)
    if result is None:
        raise IncompleteHeader(parser.needed, parser)
    return result

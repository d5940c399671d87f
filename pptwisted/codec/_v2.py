"""
The PROXY protocol v2 binary header (spec section 2.2)::

    offset  size  field
    0       12    signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
    12      1     version (high nibble, 2) and command (low: 0 LOCAL, 1 PROXY)
    13      1     family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
                  transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
    14      2     length of the rest, big-endian
    16      len   address block (0, 12, 36 or 216 bytes), then TLVs

Two functions, each the only one of its kind: L{check_v2_prefix} judges the
16 fixed bytes as they arrive (signature, version, command, family, then the
length against the cap and the address block), so a bad header is rejected
without waiting for, or buffering, its body; L{decode_v2} turns a complete
block into a L{ProxyHeader}. The one-shot and the incremental parser both
call them.
"""

from __future__ import annotations

import socket
import struct
from typing import Literal

from twisted.internet.address import UNIXAddress

from ._addresses import ipv4_address, ipv6_address
from ._errors import InvalidHeader, NotProxyHeader, Rule
from ._header import ADDRESS_SIZE, V2_SIGNATURE, Address, Command, Family, ProxyHeader, Transport
from ._tlv import DEFAULT_MAX_TLVS, TLVs, verify_crc32c, walk_tlvs

__all__ = ["DEFAULT_MAX_V2_LENGTH", "check_v2_prefix", "decode_v2"]

#: Default cap on the v2 length field: HAProxy's default buffer is 16 KiB.
DEFAULT_MAX_V2_LENGTH = 16384 - 16

_unpack_inet = struct.Struct("!4s4sHH").unpack_from
_unpack_inet6 = struct.Struct("!16s16sHH").unpack_from
_tuple_new = tuple.__new__
_ntoa = socket.inet_ntoa
_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6
_PROXY = Command.PROXY
_LOCAL_HEADER = ProxyHeader(2, Command.LOCAL, Family.UNSPEC, Transport.UNSPEC, None, None, ())
#: Family/transport byte -> (Family, Transport, twisted address type).
_KINDS: dict[int, tuple[Family, Transport, Literal["TCP", "UDP"]]] = {
    0x00: (Family.UNSPEC, Transport.UNSPEC, "TCP"),
    0x11: (Family.INET, Transport.STREAM, "TCP"),
    0x12: (Family.INET, Transport.DGRAM, "UDP"),
    0x21: (Family.INET6, Transport.STREAM, "TCP"),
    0x22: (Family.INET6, Transport.DGRAM, "UDP"),
    0x31: (Family.UNIX, Transport.STREAM, "TCP"),
    0x32: (Family.UNIX, Transport.DGRAM, "UDP"),
}


def check_v2_prefix(buf: bytes | bytearray, max_length: int) -> int:
    """
    Check the first bytes of a v2 header and return its total length, or
    0 if the 16 fixed bytes have not all arrived yet. Raise
    L{InvalidHeader} as soon as a byte breaks a rule.
    """
    n = len(buf)
    if buf[:12] != V2_SIGNATURE[:n]:
        raise NotProxyHeader(Rule.SIGNATURE, "not a PROXY protocol v2 signature")
    if n > 12:
        ver_cmd = buf[12]
        if ver_cmd >> 4 != 2:
            raise InvalidHeader(Rule.V2_VERSION, f"version nibble is {ver_cmd >> 4}, must be 2")
        command = ver_cmd & 0x0F
        if command > 1:
            raise InvalidHeader(
                Rule.V2_COMMAND, f"command is {command}, must be 0 (LOCAL) or 1 (PROXY)"
            )
        if n > 13:
            fam = buf[13]
            if command == 1 and fam not in ADDRESS_SIZE:
                raise InvalidHeader(
                    Rule.V2_FAMILY,
                    f"family/transport byte 0x{fam:02X}",
                    "one of 00 11 12 21 22 31 32",
                )
            if n > 15:
                length = (buf[14] << 8) | buf[15]
                if length > max_length:
                    raise InvalidHeader(
                        Rule.V2_LENGTH_CAP,
                        f"length {length} exceeds the cap of {max_length}",
                        "raise max_v2_length if your proxy sends more TLVs",
                    )
                if command == 1 and length < ADDRESS_SIZE[fam]:
                    raise InvalidHeader(
                        Rule.V2_LENGTH_SHORT,
                        f"length {length} is shorter than the {ADDRESS_SIZE[fam]}-byte"
                        f" address block of family 0x{fam:02X}",
                    )
                return 16 + length
    return 0


def _abstract_path(raw: bytes) -> bytes:
    """
    A Linux abstract-namespace name (a leading NUL, part of the name), or
    the empty name of an unnamed socket (all NULs, what getpeername() gives).
    """
    name = raw[1:].rstrip(b"\0")
    return b"\0" + name if name else b""


def decode_v2(
    data: bytes,
    end: int,
    ver_cmd: int,
    fam: int,
    max_tlvs: int = DEFAULT_MAX_TLVS,
    require_crc32c: bool = False,
) -> ProxyHeader:
    """
    Decode the complete v2 header C{data[:end]}, whose 16 fixed bytes
    L{check_v2_prefix} has accepted (C{end} is what it returned): the
    addresses, then one L{walk_tlvs} over the TLVs, which are kept as a
    L{TLVs} view of their bytes; a CRC32C is verified in place.

    A LOCAL header's block is ignored, as the spec asks, but a CRC32C among
    its TLVs is verified (L{_local_tlvs} finds them in either layout senders
    use); with C{require_crc32c} it must carry a valid one. A LOCAL header
    comes back the same whatever it carried: no addresses, no TLVs.
    C{ver_cmd} and C{fam} are bytes 12 and 13, which the caller has read.
    """
    if ver_cmd == 0x20:
        if end > 16:
            _local_tlvs(data, end, fam, max_tlvs, require_crc32c)
        elif require_crc32c:
            raise _crc_required()
        return _LOCAL_HEADER
    source: Address | None
    destination: Address | None
    family, transport, kind = _KINDS[fam]
    command = _PROXY
    if fam == 0x11 or fam == 0x12:
        src, dst, sport, dport = _unpack_inet(data, 16)
        source = ipv4_address(kind, _ntoa(src), sport)
        destination = ipv4_address(kind, _ntoa(dst), dport)
        start = 28
    elif fam == 0x21 or fam == 0x22:
        src, dst, sport, dport = _unpack_inet6(data, 16)
        source = ipv6_address(kind, _ntop(_AF_INET6, src), sport)
        destination = ipv6_address(kind, _ntop(_AF_INET6, dst), dport)
        start = 52
    elif fam == 0x31 or fam == 0x32:
        src = data[16:124]
        dst = data[124:232]
        # A path ends at its first NUL, unless it starts with one.
        source = UNIXAddress(src.split(b"\0", 1)[0] if src[0] else _abstract_path(src))
        destination = UNIXAddress(dst.split(b"\0", 1)[0] if dst[0] else _abstract_path(dst))
        start = 232
    else:
        # PROXY over UNSPEC: the receiver uses the real addresses.
        source = destination = None
        start = 16
    if start < end:
        count, crc_at = walk_tlvs(data, start, end, max_tlvs)
        if crc_at >= 0:
            verify_crc32c(data, crc_at, end)
        elif require_crc32c:
            raise _crc_required()
        tlvs: TLVs | tuple[()] = TLVs(data[start:end], count)
    elif require_crc32c:
        raise _crc_required()
    else:
        tlvs = ()
    return _tuple_new(ProxyHeader, (2, command, family, transport, source, destination, tlvs))


def _local_tlvs(data: bytes, end: int, fam: int, max_tlvs: int, require_crc32c: bool) -> None:
    """
    Find the TLVs of a LOCAL header and verify its CRC32C (spec 2.2.3: a
    receiver that supports it must reject a header whose checksum does not
    match, LOCAL ones included).

    Senders lay a LOCAL out two ways. HAProxy writes the family's address
    block (zeros, or none for family 0x00) before the TLVs; AWS NLB's health
    checks say family 0x11 but put the TLVs right after the 16 fixed bytes,
    with no block. Both layouts are walked; the family's wins when both
    tile, unless only the other holds a CRC32C. (NLB pads with a NOOP TLV of
    zeros, so read from the end of a would-be address block its padding
    tiles too, as empty records.) When neither tiles, the block is ignored
    as the spec says, and the header is accepted unless C{require_crc32c}.
    """
    size = ADDRESS_SIZE.get(fam)
    starts = (16,) if not size else (16 + size, 16)
    found: list[int] = []
    for start in starts:
        if start > end:
            continue
        try:
            crc_at = walk_tlvs(data, start, end, max_tlvs)[1]
        except InvalidHeader:
            continue
        if crc_at >= 0:
            verify_crc32c(data, crc_at, end)
            return
        found.append(start)
    if require_crc32c:
        if found:
            raise _crc_required()
        raise InvalidHeader(
            Rule.V2_CRC32C_REQUIRED,
            "the TLVs of this LOCAL header tile neither after its family's address"
            f" block nor after its 16 fixed bytes (or hold over {max_tlvs} records):"
            " no CRC32C TLV can be found",
            "turn on the sender's CRC32C (HAProxy: proxy-v2-options crc32c)",
        )


def _crc_required() -> InvalidHeader:
    return InvalidHeader(
        Rule.V2_CRC32C_REQUIRED,
        "no CRC32C TLV, and this receiver requires one",
        "turn on the sender's CRC32C (HAProxy: proxy-v2-options crc32c)",
    )

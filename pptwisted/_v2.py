"""
The PROXY protocol v2 binary header (spec section 2.2).

    offset  size  field
    0       12    signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
    12      1     version (high nibble, 2) and command (low: 0 LOCAL, 1 PROXY)
    13      1     family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
                  transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
    14      2     length of the rest, big-endian
    16      len   address block (0, 12, 36 or 216 bytes), then TLVs

L{check_v2_prefix} decides on every byte as soon as it arrives (signature,
version, command, family, then length against the cap and the address block),
so a bad header is rejected without waiting for, or buffering, its body.
"""

from __future__ import annotations

import socket
import struct
from typing import Literal

from twisted.internet.address import IPv6Address, UNIXAddress

from ._addresses import ipv4_address
from ._errors import InvalidHeader, NotProxyHeader, Rule
from ._header import V2_SIGNATURE, Command, Family, ProxyHeader, Transport
from ._tlv import parse_header_tlvs

__all__ = ["DEFAULT_MAX_V2_LENGTH", "check_v2_prefix", "parse_v2"]

#: Default cap on the v2 length field: HAProxy's default buffer is 16 KiB.
DEFAULT_MAX_V2_LENGTH = 16384 - 16

#: Valid family/transport bytes and the size of their address blocks.
ADDRESS_SIZE = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}

_unpack_head = struct.Struct("!BBH").unpack_from
_unpack_inet = struct.Struct("!4s4sHH").unpack_from
_unpack_inet6 = struct.Struct("!16s16sHH").unpack_from
_tuple_new = tuple.__new__
_ntoa = socket.inet_ntoa
_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6
_PROXY = Command.PROXY
_LOCAL_HEADER = ProxyHeader(2, Command.LOCAL, Family.UNSPEC, Transport.UNSPEC, None, None, ())
_KINDS = {
    0x00: (Family.UNSPEC, Transport.UNSPEC),
    0x11: (Family.INET, Transport.STREAM),
    0x12: (Family.INET, Transport.DGRAM),
    0x21: (Family.INET6, Transport.STREAM),
    0x22: (Family.INET6, Transport.DGRAM),
    0x31: (Family.UNIX, Transport.STREAM),
    0x32: (Family.UNIX, Transport.DGRAM),
}


def check_v2_prefix(buf: bytes | bytearray, max_length: int) -> int:
    """
    Check the first bytes of a v2 header and return its total length, or
    0 if the 16 fixed bytes have not all arrived yet. Raise
    L{InvalidHeader} as soon as a byte breaks a rule.
    """
    n = len(buf)
    head = bytes(buf[:12])
    if head != V2_SIGNATURE[: len(head)]:
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


def _unix_path(raw: bytes) -> bytes:
    if raw[:1] == b"\0":
        # Linux abstract namespace: the leading NUL is part of the name. All
        # NULs is an unnamed socket (what getpeername() gives), not a name.
        name = raw[1:].rstrip(b"\0")
        return b"\0" + name if name else b""
    return raw.split(b"\0", 1)[0]


def parse_v2(data: bytes, end: int, ver_cmd: int = -1, fam: int = -1) -> ProxyHeader:
    """
    Parse the complete v2 header C{data[:end]} (C{end} as returned by
    L{check_v2_prefix}, which has already been called on it). C{ver_cmd}
    and C{fam}, bytes 12 and 13, are read from C{data} unless given.
    """
    if ver_cmd < 0:
        ver_cmd, fam, _ = _unpack_head(data, 12)
    if ver_cmd == 0x20:
        # LOCAL: skip the whole block whatever the family byte says.
        return _LOCAL_HEADER
    if fam == 0x11 or fam == 0x12:
        src, dst, sport, dport = _unpack_inet(data, 16)
        kind: Literal["TCP", "UDP"] = "TCP" if fam == 0x11 else "UDP"
        source: object = ipv4_address(kind, _ntoa(src), sport)
        destination: object = ipv4_address(kind, _ntoa(dst), dport)
        start = 28
    elif fam == 0x21 or fam == 0x22:
        src, dst, sport, dport = _unpack_inet6(data, 16)
        kind = "TCP" if fam == 0x21 else "UDP"
        source = IPv6Address(kind, _ntop(_AF_INET6, src), sport)
        destination = IPv6Address(kind, _ntop(_AF_INET6, dst), dport)
        start = 52
    elif fam == 0x31 or fam == 0x32:
        source = UNIXAddress(_unix_path(bytes(data[16:124])))
        destination = UNIXAddress(_unix_path(bytes(data[124:232])))
        start = 232
    else:
        # PROXY over UNSPEC: the receiver uses the real addresses.
        source = destination = None
        start = 16
    family, transport = _KINDS[fam]
    if start < end:
        tlvs = parse_header_tlvs(data, start, end)
    else:
        tlvs = ()
    return _tuple_new(ProxyHeader, (2, _PROXY, family, transport, source, destination, tlvs))

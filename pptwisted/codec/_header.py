"""
The parsed PROXY header (spec section 2.1 for v1, 2.2 for v2) and its
serialisation.
"""

from __future__ import annotations

import enum
import socket
import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from crc32c import crc32c as _crc32c
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from ._tlv import TLV, SSLInfo, TLVType, first_tlv, text_or_none

__all__ = ["ADDRESS_SIZE", "V2_SIGNATURE", "Command", "Family", "ProxyHeader", "Transport"]

#: The 12 bytes every v2 header starts with (spec 2.2).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

Address = IPv4Address | IPv6Address | UNIXAddress


class Command(enum.IntEnum):
    """
    What the receiver does with the addresses (v2: low nibble of byte 12;
    bytes count from 0, as in the table of L{pptwisted.codec._v2}).
    """

    #: Use the real connection's addresses (health checks, v1 UNKNOWN is
    #: PROXY with no addresses instead, see L{ProxyHeader.uses_real_addresses}).
    LOCAL = 0x0
    #: The connection is relayed on behalf of another node.
    PROXY = 0x1


class Family(enum.IntEnum):
    """Address family (v2: high nibble of byte 13)."""

    UNSPEC = 0x0
    INET = 0x1
    INET6 = 0x2
    UNIX = 0x3


class Transport(enum.IntEnum):
    """Transport protocol (v2: low nibble of byte 13)."""

    UNSPEC = 0x0
    STREAM = 0x1
    DGRAM = 0x2


# TLV types as plain ints: the accessors are on the hot path of applications.
_ALPN, _AUTHORITY, _CRC32C, _NOOP, _UNIQUE_ID = 0x01, 0x02, 0x03, 0x04, 0x05
_SSL, _NETNS, _GCP, _AWS, _AZURE = 0x20, 0x30, 0xE0, 0xEA, 0xEE

#: The one address-size table: valid v2 family/transport bytes (byte 13) and
#: the size of their address blocks (spec 2.2).
ADDRESS_SIZE = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}


class ProxyHeader(NamedTuple):
    """
    One PROXY protocol header, v1 or v2: a frozen value.

    C{source} and C{destination} are Twisted addresses (L{IPv4Address} or
    L{IPv6Address} with type C{"TCP"} or C{"UDP"}, or L{UNIXAddress}), or
    C{None} when the header carries none (v2 LOCAL, v2 PROXY with UNSPEC, v1
    UNKNOWN): the receiver then uses the real connection's addresses.

    C{tlvs} holds every TLV in wire order (a tuple for a header you build, a
    L{TLVs} view over the wire bytes for a parsed one; they compare equal);
    the properties decode the common ones and say C{None} when a record is
    absent or malformed.
    """

    version: int
    command: Command
    family: Family
    transport: Transport
    source: Address | None
    destination: Address | None
    tlvs: Sequence[TLV] = ()

    # -- construction -------------------------------------------------------

    @classmethod
    def proxy(
        cls,
        source: Address,
        destination: Address,
        *,
        version: int = 2,
        tlvs: Iterable[TLV] = (),
    ) -> ProxyHeader:
        """
        A PROXY header relaying a connection from C{source} to
        C{destination}; the family and transport follow from the addresses.
        """
        if type(source) is not type(destination):
            raise ValueError("source and destination must be of the same address type")
        if isinstance(source, UNIXAddress):
            family, transport = Family.UNIX, Transport.STREAM
        else:
            assert isinstance(destination, (IPv4Address, IPv6Address))
            family = Family.INET if isinstance(source, IPv4Address) else Family.INET6
            if source.type != destination.type:
                raise ValueError("source and destination must both be TCP or UDP")
            transport = Transport.STREAM if source.type == "TCP" else Transport.DGRAM
        header = cls(version, Command.PROXY, family, transport, source, destination, tuple(tlvs))
        header._check_buildable()
        return header

    @classmethod
    def local(cls, *, version: int = 2, tlvs: Iterable[TLV] = ()) -> ProxyHeader:
        """
        A header that tells the receiver to use the real addresses: v2 LOCAL
        (what health checks send) or v1 C{PROXY UNKNOWN}, which cannot carry
        TLVs (L{ValueError} if some are given).
        """
        if version == 1:
            if any(True for _ in tlvs):
                raise ValueError("v1 headers cannot carry TLVs")
            return cls(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, ())
        if version != 2:
            raise ValueError(f"version must be 1 or 2, not {version!r}")
        header = cls(2, Command.LOCAL, Family.UNSPEC, Transport.UNSPEC, None, None, tuple(tlvs))
        header._check_buildable()
        return header

    def _check_buildable(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"version must be 1 or 2, not {self.version!r}")
        if self.version == 1:
            if self.tlvs:
                raise ValueError("v1 headers cannot carry TLVs")
            if self.source is not None and (
                isinstance(self.source, UNIXAddress) or self.transport != Transport.STREAM
            ):
                raise ValueError("v1 headers carry only TCP over IPv4 or IPv6")

    # -- what the receiver should do ----------------------------------------

    @property
    def uses_real_addresses(self) -> bool:
        """C{True} when the receiver must use the connection's own addresses."""
        return self.source is None

    # -- TLV accessors --------------------------------------------------------

    def get_tlv(self, t: int) -> bytes | None:
        """The raw value of the first TLV of type C{t} (any type), or C{None}."""
        return first_tlv(self.tlvs, t)

    def get_tlvs(self, t: int) -> list[bytes]:
        """The raw values of every TLV of type C{t}, in wire order."""
        return [tlv[1] for tlv in self.tlvs if tlv[0] == t]

    @property
    def alpn(self) -> bytes | None:
        """Application protocol (PP2_TYPE_ALPN), e.g. C{b"h2"}."""
        return first_tlv(self.tlvs, _ALPN)

    @property
    def authority(self) -> str | None:
        """Host name the client asked for, usually the TLS SNI (UTF-8)."""
        value = first_tlv(self.tlvs, _AUTHORITY)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def unique_id(self) -> bytes | None:
        """Opaque unique connection id (PP2_TYPE_UNIQUE_ID)."""
        return first_tlv(self.tlvs, _UNIQUE_ID)

    @property
    def netns(self) -> str | None:
        """Network namespace name (PP2_TYPE_NETNS, ASCII)."""
        return text_or_none(first_tlv(self.tlvs, _NETNS), "ascii")

    @property
    def noop(self) -> bytes | None:
        """The payload of the first NOOP (padding) TLV, if any."""
        return first_tlv(self.tlvs, _NOOP)

    @property
    def crc32c(self) -> int | None:
        """The CRC32C the sender put in the header (the parser verified it)."""
        value = first_tlv(self.tlvs, _CRC32C)
        if value is None or len(value) != 4:
            return None
        return int.from_bytes(value, "big")

    @property
    def ssl(self) -> SSLInfo | None:
        """The decoded SSL record (client flags, verify, sub-TLVs), or C{None}."""
        return SSLInfo.from_value_or_none(first_tlv(self.tlvs, _SSL))

    @property
    def aws_vpce_id(self) -> str | None:
        """AWS PrivateLink VPC endpoint id (0xEA subtype 0x01), or C{None}."""
        for value in self.get_tlvs(_AWS):
            if len(value) > 1 and value[0] == 0x01:
                return text_or_none(value[1:], "ascii")
        return None

    @property
    def azure_link_id(self) -> int | None:
        """Azure Private Link LINKID (0xEE subtype 0x01, uint32 LE), or C{None}."""
        for value in self.get_tlvs(_AZURE):
            if len(value) == 5 and value[0] == 0x01:
                return int.from_bytes(value[1:], "little")
        return None

    @property
    def gcp_psc_connection_id(self) -> int | None:
        """GCP Private Service Connect connection id (0xE0, uint64 BE), or C{None}."""
        value = first_tlv(self.tlvs, _GCP)
        if value is None or len(value) != 8:
            return None
        return int.from_bytes(value, "big")

    # -- serialisation --------------------------------------------------------

    def to_bytes(self, *, crc32c: bool = False) -> bytes:
        """
        The header on the wire.

        @param crc32c: for v2, add a CRC32C TLV (at the end) when the header
            has none. Any CRC32C TLV present is (re)computed either way. v1
            has no checksum: L{ValueError}.
        """
        self._check_buildable()
        if self.version == 1:
            if crc32c:
                raise ValueError("v1 headers cannot carry a CRC32C")
            return _v1_bytes(self)
        return _v2_bytes(self, crc32c)


def _host_text(address: IPv4Address | IPv6Address) -> str:
    return address.host.split("%", 1)[0]


def _v1_bytes(header: ProxyHeader) -> bytes:
    src, dst = header.source, header.destination
    if src is None or dst is None:
        return b"PROXY UNKNOWN\r\n"
    assert isinstance(src, (IPv4Address, IPv6Address))
    assert isinstance(dst, (IPv4Address, IPv6Address))
    if isinstance(src, IPv4Address):
        family, af = "TCP4", socket.AF_INET
    else:
        family, af = "TCP6", socket.AF_INET6
    hosts = []
    for address in (src, dst):
        try:
            packed = socket.inet_pton(af, _host_text(address))
        except OSError:
            raise ValueError(f"{address.host!r} is not a literal {family} address") from None
        hosts.append(socket.inet_ntop(af, packed))
    for port in (src.port, dst.port):
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is not 0-65535")
    return f"PROXY {family} {hosts[0]} {hosts[1]} {src.port} {dst.port}\r\n".encode("ascii")


def _address_block(header: ProxyHeader) -> bytes:
    src, dst = header.source, header.destination
    if header.command == Command.LOCAL or src is None or dst is None:
        return b""
    if isinstance(src, UNIXAddress):
        assert isinstance(dst, UNIXAddress)
        paths = []
        for address in (src, dst):
            name = address.name or b""
            raw = name.encode("utf-8") if isinstance(name, str) else bytes(name)
            if len(raw) > 108:
                raise ValueError(f"UNIX path {raw!r} is longer than 108 bytes")
            paths.append(raw.ljust(108, b"\0"))
        return paths[0] + paths[1]
    assert isinstance(src, (IPv4Address, IPv6Address))
    assert isinstance(dst, (IPv4Address, IPv6Address))
    af = socket.AF_INET if isinstance(src, IPv4Address) else socket.AF_INET6
    try:
        packed = [socket.inet_pton(af, _host_text(a)) for a in (src, dst)]
    except OSError:
        raise ValueError(f"{src.host!r} / {dst.host!r} are not literal IP addresses") from None
    return packed[0] + packed[1] + struct.pack("!HH", src.port, dst.port)


def _v2_bytes(header: ProxyHeader, add_crc: bool) -> bytes:
    """
    Encode C{header} as a v2 header (spec 2.2): the 16 fixed bytes, the
    address block, then the TLVs in the header's order.

    A LOCAL header is written with no addresses and family/transport 0x00; a
    PROXY one must have an address block of the size its family says
    (L{ADDRESS_SIZE}, the table the decoder uses too). With C{add_crc}, a
    CRC32C TLV is appended when the header has none. A CRC32C TLV is written
    as zeros first and then filled with the checksum of the whole header so
    encoded, as the spec defines it (2.2.5), which is why its offset is kept.

    @raise ValueError: the addresses do not match the family, the body is
        over 65,535 bytes, or the header carries more than one CRC32C TLV.
    """
    block = _address_block(header)
    if header.command == Command.LOCAL:
        fam_byte = 0x00
    else:
        fam_byte = (header.family << 4) | header.transport
        if len(block) != ADDRESS_SIZE.get(fam_byte, -1):
            raise ValueError("addresses do not match the header's family")
    tlvs = list(header.tlvs)
    has_crc = any(t[0] == TLVType.CRC32C for t in tlvs)
    if add_crc and not has_crc:
        tlvs.append(TLV(TLVType.CRC32C, b"\0\0\0\0"))
        has_crc = True
    parts = [block]
    crc_offsets = []
    offset = 16 + len(block)
    for tlv in tlvs:
        if tlv[0] == TLVType.CRC32C:
            tlv = TLV(TLVType.CRC32C, b"\0\0\0\0")
            crc_offsets.append(offset + 3)
        encoded = tlv.to_bytes()
        parts.append(encoded)
        offset += len(encoded)
    body = b"".join(parts)
    if len(body) > 0xFFFF:
        raise ValueError(f"v2 header body of {len(body)} bytes exceeds 65535")
    data = bytearray(
        V2_SIGNATURE
        + bytes([0x20 | header.command, fam_byte])
        + struct.pack("!H", len(body))
        + body
    )
    if has_crc:
        if len(crc_offsets) > 1:
            raise ValueError("a header carries at most one CRC32C TLV")
        data[crc_offsets[0] : crc_offsets[0] + 4] = _crc32c(bytes(data)).to_bytes(4, "big")
    return bytes(data)

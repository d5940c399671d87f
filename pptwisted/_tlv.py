"""
Type-length-value records of the PROXY protocol v2 (spec section 2.2.1 to
2.2.8) and the vendor records sent by AWS, Azure and GCP.

Parsing is strict where the spec is: TLVs must tile the space after the
address block exactly, an SSL record must hold at least its 5-byte fixed part
and its sub-TLVs must tile the rest, a CRC32C record must be 4 bytes and must
match. Everything else is kept raw and decoded on access; a record of the
wrong shape makes its accessor return C{None} instead of failing the header.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from typing import NamedTuple

from crc32c import crc32c as _crc32c

from ._errors import InvalidHeader, Rule

__all__ = [
    "TLV",
    "SSLInfo",
    "TLVType",
    "aws_vpce_tlv",
    "azure_link_id_tlv",
    "gcp_psc_tlv",
    "ssl_tlv",
]


class TLVType(enum.IntEnum):
    """Registered TLV types (spec 2.2) and the cloud vendors' ones."""

    ALPN = 0x01
    AUTHORITY = 0x02
    CRC32C = 0x03
    NOOP = 0x04
    UNIQUE_ID = 0x05
    SSL = 0x20
    SSL_VERSION = 0x21
    SSL_CN = 0x22
    SSL_CIPHER = 0x23
    SSL_SIG_ALG = 0x24
    SSL_KEY_ALG = 0x25
    SSL_GROUP = 0x26
    SSL_SIG_SCHEME = 0x27
    SSL_CLIENT_CERT = 0x28
    NETNS = 0x30
    GCP = 0xE0
    AWS = 0xEA
    AZURE = 0xEE


#: SSL client flags (spec 2.2.5).
PP2_CLIENT_SSL = 0x01
PP2_CLIENT_CERT_CONN = 0x02
PP2_CLIENT_CERT_SESS = 0x04

_AWS_SUBTYPE_VPCE_ID = 0x01
_AZURE_SUBTYPE_LINKID = 0x01

_tuple_new = tuple.__new__
_unpack_tl = struct.Struct("!BH").unpack_from
_unpack_ssl = struct.Struct("!BI").unpack_from


class TLV(NamedTuple):
    """One type-length-value record: C{type} (0-255) and its raw C{value}."""

    type: int
    value: bytes

    def to_bytes(self) -> bytes:
        """The record on the wire: type, 16-bit big-endian length, value."""
        if not 0 <= self.type <= 0xFF:
            raise ValueError(f"TLV type {self.type} is not 0-255")
        if len(self.value) > 0xFFFF:
            raise ValueError("TLV value longer than 65535 bytes")
        return struct.pack("!BH", self.type, len(self.value)) + bytes(self.value)


def parse_tlvs(data: bytes, start: int, end: int, ssl: bool = False) -> tuple[TLV, ...]:
    """
    Split C{data[start:end]} into TLVs; they must tile it exactly.

    @param ssl: C{True} for the sub-TLVs of an SSL record (errors then name
        the SSL rule, and no record is checked further).
    """
    tlvs: list[TLV] = []
    append = tlvs.append
    pos = start
    while pos < end:
        vstart = pos + 3
        if vstart > end:
            raise _truncated(ssl, f"{end - pos} byte(s) left at offset {pos}, a TLV needs 3")
        t = data[pos]
        nxt = vstart + ((data[pos + 1] << 8) | data[pos + 2])
        if nxt > end:
            raise _truncated(
                ssl,
                f"TLV 0x{t:02X} at offset {pos} declares {nxt - vstart} byte(s),"
                f" only {end - vstart} left",
            )
        append(_tuple_new(TLV, (t, data[vstart:nxt])))
        pos = nxt
    return tuple(tlvs)


def parse_header_tlvs(data: bytes, start: int, end: int) -> tuple[TLV, ...]:
    """
    The TLVs of the v2 header C{data[:end]}, from C{start}: they must tile
    the rest exactly (spec 2.2), an SSL record must hold its fixed part and
    sub-TLVs that tile it (2.2.5), and a CRC32C record must be 4 bytes, alone
    and must match (2.2.3).

    The common case (plain records that tile) takes one lean walk with a
    single bounds check at the end; anything else (an overrun, CRC32C, SSL)
    is walked again by L{_check_header_tlvs}, which names the rule broken.
    """
    tlvs: list[TLV] = []
    append = tlvs.append
    pos = start
    try:
        while pos < end:
            t = data[pos]
            vstart = pos + 3
            pos = vstart + ((data[pos + 1] << 8) | data[pos + 2])
            if t in _CHECKED:
                return _check_header_tlvs(data, start, end)
            append(_tuple_new(TLV, (t, data[vstart:pos])))
    except IndexError:
        return _check_header_tlvs(data, start, end)
    if pos != end:
        return _check_header_tlvs(data, start, end)
    return tuple(tlvs)


def _check_header_tlvs(data: bytes, start: int, end: int) -> tuple[TLV, ...]:
    """L{parse_header_tlvs} with every bound and every CRC32C/SSL record checked."""
    tlvs = parse_tlvs(data, start, end)
    crc_at = -1
    pos = start
    for t, value in tlvs:
        if t == 0x03:
            if len(value) != 4:
                raise InvalidHeader(
                    Rule.V2_CRC32C_LENGTH, f"CRC32C TLV is {len(value)} bytes, must be 4"
                )
            if crc_at >= 0:
                raise InvalidHeader(Rule.V2_CRC32C_DUPLICATE, "more than one CRC32C TLV")
            crc_at = pos + 3
        elif t == 0x20:
            _check_ssl(value)
        pos += 3 + len(value)
    if crc_at >= 0:
        _verify_crc(data, crc_at, end)
    return tlvs


#: Types parse_header_tlvs looks into: CRC32C and SSL.
_CHECKED = frozenset((0x03, 0x20))


def _verify_crc(data: bytes, found: int, end: int) -> None:
    """
    Check the CRC32C whose value starts at C{found} (spec 2.2.3): computed
    over the whole header C{data[:end]} with the checksum field zeroed.
    """
    expected = int.from_bytes(data[found : found + 4], "big")
    actual = _crc32c(bytes(data[:found]) + b"\0\0\0\0" + bytes(data[found + 4 : end]))
    if actual != expected:
        raise InvalidHeader(
            Rule.V2_CRC32C_MISMATCH,
            f"CRC32C is 0x{expected:08X}, the header's checksum is 0x{actual:08X}",
        )


def _truncated(ssl: bool, detail: str) -> InvalidHeader:
    if ssl:
        return InvalidHeader(Rule.V2_SSL_TRUNCATED, "SSL sub-TLVs: " + detail)
    return InvalidHeader(Rule.V2_TLV_TRUNCATED, detail, "TLVs must exactly fill the header length")


def _check_ssl(value: bytes) -> None:
    if len(value) < 5:
        raise InvalidHeader(
            Rule.V2_SSL_SHORT,
            f"SSL TLV is {len(value)} byte(s), it needs at least 5 (client, verify)",
        )
    parse_tlvs(value, 5, len(value), ssl=True)


def first_tlv(tlvs: Iterable[TLV], t: int) -> bytes | None:
    for tlv in tlvs:
        if tlv[0] == t:
            return tlv[1]
    return None


def text_or_none(value: bytes | None, encoding: str) -> str | None:
    if value is None:
        return None
    try:
        return value.decode(encoding)
    except UnicodeDecodeError:
        return None


class SSLInfo(NamedTuple):
    """
    The decoded PP2_TYPE_SSL record (spec 2.2.5): what the proxy learnt from
    the client's TLS connection.
    """

    client: int
    verify: int
    tlvs: tuple[TLV, ...]

    @classmethod
    def from_value(cls, value: bytes) -> SSLInfo:
        """Decode an SSL TLV value (already checked by the parser)."""
        client, verify = _unpack_ssl(value, 0)
        return cls(client, verify, parse_tlvs(value, 5, len(value), ssl=True))

    @classmethod
    def from_value_or_none(cls, value: bytes | None) -> SSLInfo | None:
        """Decode an SSL TLV value, or say C{None} if absent or malformed."""
        if value is None or len(value) < 5:
            return None
        try:
            return cls.from_value(value)
        except InvalidHeader:
            return None

    @property
    def client_ssl(self) -> bool:
        """The client connected over TLS (PP2_CLIENT_SSL)."""
        return bool(self.client & PP2_CLIENT_SSL)

    @property
    def client_cert_conn(self) -> bool:
        """The client gave a certificate on this connection."""
        return bool(self.client & PP2_CLIENT_CERT_CONN)

    @property
    def client_cert_sess(self) -> bool:
        """The client gave a certificate at least once on this TLS session."""
        return bool(self.client & PP2_CLIENT_CERT_SESS)

    @property
    def verified(self) -> bool:
        """A presented client certificate was verified (C{verify} is 0)."""
        return self.verify == 0

    def get(self, t: int) -> bytes | None:
        """The raw value of the first sub-TLV of type C{t}, or C{None}."""
        return first_tlv(self.tlvs, t)

    @property
    def version(self) -> str | None:
        """TLS version, e.g. C{"TLSv1.3"} (PP2_SUBTYPE_SSL_VERSION)."""
        return text_or_none(self.get(TLVType.SSL_VERSION), "ascii")

    @property
    def cn(self) -> str | None:
        """Common name of the client certificate (PP2_SUBTYPE_SSL_CN)."""
        return text_or_none(self.get(TLVType.SSL_CN), "utf-8")

    @property
    def cipher(self) -> str | None:
        """Cipher name, e.g. C{"ECDHE-RSA-AES128-GCM-SHA256"}."""
        return text_or_none(self.get(TLVType.SSL_CIPHER), "ascii")

    @property
    def sig_alg(self) -> str | None:
        """Algorithm used to sign the client certificate."""
        return text_or_none(self.get(TLVType.SSL_SIG_ALG), "ascii")

    @property
    def key_alg(self) -> str | None:
        """Algorithm of the client certificate's public key."""
        return text_or_none(self.get(TLVType.SSL_KEY_ALG), "ascii")

    @property
    def group(self) -> str | None:
        """Key exchange group (PP2_SUBTYPE_SSL_GROUP, 0x26)."""
        return text_or_none(self.get(TLVType.SSL_GROUP), "ascii")

    @property
    def sig_scheme(self) -> str | None:
        """TLS signature scheme (PP2_SUBTYPE_SSL_SIG_SCHEME, 0x27)."""
        return text_or_none(self.get(TLVType.SSL_SIG_SCHEME), "ascii")

    @property
    def client_cert(self) -> bytes | None:
        """The client certificate, DER (PP2_SUBTYPE_SSL_CLIENT_CERT, 0x28)."""
        return self.get(TLVType.SSL_CLIENT_CERT)

    def to_tlv(self) -> TLV:
        """This record as a TLV of type SSL."""
        body = struct.pack("!BI", self.client, self.verify)
        return TLV(TLVType.SSL, body + b"".join(t.to_bytes() for t in self.tlvs))


def ssl_tlv(
    client: int = PP2_CLIENT_SSL,
    verify: int = 0,
    *,
    version: str | None = None,
    cn: str | None = None,
    cipher: str | None = None,
    sig_alg: str | None = None,
    key_alg: str | None = None,
    group: str | None = None,
    sig_scheme: str | None = None,
    client_cert: bytes | None = None,
) -> TLV:
    """Build an SSL TLV with the given flags and sub-TLVs."""
    subs: list[TLV] = []
    for t, text in (
        (TLVType.SSL_VERSION, version),
        (TLVType.SSL_CN, cn),
        (TLVType.SSL_CIPHER, cipher),
        (TLVType.SSL_SIG_ALG, sig_alg),
        (TLVType.SSL_KEY_ALG, key_alg),
        (TLVType.SSL_GROUP, group),
        (TLVType.SSL_SIG_SCHEME, sig_scheme),
    ):
        if text is not None:
            subs.append(TLV(t, text.encode("utf-8")))
    if client_cert is not None:
        subs.append(TLV(TLVType.SSL_CLIENT_CERT, client_cert))
    return SSLInfo(client, verify, tuple(subs)).to_tlv()


def aws_vpce_tlv(vpce_id: str) -> TLV:
    """The AWS PrivateLink TLV (0xEA, subtype 0x01) carrying a VPC endpoint id."""
    return TLV(TLVType.AWS, bytes([_AWS_SUBTYPE_VPCE_ID]) + vpce_id.encode("ascii"))


def azure_link_id_tlv(link_id: int) -> TLV:
    """The Azure Private Link TLV (0xEE, subtype 0x01, uint32 little-endian)."""
    return TLV(TLVType.AZURE, bytes([_AZURE_SUBTYPE_LINKID]) + link_id.to_bytes(4, "little"))


def gcp_psc_tlv(connection_id: int) -> TLV:
    """The GCP Private Service Connect TLV (0xE0, uint64 big-endian)."""
    return TLV(TLVType.GCP, connection_id.to_bytes(8, "big"))

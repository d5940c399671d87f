"""
Type-length-value records of the PROXY protocol v2 (spec section 2.2.1 to
2.2.8) and the vendor records sent by AWS, Azure and GCP.

Parsing is strict where the spec is: TLVs must tile the space after the
address block exactly, an SSL record must hold at least its 5-byte fixed part
and its sub-TLVs must tile the rest, a CRC32C record must be 4 bytes and must
match. L{walk_tlvs} is the one walk that checks all of this (and the cap on
the number of records) without building anything; what it accepted is held
as raw bytes in a L{TLVs} view and decoded on access, so a parsed header
holds little more than its own bytes. A record of the wrong shape makes its
accessor return C{None} instead of failing the header.
"""

from __future__ import annotations

import enum
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, overload

from crc32c import crc32c as _crc32c

from ._errors import InvalidHeader, Rule

__all__ = [
    "DEFAULT_MAX_TLVS",
    "TLV",
    "SSLInfo",
    "TLVType",
    "TLVs",
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


#: Default cap on the number of TLV records in a header, SSL sub-TLVs
#: included. HAProxy with every option sends about 13.
DEFAULT_MAX_TLVS = 64


def walk_tlvs(
    data: bytes | bytearray, start: int, end: int, limit: int, ssl: bool = False
) -> tuple[int, int]:
    """
    Check the TLVs in C{data[start:end]} without building them: they must
    tile it exactly (spec 2.2), be at most C{limit} records counting the
    sub-TLVs of SSL records (checked as the walk goes, so a flood of empty
    records costs at most C{limit} steps), an SSL record must hold its
    5-byte fixed part and sub-TLVs that tile the rest (2.2.5), and a CRC32C
    record must be 4 bytes and alone (2.2.3).

    @param ssl: C{True} to walk the sub-TLVs of an SSL record (errors then
        name the SSL rules and no record is looked into).
    @return: the number of records at this level (sub-TLVs not counted) and
        the offset of the CRC32C value in C{data}, or -1 when there is none.
    """
    count = 0
    seen = 0
    crc_at = -1
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
        count += 1
        seen += 1
        if seen > limit:
            raise _too_many(limit)
        if not ssl and (t == 0x03 or t == 0x20):
            if t == 0x03:
                if nxt - vstart != 4:
                    raise InvalidHeader(
                        Rule.V2_CRC32C_LENGTH,
                        f"CRC32C TLV is {nxt - vstart} bytes, must be 4",
                    )
                if crc_at >= 0:
                    raise InvalidHeader(Rule.V2_CRC32C_DUPLICATE, "more than one CRC32C TLV")
                crc_at = vstart
            else:
                if nxt - vstart < 5:
                    raise InvalidHeader(
                        Rule.V2_SSL_SHORT,
                        f"SSL TLV is {nxt - vstart} byte(s), it needs at least 5 (client, verify)",
                    )
                if vstart + 5 < nxt:
                    try:
                        seen += walk_tlvs(data, vstart + 5, nxt, limit - seen, True)[0]
                    except InvalidHeader as e:
                        if e.rule is Rule.V2_TOO_MANY_TLVS:
                            # Reached inside the record: report the whole cap.
                            raise _too_many(limit) from None
                        raise
        pos = nxt
    return count, crc_at


def _too_many(limit: int) -> InvalidHeader:
    return InvalidHeader(
        Rule.V2_TOO_MANY_TLVS,
        f"more than {limit} TLV records (SSL sub-TLVs included)",
        "raise max_tlvs if your proxy sends more",
    )


def _truncated(ssl: bool, detail: str) -> InvalidHeader:
    if ssl:
        return InvalidHeader(Rule.V2_SSL_TRUNCATED, "SSL sub-TLVs: " + detail)
    return InvalidHeader(Rule.V2_TLV_TRUNCATED, detail, "TLVs must exactly fill the header length")


def verify_crc32c(data: bytes | bytearray, found: int, end: int) -> None:
    """
    Check the CRC32C whose value starts at C{found} (spec 2.2.3): computed
    over the whole header C{data[:end]} with the checksum field zeroed, in
    three pieces over a memoryview, without copying the header.
    """
    view = memoryview(data)
    expected = int.from_bytes(view[found : found + 4], "big")
    actual = _crc32c(view[found + 4 : end], _crc32c(_ZERO4, _crc32c(view[:found])))
    if actual != expected:
        raise InvalidHeader(
            Rule.V2_CRC32C_MISMATCH,
            f"the header's CRC32C TLV says 0x{expected:08X},"
            f" the checksum computed over the header is 0x{actual:08X}",
        )


_ZERO4 = b"\0\0\0\0"


class TLVs(Sequence[TLV]):
    """
    TLV records held as their bytes on the wire, already checked by
    L{walk_tlvs}: a read-only sequence of L{TLV} that decodes on access.
    It compares equal to a tuple or list of the same records. With more
    than a few records, the first lookup by type notes each record's type
    and offset (three bytes per record, at least as many as it has on the
    wire), so that every later lookup costs no walk.
    """

    __slots__ = ("_len", "_offsets", "_raw", "_types")

    def __init__(self, raw: bytes, count: int) -> None:
        self._raw = raw
        self._len = count
        self._types = b""
        self._offsets: array[int] | None = None

    @classmethod
    def of(cls, records: Iterable[TLV]) -> TLVs:
        """The view of C{records}, encoded (each one checked by L{TLV.to_bytes})."""
        encoded = [TLV(*record).to_bytes() for record in records]
        return cls(b"".join(encoded), len(encoded))

    @property
    def raw(self) -> bytes:
        """The records as they are on the wire."""
        return self._raw

    def first(self, t: int) -> bytes | None:
        """The value of the first record of type C{t}, or C{None}."""
        return first_tlv(self, t)

    def _lookup(self, t: int) -> bytes | None:
        """L{first} through the index of types and offsets."""
        offsets = self._offsets
        if offsets is None:
            offsets = self._index()
        i = self._types.find(t)
        if i < 0:
            return None
        raw = self._raw
        pos = offsets[i] + 3
        return raw[pos : pos + ((raw[pos - 2] << 8) | raw[pos - 1])]

    def _index(self) -> array[int]:
        """Note the type and the offset of every record, in order."""
        raw = self._raw
        types = bytearray()
        offsets = array("H")
        pos = 0
        end = len(raw)
        while pos < end:
            types.append(raw[pos])
            offsets.append(pos)
            pos += 3 + ((raw[pos + 1] << 8) | raw[pos + 2])
        self._types = bytes(types)
        self._offsets = offsets
        return offsets

    def __iter__(self) -> Iterator[TLV]:
        raw = self._raw
        pos = 0
        end = len(raw)
        while pos < end:
            nxt = pos + 3 + ((raw[pos + 1] << 8) | raw[pos + 2])
            yield _tuple_new(TLV, (raw[pos], raw[pos + 3 : nxt]))
            pos = nxt

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> TLV: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[TLV, ...]: ...

    def __getitem__(self, index: int | slice) -> TLV | tuple[TLV, ...]:
        return tuple(self)[index]

    def __add__(self, other: Iterable[TLV]) -> tuple[TLV, ...]:
        """As for a tuple of records: C{header.tlvs + (tlv,)} is a tuple."""
        return (*self, *other)

    def __radd__(self, other: Iterable[TLV]) -> tuple[TLV, ...]:
        return (*other, *self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TLVs):
            return self._raw == other._raw
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self) -> tuple[type[TLVs], tuple[bytes, int]]:  # the index is rebuilt
        return (TLVs, (self._raw, self._len))


def first_tlv(tlvs: Iterable[TLV], t: int) -> bytes | None:
    """The value of the first record of type C{t} in C{tlvs}, or C{None}."""
    if type(tlvs) is TLVs:
        if tlvs._len > 8:
            return tlvs._lookup(t)
        raw = tlvs._raw
        pos = 0
        end = len(raw)
        while pos < end:
            nxt = pos + 3 + ((raw[pos + 1] << 8) | raw[pos + 2])
            if raw[pos] == t:
                return raw[pos + 3 : nxt]
            pos = nxt
        return None
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
    tlvs: Sequence[TLV]

    @classmethod
    def from_value(cls, value: bytes) -> SSLInfo:
        """Decode an SSL TLV value; L{InvalidHeader} if it is malformed."""
        if len(value) < 5:
            raise InvalidHeader(Rule.V2_SSL_SHORT, f"SSL TLV is {len(value)} byte(s), needs 5")
        client, verify = _unpack_ssl(value, 0)
        count = walk_tlvs(value, 5, len(value), 0xFFFF, ssl=True)[0]
        return _tuple_new(cls, (client, verify, TLVs(value[5:], count)))

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
        return TLV(TLVType.SSL, body + TLVs.of(self.tlvs).raw)


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

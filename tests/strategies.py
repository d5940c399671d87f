"""
The hypothesis strategies of the codec's property tests, in one place:
addresses, TLVs, headers and their encodings, and the arbitrary or mutated
bytes that must raise nothing but L{ProxyProtocolError}. Used by
C{test_properties} and C{test_fuzz}.
"""

from __future__ import annotations

import socket
import string
import struct
from collections.abc import Sequence
from typing import Literal

from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from pptwisted import TLV, ProxyHeader
from pptwisted.codec import Command, Family, Transport
from pptwisted.tlv import SSLInfo, aws_vpce_tlv, azure_link_id_tlv, gcp_psc_tlv

from .helpers import V2_SIG

# -- addresses ----------------------------------------------------------------

ports = st.integers(0, 0xFFFF)
ipv4_hosts = st.integers(0, 2**32 - 1).map(
    lambda n: socket.inet_ntop(socket.AF_INET, n.to_bytes(4, "big"))
)
_groups = st.one_of(st.sampled_from([0, 0, 0, 1, 0xFFFF]), st.integers(0, 0xFFFF))
ipv6_hosts = st.one_of(
    st.integers(0, 2**128 - 1),
    st.lists(_groups, min_size=8, max_size=8).map(
        lambda gs: int.from_bytes(struct.pack("!8H", *gs), "big")
    ),
    st.integers(0, 2**32 - 1).map(lambda n: (0xFFFF << 32) | n),  # v4-mapped
    st.integers(0, 2**32 - 1),  # v4-compatible, and :: and ::1
).map(lambda n: socket.inet_ntop(socket.AF_INET6, n.to_bytes(16, "big")))
# UNIX names that survive NUL padding: a path without NUL (empty for an
# unnamed socket), or a non-empty Linux abstract name (leading NUL) that does
# not end in NUL.
unix_names = st.one_of(
    st.binary(max_size=108).map(lambda b: b.replace(b"\0", b"/")),
    st.binary(min_size=1, max_size=107)
    .map(lambda b: b"\0" + b.rstrip(b"\0"))
    .filter(lambda name: name != b"\0"),
)

# -- TLVs -------------------------------------------------------------------------

_plain_types = st.one_of(
    st.sampled_from([0x01, 0x02, 0x04, 0x05, 0x30, 0xE0, 0xEA, 0xEE, 0xF0, 0xF8, 0xFF]),
    st.integers(0, 0xFF),
).filter(lambda t: t not in (0x03, 0x20))
plain_tlvs = st.builds(TLV, _plain_types, st.binary(max_size=40))
sub_tlvs = st.lists(
    st.builds(
        TLV, st.one_of(st.integers(0x21, 0x28), st.integers(0, 0xFF)), st.binary(max_size=20)
    ),
    max_size=5,
).map(tuple)
ssl_infos = st.builds(SSLInfo, st.integers(0, 0xFF), st.integers(0, 2**32 - 1), sub_tlvs)
vendor_tlvs = st.one_of(
    st.builds(aws_vpce_tlv, st.text(string.ascii_letters + string.digits + "-", max_size=30)),
    st.builds(azure_link_id_tlv, st.integers(0, 2**32 - 1)),
    st.builds(gcp_psc_tlv, st.integers(0, 2**64 - 1)),
)
tlv_lists = st.lists(
    st.one_of(plain_tlvs, ssl_infos.map(SSLInfo.to_tlv), vendor_tlvs), max_size=6
).map(tuple)

# -- headers ----------------------------------------------------------------------


Kind = Literal["TCP", "UDP"]


def _inet(
    kind: Kind, src: str, dst: str, sport: int, dport: int, tlvs: tuple[TLV, ...]
) -> ProxyHeader:
    return ProxyHeader.proxy(
        IPv4Address(kind, src, sport), IPv4Address(kind, dst, dport), tlvs=tlvs
    )


def _inet6(
    kind: Kind, src: str, dst: str, sport: int, dport: int, tlvs: tuple[TLV, ...]
) -> ProxyHeader:
    return ProxyHeader.proxy(
        IPv6Address(kind, src, sport), IPv6Address(kind, dst, dport), tlvs=tlvs
    )


v1_headers = st.one_of(
    st.builds(
        lambda s, d, sp, dp: ProxyHeader.proxy(
            IPv4Address("TCP", s, sp), IPv4Address("TCP", d, dp), version=1
        ),
        ipv4_hosts,
        ipv4_hosts,
        ports,
        ports,
    ),
    st.builds(
        lambda s, d, sp, dp: ProxyHeader.proxy(
            IPv6Address("TCP", s, sp), IPv6Address("TCP", d, dp), version=1
        ),
        ipv6_hosts,
        ipv6_hosts,
        ports,
        ports,
    ),
    st.just(ProxyHeader.local(version=1)),
)
_kinds: st.SearchStrategy[Kind] = st.sampled_from(["TCP", "UDP"])
v2_headers = st.one_of(
    st.builds(_inet, _kinds, ipv4_hosts, ipv4_hosts, ports, ports, tlv_lists),
    st.builds(_inet6, _kinds, ipv6_hosts, ipv6_hosts, ports, ports, tlv_lists),
    st.builds(
        lambda tr, s, d, tlvs: ProxyHeader(
            2, Command.PROXY, Family.UNIX, tr, UNIXAddress(s), UNIXAddress(d), tlvs
        ),
        st.sampled_from([Transport.STREAM, Transport.DGRAM]),
        unix_names,
        unix_names,
        tlv_lists,
    ),
    st.just(ProxyHeader.local()),
    st.builds(
        lambda tlvs: ProxyHeader(
            2, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, tlvs
        ),
        tlv_lists,
    ),
)
headers = st.one_of(v1_headers, v2_headers)
#: (header, with a CRC32C?, its bytes)
encoded = st.builds(
    lambda h, crc: (h, crc and h.version == 2, h.to_bytes(crc32c=crc and h.version == 2)),
    headers,
    st.booleans(),
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"PROXY UNKNOWN\r\n", V2_SIG + b"\x20\x00\x00\x00", b"\r\n"]),
)


# Bytes that look like the start of a header, then anything.
_v1_alphabet = list(b"PROXY TCP46UNKW 0123456789abcdefABCDEF.:%+-\r\n")
_tails = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(_v1_alphabet), max_size=120).map(bytes),
)
_starts = st.sampled_from(
    [
        b"",
        b"P",
        b"PROXY ",
        b"PROXY TCP4 ",
        b"PROXY TCP6 ",
        b"PROXY UNKNOWN",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 ",
        b"PROXY TCP6 ::1 ::ffff:1.2.3.4 ",
        V2_SIG,
        V2_SIG + b"\x21",
        V2_SIG + b"\x20",
    ]
)
arbitrary = st.builds(bytes.__add__, _starts, _tails)


@st.composite
def v2_with_random_body(draw: st.DrawFn) -> bytes:
    """A v2 fixed part with a plausible family and a random body of the right length."""
    ver_cmd = draw(st.sampled_from([0x20, 0x21, 0x21, 0x22, 0x11]))
    fam = draw(st.sampled_from([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x13]))
    prefix = draw(st.sampled_from([b"", bytes(12), bytes(36), bytes(216)]))
    body = prefix + draw(
        st.one_of(
            st.binary(max_size=80),
            st.lists(
                st.builds(
                    lambda t, v: struct.pack("!BH", t, len(v)) + v,
                    st.sampled_from([0x01, 0x03, 0x04, 0x20, 0xEE]),
                    st.binary(max_size=12),
                ),
                max_size=4,
            ).map(b"".join),
        )
    )
    length = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, -3]))
    length = max(0, length)
    return V2_SIG + struct.pack("!BBH", ver_cmd, fam, length) + body + draw(st.binary(max_size=4))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid header with a few bytes replaced, cut or added."""
    _, _, data = draw(encoded)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["set", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if action == "set" and buf:
            buf[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del buf[at : at + draw(st.integers(1, 3))]
        else:
            buf[at:at] = draw(st.binary(min_size=1, max_size=3))
    return bytes(buf)


any_input = st.one_of(arbitrary, v2_with_random_body(), mutated())


@st.composite
def mutated_streams(draw: st.DrawFn, streams: Sequence[bytes]) -> bytes:
    """One of C{streams} with a few bytes replaced, inserted or cut off."""
    buf = bytearray(draw(st.sampled_from(streams)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(buf) - 1))
        action = draw(st.sampled_from(["set", "set", "insert", "delete"]))
        if action == "set":
            buf[at] = draw(st.integers(0, 255))
        elif action == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif len(buf) > 1:
            del buf[at]
    if draw(st.booleans()):
        del buf[draw(st.integers(0, len(buf))) :]
    return bytes(buf)

"""
Shared helpers for the codec tests.

The v2 builders here are written with C{struct} and C{socket} only, from the
layout in HAProxy's C{doc/proxy-protocol.txt} section 2.2, so that they are
independent of pptwisted's own encoder.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from typing import Any

from crc32c import crc32c
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import HeaderParser, IncompleteHeader, InvalidHeader, ProxyHeader, parse_header
from pptwisted.codec import DEFAULT_MAX_V2_LENGTH, Rule

#: The 12-byte v2 signature, spelled out from the spec.
V2_SIG = bytes.fromhex("0d0a0d0a 000d0a51 5549540a")


def feed_bytewise(
    data: bytes,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    **options: Any,
) -> tuple[ProxyHeader, bytes]:
    """
    Feed C{data} to a fresh L{HeaderParser} one byte at a time and return the
    header and every byte after it (what C{feed} returned as rest plus the
    bytes not fed yet).

    While the header is incomplete, C{needed} must be at least 1 and, once the
    header's length is known, never more than the bytes really missing.
    """
    parser = HeaderParser(versions=versions, max_v2_length=max_v2_length, **options)
    needs: list[tuple[int, int]] = []
    for i in range(len(data)):
        result = parser.feed(data[i : i + 1])
        if result is not None:
            header, rest = result
            if rest != b"":
                raise AssertionError(f"one byte fed, yet rest is {rest!r}")
            end = i + 1
            for fed, needed in needs:
                if not 1 <= needed <= end - fed:
                    raise AssertionError(
                        f"after {fed} byte(s) needed={needed}, but {end - fed} were missing"
                    )
            return header, data[end:]
        needs.append((i + 1, parser.needed))
    raise AssertionError(f"no header after {len(data)} byte(s); needed={parser.needed}")


def feed_bytewise_error(
    data: bytes,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    **options: Any,
) -> tuple[InvalidHeader, int]:
    """
    Feed C{data} one byte at a time until the parser raises; return the error
    and how many bytes had been fed when it was raised.
    """
    parser = HeaderParser(versions=versions, max_v2_length=max_v2_length, **options)
    for i in range(len(data)):
        try:
            result = parser.feed(data[i : i + 1])
        except InvalidHeader as e:
            return e, i + 1
        if result is not None:
            raise AssertionError(f"accepted after {i + 1} byte(s): {result!r}")
    raise AssertionError(f"not rejected after {len(data)} byte(s)")


def assert_accepts(
    case: SynchronousTestCase,
    data: bytes,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    **options: Any,
) -> tuple[ProxyHeader, bytes]:
    """
    Parse C{data} three ways (L{parse_header}, one L{HeaderParser.feed} of
    everything, and one byte at a time) and check they agree.
    """
    whole = parse_header(data, versions=versions, max_v2_length=max_v2_length, **options)
    parser = HeaderParser(versions=versions, max_v2_length=max_v2_length, **options)
    one_feed = parser.feed(data)
    bytewise = feed_bytewise(data, versions=versions, max_v2_length=max_v2_length, **options)
    case.assertEqual(one_feed, whole)
    case.assertEqual(bytewise, whole)
    for header in (whole[0], bytewise[0]):
        for tlv in header.tlvs:
            case.assertIs(type(tlv.value), bytes)
    case.assertIs(type(whole[1]), bytes)
    case.assertIs(type(bytewise[1]), bytes)
    return whole


def assert_rejects(
    case: SynchronousTestCase,
    data: bytes,
    rule: Rule,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    **options: Any,
) -> InvalidHeader:
    """
    Check that L{parse_header} and a byte-at-a-time L{HeaderParser} both
    reject C{data} for C{rule}; return the error of L{parse_header}.
    """
    error: InvalidHeader = case.assertRaises(
        InvalidHeader,
        parse_header,
        data,
        versions=versions,
        max_v2_length=max_v2_length,
        **options,
    )
    case.assertEqual(error.rule, rule, str(error))
    case.assertTrue(error.detail)
    bytewise, _ = feed_bytewise_error(
        data, versions=versions, max_v2_length=max_v2_length, **options
    )
    case.assertEqual(bytewise.rule, rule, str(bytewise))
    case.assertIs(type(bytewise), type(error))
    return error


def assert_rejects_at_last_byte(
    case: SynchronousTestCase,
    data: bytes,
    rule: Rule,
    *,
    versions: Collection[int] = (1, 2),
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH,
    **options: Any,
) -> InvalidHeader:
    """
    Check that C{data} is rejected for C{rule} as soon as its last byte
    arrives: every shorter prefix is still an L{IncompleteHeader}, byte by
    byte and whole.
    """
    for k in range(len(data)):
        incomplete = case.assertRaises(
            IncompleteHeader,
            parse_header,
            data[:k],
            versions=versions,
            max_v2_length=max_v2_length,
            **options,
        )
        case.assertGreaterEqual(incomplete.needed, 1)
    error = assert_rejects(
        case, data, rule, versions=versions, max_v2_length=max_v2_length, **options
    )
    _, at = feed_bytewise_error(data, versions=versions, max_v2_length=max_v2_length, **options)
    case.assertEqual(at, len(data))
    return error


def tlv(t: int, value: bytes) -> bytes:
    """One TLV on the wire: type, 16-bit big-endian length, value."""
    return struct.pack("!BH", t, len(value)) + value


def v2(ver_cmd: int, fam: int, body: bytes, length: int | None = None) -> bytes:
    """A v2 header: signature, the two bytes given, the length (of C{body}
    unless given) and C{body} (address block and TLVs)."""
    return (
        V2_SIG + struct.pack("!BBH", ver_cmd, fam, len(body) if length is None else length) + body
    )


def inet4(src: str, dst: str, sport: int, dport: int) -> bytes:
    """The 12-byte AF_INET address block."""
    return (
        socket.inet_pton(socket.AF_INET, src)
        + socket.inet_pton(socket.AF_INET, dst)
        + struct.pack("!HH", sport, dport)
    )


def inet6(src: str, dst: str, sport: int, dport: int) -> bytes:
    """The 36-byte AF_INET6 address block."""
    return (
        socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + struct.pack("!HH", sport, dport)
    )


def unix(src: bytes, dst: bytes) -> bytes:
    """The 216-byte AF_UNIX address block: two NUL-padded 108-byte paths."""
    assert len(src) <= 108 and len(dst) <= 108
    return src.ljust(108, b"\0") + dst.ljust(108, b"\0")


def seal_crc32c(header: bytes, offset: int) -> bytes:
    """
    Put the CRC32C of C{header} (with the four bytes at C{offset} zeroed) at
    C{offset}, as spec section 2.2.3 tells senders to.
    """
    zeroed = header[:offset] + b"\0\0\0\0" + header[offset + 4 :]
    return zeroed[:offset] + struct.pack("!I", crc32c(zeroed)) + zeroed[offset + 4 :]

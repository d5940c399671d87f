"""
A fuzz target for pptwisted's sans-I/O codec (L{parse_header},
L{HeaderParser}, L{ProxyHeader.to_bytes}).

L{fuzz_one} takes arbitrary bytes: the first two choose the parser's options
and how the rest is cut into chunks; the rest is the stream. It checks that:

  - nothing but L{ProxyProtocolError} escapes the codec (anything else
    propagates: the fuzzer reports it);
  - the outcome (header and rest, rule broken, or incomplete) is the same
    whole, in random chunks and one byte at a time;
  - while the header is incomplete, C{needed} is at least 1 and never more
    than the bytes still missing;
  - a parsed header's accessors never raise, and it round-trips:
    C{to_bytes()} parses back to an equal header (compared as parsed
    headers: v1 C{UNKNOWN} with addresses and v2 LOCAL with a body come back
    in their short form, so the bytes may differ), and a second round is
    byte-exact.

Run it with atheris (coverage-guided, libFuzzer flags accepted), from the
repository root:

    python fuzz/fuzz_codec.py -runs=1000000 [corpus_dir ...]

Corpus directories given that are empty are seeded with valid headers.
C{tests/test_fuzz.py} drives the same L{fuzz_one} with hypothesis in the
normal test run.
"""

from __future__ import annotations

import importlib
import itertools
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from pptwisted import (
    TLV,
    HeaderParser,
    IncompleteHeader,
    InvalidHeader,
    ProxyHeader,
    ProxyProtocolError,
    parse_header,
)
from pptwisted.codec import DEFAULT_MAX_V2_LENGTH, Command, Rule
from pptwisted.codec._tlv import DEFAULT_MAX_TLVS
from pptwisted.tlv import aws_vpce_tlv, azure_link_id_tlv, gcp_psc_tlv, ssl_tlv

__all__ = ["SEEDS", "fuzz_one", "main"]

#: The versions a parser accepts, chosen by the low two bits of byte 0.
VERSIONS: tuple[tuple[int, ...], ...] = ((1, 2), (1,), (2,), (1, 2))

Outcome = (
    tuple[Literal["header"], ProxyHeader, bytes]
    | tuple[Literal["invalid"], Rule, None]
    | tuple[Literal["incomplete"], None, None]
)


def _options(control: int) -> tuple[tuple[int, ...], int]:
    """
    Versions and v2 length cap for a control byte: bits 0-1 choose the
    versions, bits 2-3 the cap (default, default, 65535, or a small one set
    by bits 4-7).
    """
    versions = VERSIONS[control & 3]
    choice = (control >> 2) & 3
    caps = (DEFAULT_MAX_V2_LENGTH, DEFAULT_MAX_V2_LENGTH, 0xFFFF, (control >> 4) * 16)
    return versions, caps[choice]


def _chunks(data: bytes, seed: int) -> list[bytes]:
    """C{data} cut at places chosen by C{seed} (the same for the same seed)."""
    if len(data) < 2:
        return [data] if data else []
    rng = random.Random(seed)
    count = min(len(data) - 1, rng.choice((1, 2, 3, 5, 8, 16)))
    cuts = sorted(rng.sample(range(1, len(data)), count))
    return [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]


def _bytewise(data: bytes, limit: int = 400) -> list[bytes]:
    """C{data} one byte at a time over its first C{limit} bytes, then the rest."""
    head = [data[i : i + 1] for i in range(min(len(data), limit))]
    return [*head, data[limit:]] if len(data) > limit else head


def _checks(seed: int) -> dict[str, Any]:
    """
    The TLV cap and the CRC32C requirement for a seed byte: bit 7 requires
    a CRC32C, bits 5-6 choose the cap (default, default, 2, or 65535).
    """
    caps = (DEFAULT_MAX_TLVS, DEFAULT_MAX_TLVS, 2, 0xFFFF)
    return {"max_tlvs": caps[(seed >> 5) & 3], "require_crc32c": bool(seed & 0x80)}


def _whole(data: bytes, versions: Sequence[int], cap: int, checks: dict[str, Any]) -> Outcome:
    try:
        header, rest = parse_header(data, versions=versions, max_v2_length=cap, **checks)
    except IncompleteHeader as e:
        if e.needed < 1:
            raise AssertionError(f"IncompleteHeader.needed is {e.needed}") from None
        if not isinstance(e.parser, HeaderParser):
            raise AssertionError(f"IncompleteHeader.parser is {e.parser!r}") from None
        return ("incomplete", None, None)
    except InvalidHeader as e:
        if not isinstance(e.rule, Rule) or not e.detail:
            raise AssertionError(f"malformed error {e!r}") from None
        return ("invalid", e.rule, None)
    except ProxyProtocolError as e:
        raise AssertionError(f"parse_header raised a bare {type(e).__name__}: {e}") from None
    if type(rest) is not bytes or not data.endswith(rest):
        raise AssertionError(f"rest {rest!r} is not the tail of the input")
    return ("header", header, rest)


def _chunked(
    chunks: Sequence[bytes],
    versions: Sequence[int],
    cap: int,
    total: int | None,
    checks: dict[str, Any],
) -> Outcome:
    """
    Feed C{chunks} to one L{HeaderParser}. C{total}, when known, is the
    header's length: C{needed} must never exceed what is really missing.
    """
    parser = HeaderParser(versions=versions, max_v2_length=cap, **checks)
    fed = 0
    for i, chunk in enumerate(chunks):
        try:
            result = parser.feed(chunk)
        except InvalidHeader as e:
            return ("invalid", e.rule, None)
        except ProxyProtocolError as e:
            raise AssertionError(f"feed raised {type(e).__name__}: {e}") from None
        fed += len(chunk)
        if result is not None:
            header, rest = result
            if type(rest) is not bytes:
                raise AssertionError(f"rest is a {type(rest).__name__}")
            return ("header", header, rest + b"".join(chunks[i + 1 :]))
        if parser.needed < 1:
            raise AssertionError(f"needed is {parser.needed} after {fed} bytes")
        if total is not None and parser.needed > total - fed:
            raise AssertionError(
                f"needed is {parser.needed} after {fed} bytes of a {total}-byte header"
            )
    return ("incomplete", None, None)


def _check_accessors(header: ProxyHeader) -> None:
    """The decoding properties say None for malformed records, never raise."""
    for name in (
        "alpn",
        "authority",
        "unique_id",
        "netns",
        "noop",
        "crc32c",
        "ssl",
        "aws_vpce_id",
        "azure_link_id",
        "gcp_psc_connection_id",
        "uses_real_addresses",
    ):
        getattr(header, name)
    info = header.ssl
    if info is not None:
        for name in ("version", "cn", "cipher", "sig_alg", "key_alg", "group", "sig_scheme"):
            getattr(info, name)
        info.client_cert  # noqa: B018
        info.verified  # noqa: B018


def _check_round_trip(header: ProxyHeader) -> None:
    wire = header.to_bytes()
    again, tail = parse_header(wire, max_v2_length=0xFFFF, max_tlvs=0xFFFF)
    if tail != b"" or again != header:
        raise AssertionError(f"{header!r} -> {wire!r} -> {again!r} + {tail!r}")
    if again.to_bytes() != wire:
        raise AssertionError(f"second round not byte-exact for {header!r}")
    if header.version == 2 and header.command == Command.PROXY:
        # (LOCAL discards its whole block, TLVs included: spec 2.2.)
        sealed, tail = parse_header(
            header.to_bytes(crc32c=True),
            max_v2_length=0xFFFF,
            max_tlvs=0xFFFF,
            require_crc32c=True,
        )
        if tail != b"" or sealed.crc32c is None or sealed.source != header.source:
            raise AssertionError(f"{header!r} with a CRC32C came back as {sealed!r}")


def fuzz_one(data: bytes) -> None:
    """One fuzz input: raise (anything) when the codec misbehaves on it."""
    if len(data) < 2:
        data = data.rjust(2, b"\0")
    versions, cap = _options(data[0])
    seed, stream = data[1], data[2:]
    checks = _checks(seed)
    whole = _whole(stream, versions, cap, checks)
    total = len(stream) - len(whole[2]) if whole[0] == "header" else None
    for chunks in (_chunks(stream, seed), _bytewise(stream)):
        chunked = _chunked(chunks, versions, cap, total, checks)
        if chunked != whole:
            raise AssertionError(f"{len(chunks)} chunks gave {chunked!r}, the whole gave {whole!r}")
    if whole[0] == "header":
        header = whole[1]
        _check_accessors(header)
        _check_round_trip(header)


def _tlvs() -> list[TLV]:
    return [
        TLV(0x01, b"h2"),
        TLV(0x02, b"example.com"),
        TLV(0x05, b"id"),
        ssl_tlv(version="TLSv1.3", cn="client"),
        aws_vpce_tlv("vpce-0123"),
        azure_link_id_tlv(7),
        gcp_psc_tlv(9),
    ]


def _seeds() -> tuple[bytes, ...]:
    v4 = IPv4Address("TCP", "192.0.2.1", 1234), IPv4Address("TCP", "198.51.100.1", 443)
    v6 = IPv6Address("TCP", "2001:db8::1", 1), IPv6Address("TCP", "::ffff:1.2.3.4", 2)
    udp = IPv4Address("UDP", "192.0.2.1", 53), IPv4Address("UDP", "192.0.2.2", 53)
    unix = UNIXAddress(b"/run/a.sock"), UNIXAddress(b"\0abstract")
    headers = [
        ProxyHeader.proxy(*v4, version=1).to_bytes(),
        ProxyHeader.proxy(*v6, version=1).to_bytes(),
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ::1 ::2 1 2\r\n",
        ProxyHeader.proxy(*v4).to_bytes(),
        ProxyHeader.proxy(*v4, tlvs=_tlvs()).to_bytes(crc32c=True),
        ProxyHeader.proxy(*v6, tlvs=_tlvs()[:3]).to_bytes(),
        ProxyHeader.proxy(*udp).to_bytes(crc32c=True),
        ProxyHeader.proxy(*unix).to_bytes(),
        ProxyHeader.local().to_bytes(),
        ProxyHeader.local(tlvs=[TLV(0x04, b"pad")]).to_bytes(),
        # HAProxy's health check with its crc32c option, and a TLV count
        # around the default cap (64), SSL sub-TLVs included.
        ProxyHeader.local(tlvs=[TLV(0x03, b"\0\0\0\0")]).to_bytes(),
        ProxyHeader.proxy(*v4, tlvs=[TLV(0x04, b"")] * 63).to_bytes(crc32c=True),
        ProxyHeader.proxy(*v4, tlvs=[ssl_tlv(version="v", cn="c")] * 21).to_bytes(),
    ]
    # Control bytes: both versions with the default cap, with 65535, with 240.
    controls = (0x00, 0x08, 0xFC)
    return tuple(bytes([c, 7]) + h + b"GET /" for h in headers for c in controls)


#: Valid headers with the two control bytes and some payload: a corpus.
SEEDS = _seeds()


def main(argv: list[str]) -> None:
    """Run L{fuzz_one} under atheris; seed empty corpus directories first."""
    try:
        atheris: Any = importlib.import_module("atheris")
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris (Linux x86_64 wheels)")
    for arg in argv[1:]:
        path = Path(arg)
        if not arg.startswith("-") and path.is_dir() and not any(path.iterdir()):
            for i, seed in enumerate(SEEDS):
                (path / f"seed-{i:02d}").write_bytes(seed)
    # pptwisted is already imported: instrument the functions loaded so far.
    atheris.instrument_all()
    atheris.Setup(argv, fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

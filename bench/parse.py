"""
Header parsing speed: pptwisted against Twisted's own parsers and the
proxy-protocol package, in one process, interleaved.

Run from the repository root::

    python bench/parse.py            # ~17 s, the numbers to report
    python bench/parse.py --quick    # ~3 s smoke run
    python -m bench.parse --json     # machine-readable
    python bench/parse.py --check    # exit 1 if the target is missed

Rows: v1 TCP4, v1 TCP6, v2 TCP4, and v2 TCP4 carrying ALPN, AUTHORITY and
UNIQUE_ID TLVs. Each input is the header followed by C{PAYLOAD}, the start of
an HTTP request, as it arrives on a connection.

What each contender is asked to do, one header per call:

  - C{pptwisted}: C{parse_header(data)}, which detects the version and returns
    the header and the bytes after it. On the TLV row it also reads
    C{header.alpn}, C{.authority} and C{.unique_id}.
  - C{twisted}: C{V1Parser().feed(data)} or C{V2Parser().feed(data)} from
    C{twisted.protocols.haproxy}, a fresh parser per header as Twisted makes
    one per connection; both return the info and the bytes after the header.
    Twisted does not parse TLVs at all, so on the TLV row it does less work
    than the others (it cannot return them).
  - C{proxy-protocol} 0.11.3: C{ProxyProtocolV1().unpack(line)} or
    C{ProxyProtocolV2().unpack(header)}, one parser object reused (it is
    stateless, and its own reader reuses one). It must be given I{exactly}
    the header: v1 C{unpack} insists the data end with the line's LF, and v2
    treats every byte after the address block as TLVs, so trailing payload
    would be parsed as bogus TLVs. Its reader does that framing (readline /
    readexactly) outside C{unpack}; here it gets the framed bytes for free,
    which favours it. It parses TLVs eagerly into a dict; on the TLV row the
    same three values are read from C{result.tlv}, as for pptwisted.

Both peers are called version-specific, skipping the version detection that
their connection wrappers (Twisted's C{HAProxyProtocolWrapper},
proxy-protocol's C{ProxyProtocolDetect}) add; pptwisted's C{parse_header}
does its own detection inside the timed call. Every contender is checked once,
before timing, to parse each input to the right addresses (and the right rest
and TLVs where it returns them), so no row times a failing call.

Differences in what is validated (they make the peers cheaper, not dearer):
Twisted's v1 parser splits on spaces and does not check the addresses or port
ranges, and its v2 parser does not look at the TLVs or the CRC32C; proxy-
protocol validates addresses with L{ipaddress} and port ranges, but does not
enforce the 107-byte v1 limit and silently accepts a truncated last TLV
(keeping the last of duplicate types). pptwisted checks the full v1 grammar
(octets, ports, no leading zeros), canonicalises IPv6 text, and checks that
v2 TLVs tile the header exactly.

The target: pptwisted at least 2.0x faster than the fastest peer on every row.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser

from pptwisted import TLV, ProxyHeader, TLVType, parse_header

if not __package__:  # run as a script: python bench/parse.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench._timing as timing

__all__ = ["CONTENDERS", "PAYLOAD", "TARGET", "run"]

#: The speed-up over the fastest peer wanted on every row.
TARGET = 2.0
SUBJECT = "pptwisted"
CONTENDERS = (SUBJECT, "twisted", "proxy-protocol")
DISTRIBUTIONS = ("pptwisted", "Twisted", "proxy-protocol", "crc32c")

#: What follows the header on the connection.
PAYLOAD = b"GET / HTTP/1.1\r\n"
ALPN = b"h2"
AUTHORITY = "www.example.com"
UNIQUE_ID = b"3f2504e0-4f89-41d3-9a0c-0305e82c3301"

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Endpoint = tuple[_IP, int]


@dataclass(frozen=True)
class _Input:
    row: str
    version: int
    header: bytes
    source: _Endpoint
    destination: _Endpoint
    with_tlvs: bool

    @property
    def data(self) -> bytes:
        return self.header + PAYLOAD


def _endpoint(host: object, port: int) -> _Endpoint:
    return ipaddress.ip_address(str(host)), port


def _inputs() -> list[_Input]:
    v4 = (IPv4Address("TCP", "192.0.2.10", 56324), IPv4Address("TCP", "198.51.100.20", 443))
    v6 = (IPv6Address("TCP", "2001:db8::10", 56324), IPv6Address("TCP", "2001:db8:1::20", 443))
    tlvs = [
        TLV(TLVType.ALPN, ALPN),
        TLV(TLVType.AUTHORITY, AUTHORITY.encode()),
        TLV(TLVType.UNIQUE_ID, UNIQUE_ID),
    ]
    rows: list[tuple[str, int, IPv4Address | IPv6Address, IPv4Address | IPv6Address, bool]] = [
        ("v1 TCP4", 1, *v4, False),
        ("v1 TCP6", 1, *v6, False),
        ("v2 TCP4", 2, *v4, False),
        ("v2 TCP4 + TLVs", 2, *v4, True),
    ]
    inputs = []
    for row, version, src, dst, with_tlvs in rows:
        header = ProxyHeader.proxy(src, dst, version=version, tlvs=tlvs if with_tlvs else ())
        inputs.append(
            _Input(
                row,
                version,
                header.to_bytes(),
                _endpoint(src.host, src.port),
                _endpoint(dst.host, dst.port),
                with_tlvs,
            )
        )
    return inputs


@dataclass(frozen=True)
class _Parsed:
    """What a contender's call produced, in comparable form."""

    source: _Endpoint
    destination: _Endpoint
    #: The bytes after the header, for contenders that return them.
    rest: bytes | None
    #: (alpn, authority, unique id), for contenders that parse TLVs.
    tlvs: tuple[bytes | None, str | None, bytes | None] | None


def _pptwisted(inp: _Input) -> tuple[str, Mapping[str, object], Callable[[Any], _Parsed]]:
    stmt = "r = parse_header(data)"
    if inp.with_tlvs:
        stmt += "; h = r[0]; h.alpn; h.authority; h.unique_id"

    def parsed(r: tuple[ProxyHeader, bytes]) -> _Parsed:
        h, rest = r
        src, dst = h.source, h.destination
        assert isinstance(src, (IPv4Address, IPv6Address))
        assert isinstance(dst, (IPv4Address, IPv6Address))
        return _Parsed(
            _endpoint(src.host, src.port),
            _endpoint(dst.host, dst.port),
            rest,
            (h.alpn, h.authority, h.unique_id) if inp.with_tlvs else None,
        )

    return stmt, {"parse_header": parse_header, "data": inp.data}, parsed


def _twisted(inp: _Input) -> tuple[str, Mapping[str, object], Callable[[Any], _Parsed]]:
    parser = V1Parser if inp.version == 1 else V2Parser
    stmt = "r = Parser().feed(data)"

    def parsed(r: tuple[Any, bytes]) -> _Parsed:
        info, rest = r
        src, dst = info.source, info.destination
        return _Parsed(_endpoint(src.host, src.port), _endpoint(dst.host, dst.port), rest, None)

    return stmt, {"Parser": parser, "data": inp.data}, parsed


def _proxy_protocol(inp: _Input) -> tuple[str, Mapping[str, object], Callable[[Any], _Parsed]]:
    pp = ProxyProtocolV1() if inp.version == 1 else ProxyProtocolV2()
    stmt = "r = pp.unpack(header)"
    if inp.with_tlvs:
        stmt += "; t = r.tlv; t.alpn; t.authority; t.unique_id"

    def parsed(r: Any) -> _Parsed:
        t = r.tlv
        return _Parsed(
            _endpoint(*r.source),
            _endpoint(*r.dest),
            None,
            (t.alpn, t.authority, t.unique_id) if inp.with_tlvs else None,
        )

    return stmt, {"pp": pp, "header": inp.header}, parsed


_BUILDERS = {
    "pptwisted": _pptwisted,
    "twisted": _twisted,
    "proxy-protocol": _proxy_protocol,
}


def _expect(ok: bool, what: str) -> None:
    # Not `assert`: the check must also run under python -O.
    if not ok:
        raise AssertionError(what)


def _check(inp: _Input, name: str, stmt: str, namespace: Mapping[str, object], parsed: Any) -> None:
    """Run the timed statement once and check what it produced."""
    scope = dict(namespace)
    exec(stmt, scope)
    got: _Parsed = parsed(scope["r"])
    where = f"{name} on {inp.row}"
    _expect(got.source == inp.source, f"{where}: source {got.source} != {inp.source}")
    _expect(
        got.destination == inp.destination,
        f"{where}: destination {got.destination} != {inp.destination}",
    )
    _expect(got.rest in (None, PAYLOAD), f"{where}: rest {got.rest!r} != {PAYLOAD!r}")
    if inp.with_tlvs and got.tlvs is not None:
        want = (ALPN, AUTHORITY, UNIQUE_ID)
        _expect(got.tlvs == want, f"{where}: TLVs {got.tlvs!r} != {want!r}")


def cases() -> list[timing.Case]:
    """Every (row, contender) case, each checked once to parse correctly."""
    result = []
    for inp in _inputs():
        for name in CONTENDERS:
            stmt, namespace, parsed = _BUILDERS[name](inp)
            _check(inp, name, stmt, namespace, parsed)
            result.append(timing.Case(inp.row, name, stmt, namespace))
    return result


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every row; one result dict per row (see L{timing.summarise})."""
    all_cases = cases()
    settings = timing.QUICK if quick else timing.FULL
    timings = timing.measure(all_cases, settings)
    rows = list(dict.fromkeys(c.row for c in all_cases))
    return timing.summarise(
        "parse", rows, CONTENDERS, timings, subject=SUBJECT, target=TARGET, unit="µs per header"
    )


def _method(quick: bool) -> str:
    s = timing.QUICK if quick else timing.FULL
    return (
        f"Method: contenders interleaved in shuffled rounds for ~{s.budget_s:g} s;"
        f" each figure is the median over rounds of the best of {s.repeats}"
        f" batches of ~{s.batch_s * 1000:g} ms."
    )


def main(argv: list[str] | None = None) -> int:
    return timing.main(
        argv, description=__doc__ or "", run=run, distributions=DISTRIBUTIONS, method=_method
    )


if __name__ == "__main__":
    sys.exit(main())

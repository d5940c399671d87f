"""
Parsing helpers shared by the command-line tools: addresses and TLVs as
written on a command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from twisted.internet.address import IPv4Address, IPv6Address

from .._version import __version__
from ..codec import TLV, TLVType
from ..codec._addresses import literal_address

__all__ = [
    "endpoint_or_exit",
    "parse_address",
    "parse_tlv",
    "parse_tlv_type",
    "print_version_and_exit",
    "version_line",
]

_T = TypeVar("_T")

_TLV_NAMES = {
    "alpn": TLVType.ALPN,
    "authority": TLVType.AUTHORITY,
    "unique_id": TLVType.UNIQUE_ID,
    "unique-id": TLVType.UNIQUE_ID,
    "netns": TLVType.NETNS,
    "noop": TLVType.NOOP,
}


def parse_address(text: str) -> IPv4Address | IPv6Address:
    """
    C{"192.0.2.7:4321"}, C{"[2001:db8::7]:4321"} (or C{"2001:db8::7:4321"}):
    a literal IP address and a port.
    """
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: write IPv6 as [ADDRESS]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r}: expected ADDRESS:PORT")
    try:
        return literal_address(host, port)
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None


def parse_tlv_type(text: str, names: Mapping[str, int] = _TLV_NAMES) -> int:
    """A TLV type: a number (C{0xEA}, C{234}) or one of C{names}."""
    key = text.strip().lower()
    if key in names:
        return int(names[key])
    try:
        number = int(key, 0)
    except ValueError:
        valid = ", ".join(sorted(names))
        raise ValueError(f"{text!r}: a TLV type is a number (0xNN) or one of {valid}") from None
    if not 0 <= number <= 0xFF:
        raise ValueError(f"{text!r}: a TLV type is 0-255")
    return number


def parse_tlv(text: str, names: Mapping[str, int] = _TLV_NAMES) -> TLV:
    """
    C{TYPE=VALUE}: TYPE is a number (C{0xE1}, C{225}) or one of C{names}
    (by default alpn, authority, unique_id, netns, noop); VALUE is text
    (UTF-8), or C{hex:...} for raw bytes.
    """
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected TYPE=VALUE")
    t = parse_tlv_type(name, names)
    if value.startswith("hex:"):
        try:
            raw = bytes.fromhex(value[4:])
        except ValueError:
            raise ValueError(f"{text!r}: bad hex value") from None
    else:
        raw = value.encode("utf-8")
    return TLV(t, raw)


def endpoint_or_exit(tool: str, option: str, value: str, make: Callable[[], _T]) -> _T:
    """
    C{make()}, which parses the endpoint string C{value} given to C{option};
    if that string is bad, exit with one line naming the option and what is
    wrong (our parsers' messages list what is valid), with no traceback.
    """
    try:
        return make()
    except ValueError as e:
        reason = str(e)
    except Exception as e:  # Twisted's parsers raise what their code meets
        reason = f"{type(e).__name__}: {e}"
    raise SystemExit(f"twist {tool}: {option} {value!r}: {reason}")


def version_line() -> str:
    """What C{--version} prints: pptwisted's version, then Twisted's."""
    from twisted import __version__ as twisted_version

    return f"pptwisted {__version__} (Twisted {twisted_version})"


def print_version_and_exit() -> None:
    """C{--version} of a C{twist} subcommand: L{version_line}, then exit 0."""
    print(version_line())
    raise SystemExit(0)

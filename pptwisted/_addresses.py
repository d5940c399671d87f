"""
Fast construction of Twisted's C{IPv4Address} and C{IPv6Address} for the
parser's hot path.

Both are attrs classes whose generated C{__init__} runs a validator on
C{type} for every instance; the parser only ever passes the literals
C{"TCP"} and C{"UDP"}, so it can set the attributes itself. At import each
shortcut is checked against the real constructor (equality, hash, repr,
attributes); if Twisted's class ever changes shape, the real constructor is
used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from twisted.internet.address import IPv4Address, IPv6Address

__all__ = ["ipv4_address", "ipv6_address"]

_new = object.__new__
_A = TypeVar("_A", IPv4Address, IPv6Address)
_Kind = Literal["TCP", "UDP"]


def _direct4(kind: _Kind, host: str, port: int) -> IPv4Address:
    address: IPv4Address = _new(IPv4Address)
    address.type = kind
    address.host = host
    address.port = port
    return address


def _direct6(kind: _Kind, host: str, port: int) -> IPv6Address:
    address: IPv6Address = _new(IPv6Address)
    address.type = kind
    address.host = host
    address.port = port
    address.flowInfo = 0
    address.scopeID = 0
    return address


def _choose(
    real: Callable[[_Kind, str, int], _A], fast: Callable[[_Kind, str, int], _A], host: str
) -> Callable[[_Kind, str, int], _A]:
    try:
        kinds: tuple[_Kind, ...] = ("TCP", "UDP")
        for kind in kinds:
            mine = fast(kind, host, 65535)
            theirs = real(kind, host, 65535)
            if (
                mine != theirs
                or hash(mine) != hash(theirs)
                or repr(mine) != repr(theirs)
                or vars(mine) != vars(theirs)
            ):
                return real
    except Exception:  # any surprise: use the real constructor
        return real
    return fast


#: C{ipv4_address(kind, host, port)}: an C{IPv4Address}, built quickly.
ipv4_address = _choose(IPv4Address, _direct4, "192.0.2.1")
#: C{ipv6_address(kind, host, port)}: an C{IPv6Address} (flowInfo and
#: scopeID 0), built quickly.
ipv6_address = _choose(IPv6Address, _direct6, "2001:db8::1")

"""
Fast construction of Twisted's C{IPv4Address} for the parser's hot path.

C{IPv4Address} is an attrs class whose generated C{__init__} runs a
validator on C{type} for every instance; the parser only ever passes the
literals C{"TCP"} and C{"UDP"}, so it can set the three attributes itself.
At import the shortcut is checked against the real constructor (equality,
hash, repr, attributes); if Twisted's class ever changes shape, the real
constructor is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from twisted.internet.address import IPv4Address

__all__ = ["ipv4_address"]

_new = object.__new__


def _direct(kind: Literal["TCP", "UDP"], host: str, port: int) -> IPv4Address:
    address: IPv4Address = _new(IPv4Address)
    address.type = kind
    address.host = host
    address.port = port
    return address


def _choose() -> Callable[[Literal["TCP", "UDP"], str, int], IPv4Address]:
    try:
        for kind in ("TCP", "UDP"):
            fast = _direct(kind, "192.0.2.1", 65535)
            real = IPv4Address(kind, "192.0.2.1", 65535)
            if (
                fast != real
                or hash(fast) != hash(real)
                or repr(fast) != repr(real)
                or vars(fast) != vars(real)
            ):
                return IPv4Address
    except Exception:  # any surprise: use the real constructor
        return IPv4Address
    return _direct


#: C{ipv4_address(kind, host, port)}: an C{IPv4Address}, built quickly.
ipv4_address = _choose()

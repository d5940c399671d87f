"""
Twisted address objects from the codec and from literal text: fast
construction of C{IPv4Address} and C{IPv6Address} for the
parser's hot path.

Both are attrs classes whose generated C{__init__} runs a validator on
C{type} for every instance; the parser only ever passes the literals
C{"TCP"} and C{"UDP"}, so it can set the attributes itself. At import each
shortcut is checked against the real constructor (equality, hash, repr,
attributes); if Twisted's class ever changes shape, the real constructor is
used instead.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Literal, TypeVar

from twisted.internet.address import IPv4Address, IPv6Address

__all__ = ["address_text", "ipv4_address", "ipv6_address", "literal_address"]

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


def literal_address(host: str, port: str) -> IPv4Address | IPv6Address:
    """A TCP address from a literal IPv4/IPv6 C{host} and a decimal C{port}."""
    try:
        number = int(port)
        if not 0 <= number <= 0xFFFF:
            raise ValueError
    except ValueError:
        raise ValueError(f"port must be 0-65535, not {port!r}") from None
    for family, cls in ((socket.AF_INET, IPv4Address), (socket.AF_INET6, IPv6Address)):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return cls("TCP", host, number)
    raise ValueError(f"{host!r} is not a literal IPv4 or IPv6 address")


def address_text(address: object) -> str:
    """
    An address as log lines show it: C{host:port}, C{[v6]:port} or
    C{unix:'path'}, for a Twisted address or a C{(host, port)} pair (what a
    datagram port reports); C{repr} of anything else.
    """
    host = getattr(address, "host", None)
    if host is not None:
        port = getattr(address, "port", "")
    else:
        name = getattr(address, "name", None)
        if name is not None:
            return f"unix:{name!r}"
        if not isinstance(address, tuple) or len(address) < 2:
            return repr(address)
        host, port = address[0], address[1]
    text = str(host)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"

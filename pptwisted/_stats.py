"""
The counters of a PROXY receiver: what happened to each connection, by
outcome. One value object, shared by every port of an endpoint.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

__all__ = ["ProxyProtocolStats"]


@dataclass
class ProxyProtocolStats:
    """
    Counters of a L{pptwisted.ProxyProtocolWrapper}, since it was created.

    @ivar accepted: connections whose header was valid and whose application
        protocol was connected.
    @ivar direct: connections served without a header (optional mode, or an
        untrusted peer with C{untrusted="direct"}).
    @ivar rejected: connections closed for a bad header or an untrusted peer,
        by reason: a L{pptwisted.Rule} value, or C{"untrusted"}.
    @ivar timed_out: connections closed because the header did not arrive in
        time.
    @ivar lost: connections closed by the peer before a complete header.
    @ivar refused: connections closed because the application's
        C{buildProtocol} returned C{None}.
    """

    accepted: int = 0
    direct: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    timed_out: int = 0
    lost: int = 0
    refused: int = 0

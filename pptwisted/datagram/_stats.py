"""
The counters of a UDP receiver, L{ProxyProtocolDatagramWrapper}: what it
delivered, dropped and routed (spec section 2.2 gives each datagram its own
header, so each one is counted on its own).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

__all__ = ["ProxyDatagramStats"]


@dataclass
class ProxyDatagramStats:
    """
    Counters of a L{ProxyProtocolDatagramWrapper}, since it was created.

    @ivar delivered: datagrams delivered with the header's source address.
    @ivar local: datagrams delivered with the real socket address (a LOCAL
        header, as in health checks, or PROXY with family UNSPEC).
    @ivar direct: datagrams delivered without a header (optional mode, or
        an untrusted peer with C{untrusted="direct"}).
    @ivar header_only: datagrams that were only a header (C{first} mode:
        they register a flow and deliver nothing).
    @ivar dropped: datagrams dropped, by reason: a L{pptwisted.codec.Rule} value
        (C{"version-not-accepted"} for v1 headers, C{"v2-crc32c-mismatch"}...),
        C{"headerless"}, C{"truncated"}, C{"stream"} (a STREAM header),
        C{"unix"} (a UNIX-family header), C{"untrusted"}, C{"error"} (the
        wrapped protocol raised).
    @ivar flows_evicted: flows forgotten to stay under C{max_flows}, oldest
        first.
    @ivar flows_expired: flows forgotten after C{flow_timeout} idle seconds.
    @ivar replies: replies sent to a proxy socket.
    @ivar replies_dropped: replies to a client with no flow (unknown,
        evicted or expired), dropped rather than sent to the client directly.
    """

    delivered: int = 0
    local: int = 0
    direct: int = 0
    header_only: int = 0
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    flows_evicted: int = 0
    flows_expired: int = 0
    replies: int = 0
    replies_dropped: int = 0

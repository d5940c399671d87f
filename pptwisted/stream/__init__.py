"""
One TCP or UNIX connection behind a PROXY sender (spec section 2): the
wrapping factory, the header reader of each connection, the hand-over to the
application and the counters.

The names most code needs (L{ProxyProtocolWrapper}, L{ProxyProtocolStats})
are also in L{pptwisted}.
"""

from ._connection import ConnectionState, ProxyProtocolConnection
from ._relayed import ProxiedTransport
from ._stats import HEADER_DELAY_BUCKETS, ProxyProtocolStats, StatsSnapshot
from ._wrapper import REJECTION_LOG_BURST, REJECTION_LOG_INTERVAL, ProxyProtocolWrapper

__all__ = [
    "HEADER_DELAY_BUCKETS",
    "REJECTION_LOG_BURST",
    "REJECTION_LOG_INTERVAL",
    "ConnectionState",
    "ProxiedTransport",
    "ProxyProtocolConnection",
    "ProxyProtocolStats",
    "ProxyProtocolWrapper",
    "StatsSnapshot",
]

"""
PROXY over UDP (spec section 2.2, transport DGRAM): the receiving wrapper,
the sender, their counters and defaults.
"""

from ._datagram import (
    DEFAULT_FLOW_TIMEOUT,
    DEFAULT_MAX_FLOWS,
    ProxyDatagramSender,
    ProxyDatagramStats,
    ProxyProtocolDatagramWrapper,
)

__all__ = [
    "DEFAULT_FLOW_TIMEOUT",
    "DEFAULT_MAX_FLOWS",
    "ProxyDatagramSender",
    "ProxyDatagramStats",
    "ProxyProtocolDatagramWrapper",
]

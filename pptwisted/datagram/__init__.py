"""
PROXY over UDP (spec section 2.2, transport DGRAM): the receiving wrapper,
the sender, their counters and defaults.

One job a module: L{_receiver} reads each datagram (the wrapper),
L{_transport} sends the protocol's replies, L{_flows} keeps the flow table
of each framing, L{_sender} writes headed datagrams, L{_stats} counts, and
L{_address} converts a datagram port's addresses.
"""

from ._flows import DEFAULT_FLOW_TIMEOUT, DEFAULT_MAX_FLOWS
from ._receiver import ProxyProtocolDatagramWrapper
from ._sender import ProxyDatagramSender
from ._stats import ProxyDatagramStats

__all__ = [
    "DEFAULT_FLOW_TIMEOUT",
    "DEFAULT_MAX_FLOWS",
    "ProxyDatagramSender",
    "ProxyDatagramStats",
    "ProxyProtocolDatagramWrapper",
]

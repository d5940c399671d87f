"""
The flow table of a UDP receiver: which proxy socket each client's
datagrams came from, so that a reply to the client goes back through it
without a header (spec section 2.2 frames the datagrams; the way back is
the receiver's). One class per framing, on a shared base:

  - L{EveryFlows}, C{header_on="every"}: client -> [proxy socket, last
    seen, C{None}] (every datagram brings its header, so the table keeps
    none: about 0.35 KiB per flow instead of 0.7).
  - L{FirstFlows}, C{header_on="first"}: proxy socket -> [proxy socket,
    last seen, header, client], and client -> that same flow.

Both hold at most C{max_flows} flows, evicting the least recently active
first, and forget a flow C{flow_timeout} seconds after its last datagram
(one sweep timer, every half timeout, not a timer per flow). The base class
holds the flows, routes the replies (a flow starts with its proxy socket,
whatever the framing) and sweeps; a subclass says what else goes when a
flow goes (C{_forget}). Noting a datagram's flow is each framing's hot
path: L{FirstFlows.note} for a header, and the receiver's inlined code for
the rest (see L{EveryFlows}).
"""

from __future__ import annotations

import collections
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from ..codec._header import ProxyHeader
from ._address import HostPort
from ._stats import ProxyDatagramStats

__all__ = [
    "DEFAULT_FLOW_TIMEOUT",
    "DEFAULT_MAX_FLOWS",
    "EveryFlows",
    "FirstFlows",
    "Flow",
    "FlowTable",
]

#: Flows (clients) remembered at most, per wrapper.
DEFAULT_MAX_FLOWS = 65536
#: Seconds a flow is remembered after its last datagram.
DEFAULT_FLOW_TIMEOUT = 30.0

#: A flow: [proxy socket, last seen, header, ...], a list so that the hot
#: paths update it in place.
Flow = list[Any]


class FlowTable:
    """
    The flows of one receiver, least recently active first, the way back
    for the replies (L{route}), and the timer that sweeps out the idle
    flows. A subclass is one framing: what a flow is keyed by, and what
    else goes when a flow goes (L{_forget}).

    @ivar flows: key -> L{Flow}, oldest first.
    @ivar replies: client -> its L{Flow}.
    """

    __slots__ = (
        "_clock",
        "_sweep_call",
        "flow_timeout",
        "flows",
        "max_flows",
        "replies",
        "seconds",
        "stats",
    )

    def __init__(
        self,
        max_flows: int,
        flow_timeout: float,
        clock: IReactorTime,
        stats: ProxyDatagramStats,
    ) -> None:
        self.flows: collections.OrderedDict[HostPort, Flow] = collections.OrderedDict()
        self.replies: dict[HostPort, Flow] = self.flows
        self.max_flows = max_flows
        self.flow_timeout = flow_timeout
        self.stats = stats
        self.seconds = clock.seconds
        self._clock = clock
        self._sweep_call: IDelayedCall | None = None

    def __len__(self) -> int:
        return len(self.flows)

    def route(self, client: Any) -> HostPort | None:
        """
        The proxy socket to send a reply for C{client} to, or C{None}: no
        flow, or an expired one. The pair a datagram was delivered with is
        found at once; any other sequence (a list, IPv6's 4-tuple) by its
        host and port.
        """
        replies = self.replies
        try:
            flow = replies.get(client)
        except TypeError:  # unhashable: a list
            flow = None
        if flow is None:
            try:
                flow = replies.get((client[0], client[1]))
            except (TypeError, IndexError, KeyError):
                return None
        if flow is None or self.seconds() - flow[1] > self.flow_timeout:
            return None
        proxy: HostPort = flow[0]
        return proxy

    def start(self) -> None:
        """Start the sweeps (the port is listening)."""
        self._schedule_sweep()

    def stop(self) -> None:
        """Stop the sweeps and forget every flow (the port has stopped)."""
        call, self._sweep_call = self._sweep_call, None
        if call is not None and call.active():
            call.cancel()
        self.flows.clear()
        self.replies.clear()

    def _forget(self, flow: Flow) -> None:
        """C{flow} has gone from L{flows}: forget what else refers to it."""

    def _schedule_sweep(self) -> None:
        self._sweep_call = self._clock.callLater(self.flow_timeout / 2, self._sweep)

    def _sweep(self) -> None:
        """Forget the flows idle for longer than C{flow_timeout}, oldest first."""
        self._sweep_call = None
        limit = self.seconds() - self.flow_timeout
        flows = self.flows
        expired = 0
        while flows:
            key = next(iter(flows))
            flow = flows[key]
            if flow[1] >= limit:
                break
            del flows[key]
            self._forget(flow)
            expired += 1
        self.stats.flows_expired += expired
        self._schedule_sweep()


class EveryFlows(FlowTable):
    """
    C{header_on="every"}: client -> [proxy socket, last seen, C{None}], in
    L{flows}, which is also L{replies}. Its note (touch or add the client's
    flow, evicting the oldest when full) is the benchmark's hot path: it is
    inlined in L{ProxyProtocolDatagramWrapper.datagramReceived
    <pptwisted.datagram.ProxyProtocolDatagramWrapper.datagramReceived>},
    its only copy.
    """

    __slots__ = ()


class FirstFlows(FlowTable):
    """
    C{header_on="first"}: proxy socket -> [proxy socket, last seen, header,
    client] in L{flows}, and client -> that same flow in L{replies}. A
    header starts (or restarts) the flow of the socket that sent it
    (L{note}); the socket's later datagrams without one belong to that flow,
    which the receiver touches inline (its hot path).
    """

    __slots__ = ()

    def __init__(self, *args: Any) -> None:
        """A L{FlowTable} whose L{replies} are a map of their own."""
        super().__init__(*args)
        self.replies = {}

    def note(self, proxy: HostPort, client: HostPort, header: ProxyHeader | None) -> None:
        """
        Start the flow of C{proxy}'s datagrams: they come from C{client}
        (C{proxy} itself for a LOCAL header or a datagram served directly)
        with C{header}. It replaces C{proxy}'s flow if any, else makes room
        by evicting the oldest one.
        """
        flows = self.flows
        if proxy in flows:
            self._forget(flows.pop(proxy))
        elif len(flows) >= self.max_flows:
            self._forget(flows.popitem(last=False)[1])
            self.stats.flows_evicted += 1
        flows[proxy] = flow = [proxy, self.seconds(), header, client]
        self.replies[client] = flow

    def _forget(self, flow: Flow) -> None:
        """C{flow} has gone: its client's replies no longer go through it."""
        client = flow[3]
        if self.replies.get(client) is flow:
            del self.replies[client]

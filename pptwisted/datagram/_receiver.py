"""
Receiving PROXY v2 over UDP (spec section 2.2: a v2 header with transport
DGRAM in front of a datagram): L{ProxyProtocolDatagramWrapper}, given to
C{reactor.listenUDP}, strips the header and hands the payload to the
wrapped protocol with the header's source address; the protocol's
L{ProxyDatagramTransport} sends the replies back, without a header, to the
proxy socket of the client's flow (L{pptwisted.datagram._flows}). The two
framings:

  - C{header_on="every"} (the spec; dnsdist): every datagram carries its
    own header.
  - C{header_on="first"} (frp and some cloud proxies): the first datagram
    from a proxy socket address carries the header; later ones from that
    address belong to the same client flow until it expires.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import AbstractDatagramProtocol, DatagramProtocol
from twisted.logger import Logger

from .._policy import ProxyProtocolPolicy
from .._ratelimit import DEFAULT_BURST, DEFAULT_INTERVAL, RateLimitedLog
from ..codec._addresses import address_text
from ..codec._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, ProxyProtocolError
from ..codec._header import V2_SIGNATURE, Family, ProxyHeader, Transport
from ..codec._parser import parse_header
from ..codec._v2 import decode_v2
from ._address import HostPort, udp_address
from ._flows import DEFAULT_FLOW_TIMEOUT, DEFAULT_MAX_FLOWS, EveryFlows, FirstFlows, FlowTable
from ._stats import ProxyDatagramStats
from ._transport import ProxyDatagramTransport

__all__ = ["HeaderOn", "ProxyProtocolDatagramWrapper"]

_log = Logger(namespace="pptwisted")

#: Bytes of a dropped datagram shown, in hex, in the log event.
EXCERPT_BYTES = 32
#: Peers whose trust is remembered (the cache is emptied when full).
_TRUST_CACHE = 4096

HeaderOn = Literal["every", "first"]
#: What a datagram hands to the protocol: (payload, client, header); it came
#: from, and the client's replies go back to, the proxy socket that sent it.
Delivery = tuple[bytes, HostPort, ProxyHeader | None]

_V2_ONLY = frozenset({2})
_DGRAM = Transport.DGRAM
_UNIX = Family.UNIX
_unpack_head = struct.Struct("!BBH").unpack_from
#: The (version and command, family, length) read from a datagram that
#: cannot hold a v2 header for UDP: no fast path takes it.
_NO_HEAD = (0, 0, 0)
#: The v2 family byte of UDP over IPv4 and IPv6 -> the address block's size.
_dgram_size = {0x12: 12, 0x22: 36}.get


class ProxyProtocolDatagramWrapper(DatagramProtocol):
    """
    A C{DatagramProtocol} that receives PROXY v2 headers in front of UDP
    datagrams for C{protocol}: give it to C{reactor.listenUDP} (one wrapper
    per port).

    C{protocol.datagramReceived(payload, (host, port))} gets the header's
    source address; C{protocol.transport} is a L{ProxyDatagramTransport}
    whose C{proxy_header} is the header of the datagram being handled (also
    C{get_proxy_header(protocol)}), and whose C{write(data, (host, port))}
    sends the reply without a header to the proxy socket the client's
    datagrams came from. LOCAL headers (health checks) deliver the payload
    with the real socket address, and replies to it go straight back.

    Dropped (counted in L{stats}, logged with a rate limit): v1 headers,
    STREAM or UNIX headers, malformed or truncated headers, CRC32C
    mismatches, datagrams without a header (unless the policy is
    optional) and headers from peers outside C{policy.trusted}. Nothing
    raises into the reactor.

    The flow table maps each client to its proxy socket (C{every}), and
    each proxy socket to its client and header (C{first}). It holds at most
    C{max_flows} flows, evicting the least recently active first, and
    forgets a flow C{flow_timeout} seconds after its last datagram. A reply
    to a client with no flow is dropped, never sent to the client directly.

    The real port's C{maxPacketSize} (C{listenUDP}'s, 8192 by default)
    bounds the whole datagram, header included: raise it when the payload
    alone may come close to it.

    @param protocol: the application's C{DatagramProtocol}.
    @param policy: C{trusted}, C{untrusted}, C{require_header} and
        C{max_v2_length} apply; only v2 exists for datagrams.
    @param header_on: C{"every"} or C{"first"}.
    @param max_flows: flows remembered at most.
    @param flow_timeout: seconds a flow lives after its last datagram.
    @param clock: for flow expiry and the log rate limit (the reactor).
    @param stats: counters to share with other wrappers.
    @param log_burst: drop events logged in full per rule and interval.
    @param log_interval: seconds of the log rate limit's interval.
    """

    def __init__(
        self,
        protocol: AbstractDatagramProtocol,
        policy: ProxyProtocolPolicy | None = None,
        *,
        header_on: HeaderOn = "every",
        max_flows: int = DEFAULT_MAX_FLOWS,
        flow_timeout: float = DEFAULT_FLOW_TIMEOUT,
        clock: IReactorTime | None = None,
        stats: ProxyDatagramStats | None = None,
        log_burst: int = DEFAULT_BURST,
        log_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """
        Check the arguments, pick the flow table of the framing, and keep
        in attributes what the hot path reads (the table's dict and bound
        methods, the policy's settings): a lookup on C{self} is the cheapest
        a datagram can pay.
        """
        if header_on not in ("every", "first"):
            raise ValueError(f"header_on must be 'every' or 'first', not {header_on!r}")
        if max_flows < 1:
            raise ValueError(f"max_flows must be >= 1, not {max_flows!r}")
        if not flow_timeout > 0:
            raise ValueError(f"flow_timeout must be > 0 seconds, not {flow_timeout!r}")
        policy = policy if policy is not None else ProxyProtocolPolicy()
        if 2 not in policy.versions:
            raise ValueError("datagrams carry v2 headers only: the policy must accept v2")
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.protocol = protocol
        self.policy = policy
        self.header_on: HeaderOn = header_on
        self.max_flows = max_flows
        self.flow_timeout = flow_timeout
        self.clock: IReactorTime = clock
        self.stats = stats if stats is not None else ProxyDatagramStats()
        self._ratelog = RateLimitedLog(_log, clock, burst=log_burst, interval=log_interval)
        self._max_v2_length = policy.max_v2_length
        self._optional = not policy.require_header
        self._trust_cache: dict[str, bool] | None = {} if policy.trusted else None
        table_class = EveryFlows if header_on == "every" else FirstFlows
        table = table_class(max_flows, flow_timeout, clock, self.stats)
        self._table: FlowTable = table
        # The table keyed by proxy socket (header_on="first"), whose datagrams
        # datagramReceived hands to _first; None when keyed by client.
        self._first_flows = table if isinstance(table, FirstFlows) else None
        self._flows = table.flows
        self._move_to_end = table.flows.move_to_end
        self._seconds = table.seconds
        self._inner = ProxyDatagramTransport(self, table.route, self.stats, self._ratelog)

    # -- DatagramProtocol -----------------------------------------------------

    def startProtocol(self) -> None:
        self._table.start()
        self.protocol.makeConnection(self._inner)

    def stopProtocol(self) -> None:
        self._table.stop()
        self._ratelog.flush()
        self.protocol.doStop()  # type: ignore[no-untyped-call]

    def logPrefix(self) -> str:
        prefix = getattr(self.protocol, "logPrefix", None)
        name = prefix() if callable(prefix) else type(self.protocol).__name__
        return f"{name} (PROXY)"

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        Handle one datagram from the proxy socket C{addr}: find its header
        and client, note its flow, and hand its payload to the protocol; or
        drop it (counted, logged). Nothing raises into the reactor: an
        exception of the protocol is counted and logged.

        The benchmark's hot path is inlined here: C{header_on="every"} and
        a whole v2 header for UDP over IPv4 or IPv6 from a trusted peer (the
        checks of C{parse_header}'s fast path, then its decoder,
        C{decode_v2}). Any other datagram is read the general way (L{_every},
        L{_first}) and comes back here for the rest: this method is the only
        copy of the C{every} table's note and of the delivery.
        """
        try:
            if self._first_flows is not None:
                delivery = self._first(self._first_flows, datagram, addr)
                if delivery is None:
                    return
                payload, client, header = delivery
            else:
                ver_cmd, fam, length = (
                    _unpack_head(datagram, 12)
                    if len(datagram) >= 28 and datagram[:12] == V2_SIGNATURE
                    else _NO_HEAD
                )
                total = 16 + length
                if (
                    (self._trust_cache is None or self._trusted(addr[0]))
                    and ver_cmd == 0x21
                    and _dgram_size(fam, 0x10000) <= length <= self._max_v2_length
                    and total <= len(datagram)
                ):
                    try:
                        header = decode_v2(datagram, total, 0x21, fam)
                    except ProxyProtocolError as e:
                        self._refuse(e, datagram, addr)
                        return
                    source = header.source
                    client = (source.host, source.port)  # type: ignore[union-attr]
                    payload = datagram[total:]
                    self.stats.delivered += 1
                else:
                    delivery = self._every(datagram, addr)
                    if delivery is None:
                        return
                    payload, client, header = delivery
                # The note of the every table: the client's flow, touched or added.
                flows = self._flows
                flow = flows.get(client)
                if flow is not None:
                    self._move_to_end(client)
                    flow[0] = addr
                    flow[1] = self._seconds()
                else:
                    if len(flows) >= self.max_flows:
                        flows.popitem(last=False)
                        self.stats.flows_evicted += 1
                    flows[client] = [addr, self._seconds(), None]
            inner = self._inner
            inner.proxy_header = header
            inner._real_peer = addr
            self.protocol.datagramReceived(payload, client)
            inner.proxy_header = None
            inner._real_peer = None
        except Exception:
            self._inner.proxy_header = None
            self._inner._real_peer = None
            self.stats.dropped["error"] += 1
            _log.failure(
                "{protocol} raised while handling a datagram from {peer}",
                protocol=self.protocol,
                peer=address_text(addr),
            )

    # -- the two framings, past the hot path -----------------------------------

    def _every(self, datagram: bytes, addr: HostPort) -> Delivery | None:
        """
        C{header_on="every"}, what its hot path does not take: an untrusted
        peer (the hot path's first test, made again here from the trust
        cache), a datagram without a header, a LOCAL header, a bad header.
        """
        if self._trust_cache is not None and not self._trusted(addr[0]):
            return self._untrusted(datagram, addr)
        delivery = self._parse(datagram, addr)
        if delivery is not None and delivery[2] is not None:
            if delivery[2].source is None:
                self.stats.local += 1
            else:
                self.stats.delivered += 1
        return delivery

    def _first(self, table: FirstFlows, datagram: bytes, addr: HostPort) -> Delivery | None:
        """
        C{header_on="first"}: a datagram with the v2 signature is a header
        and starts (or restarts) the flow of the socket that sent it; any
        other belongs to that socket's flow (the common case, first). From
        a socket with no flow, one that looks like a PROXY header is dropped
        with the header's error, and any other is served directly (the
        policy is optional) or dropped.
        """
        if self._trust_cache is not None and not self._trusted(addr[0]):
            delivery = self._untrusted(datagram, addr)
        elif datagram[:12] == V2_SIGNATURE:
            delivery = self._parse(datagram, addr)
        else:
            flow = self._flows.get(addr)
            if flow is not None:
                self._move_to_end(addr)
                flow[1] = self._seconds()
                _, _, header, client = flow
                if client == addr:
                    self.stats.local += 1
                else:
                    self.stats.delivered += 1
                return datagram, client, header
            if datagram[:5] == b"PROXY" or V2_SIGNATURE.startswith(datagram[:12]):
                delivery = self._parse(datagram, addr)
            elif self._optional:
                delivery = self._direct(datagram, addr)
            else:
                self._drop("headerless", "no flow from this address and no header", datagram, addr)
                return None
        if delivery is None:
            return None
        payload, client, header = delivery
        table.note(addr, client, header)
        if header is not None:
            if not payload:
                self.stats.header_only += 1
                return None
            if header.source is None:
                self.stats.local += 1
            else:
                self.stats.delivered += 1
        return delivery

    # -- reading a header, serving directly, dropping ---------------------------

    def _parse(self, datagram: bytes, addr: HostPort) -> Delivery | None:
        """
        What C{datagram} delivers when read as a header: its payload with
        the header's source address (the real one for LOCAL or UNSPEC), or
        the whole datagram served directly when it has no header and the
        policy is optional; C{None} when it is dropped (counted, logged): a
        bad header, or a PROXY header not for a datagram over IPv4/IPv6.
        """
        try:
            # By position: CPython 3.11 does not specialise a call with keywords.
            header, payload = parse_header(datagram, _V2_ONLY, self._max_v2_length)
        except ProxyProtocolError as e:
            if datagram and not isinstance(e, NotProxyHeader):
                self._refuse(e, datagram, addr)
            elif self._optional:
                return self._direct(datagram, addr)
            else:
                self._drop("headerless", str(e), datagram, addr)
            return None
        source = header.source
        if source is None:
            return payload, addr, header
        if header.family == _UNIX:
            self._drop("unix", "a UNIX-family header on a UDP socket", datagram, addr)
        elif header.transport != _DGRAM:
            self._drop("stream", f"transport {header.transport.name}, not DGRAM", datagram, addr)
        else:
            return payload, (source.host, source.port), header  # type: ignore[union-attr]
        return None

    def _direct(self, datagram: bytes, addr: HostPort) -> Delivery:
        """Serve C{datagram} as it came, with the real address and no header."""
        self.stats.direct += 1
        return datagram, addr, None

    def _untrusted(self, datagram: bytes, addr: HostPort) -> Delivery | None:
        """A datagram from a peer outside C{policy.trusted}: served directly, or dropped."""
        if self.policy.untrusted == "direct":
            return self._direct(datagram, addr)
        self.stats.dropped["untrusted"] += 1
        self._ratelog.emit(
            "untrusted",
            address_text(addr),
            "Dropped datagram from {peer}: {rule}: the peer is not in the trusted networks",
        )
        return None

    def _trusted(self, host: str) -> bool:
        cache = self._trust_cache
        assert cache is not None
        trusted = cache.get(host)
        if trusted is None:
            if len(cache) >= _TRUST_CACHE:
                cache.clear()
            trusted = cache[host] = self.policy.is_trusted(udp_address((host, 0)))
        return trusted

    def _refuse(self, error: ProxyProtocolError, datagram: bytes, addr: HostPort) -> None:
        """Drop a datagram whose header is bad, under the rule it broke."""
        if isinstance(error, InvalidHeader):
            self._drop(error.rule.value, error.detail, datagram, addr)
        elif isinstance(error, IncompleteHeader):
            self._drop("truncated", "the datagram ends inside the header", datagram, addr)
        else:
            self._drop("invalid", str(error), datagram, addr)

    def _drop(self, reason: str, detail: str, datagram: bytes, addr: HostPort) -> None:
        self.stats.dropped[reason] += 1
        self._ratelog.emit(
            reason,
            address_text(addr),
            "Dropped datagram from {peer}: {rule}: {detail}; received {excerpt}",
            detail=detail,
            excerpt=datagram[:EXCERPT_BYTES].hex(" ") or "nothing",
        )

    # -- the flow table ----------------------------------------------------------

    def route(self, client: Any) -> HostPort | None:
        """The proxy socket to send a reply for C{client} to, or C{None}."""
        return self._table.route(client)

    @property
    def flow_count(self) -> int:
        """How many flows the table holds."""
        return len(self._table)

"""
The PROXY protocol over UDP (spec section 2.2: a v2 header with transport
DGRAM in front of a datagram): a receiving wrapper for any
C{DatagramProtocol}, and a sender.

Receiving. L{ProxyProtocolDatagramWrapper} is the C{DatagramProtocol} given
to C{reactor.listenUDP}. It strips the header, hands the payload to the
wrapped protocol with the header's source address, and routes the
protocol's replies (C{transport.write(data, client_address)}) back, without
a header, to the proxy socket the client's datagrams came from, through a
bounded flow table. Two framings are supported:

  - C{header_on="every"} (the spec; dnsdist): every datagram carries its
    own header.
  - C{header_on="first"} (frp and some cloud proxies): the first datagram
    from a proxy socket address carries the header; later ones from that
    address belong to the same client flow until it expires.

Sending. L{ProxyDatagramSender} puts a v2 DGRAM header in front of
datagrams written to any UDP transport (a relay, a client, a test).
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IReactorTime,
    IUDPTransport,
)
from twisted.internet.protocol import AbstractDatagramProtocol, DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from .._interfaces import IProxyProtocolTransport
from .._policy import ProxyProtocolPolicy
from .._ratelimit import DEFAULT_BURST, DEFAULT_INTERVAL, RateLimitedLog
from ..codec._addresses import address_text
from ..codec._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, ProxyProtocolError
from ..codec._header import V2_SIGNATURE, Family, ProxyHeader, Transport
from ..codec._parser import parse_header
from ..codec._tlv import TLV
from ..codec._v2 import decode_v2

__all__ = [
    "DEFAULT_FLOW_TIMEOUT",
    "DEFAULT_MAX_FLOWS",
    "ProxyDatagramSender",
    "ProxyDatagramStats",
    "ProxyDatagramTransport",
    "ProxyProtocolDatagramWrapper",
    "datagram_header",
]

_log = Logger(namespace="pptwisted")

#: Flows (clients) remembered at most, per wrapper.
DEFAULT_MAX_FLOWS = 65536
#: Seconds a flow is remembered after its last datagram.
DEFAULT_FLOW_TIMEOUT = 30.0
#: Bytes of a dropped datagram shown, in hex, in the log event.
EXCERPT_BYTES = 32
#: Peers whose trust is remembered (the cache is emptied when full).
_TRUST_CACHE = 4096

_V2_ONLY = frozenset({2})
_DGRAM = Transport.DGRAM
_UNIX = Family.UNIX

HeaderOn = Literal["every", "first"]
HostPort = tuple[str, int]
#: A flow table entry: [peer, last seen, header] (a list: updated in place).
_Flow = list[Any]
_unpack_head = struct.Struct("!BBH").unpack_from
#: The v2 family byte of UDP over IPv4 and IPv6 -> the address block's size.
_dgram_size = {0x12: 12, 0x22: 36}.get


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


def _udp_address(address: HostPort) -> IPv4Address | IPv6Address:
    host, port = address[0], address[1]
    if ":" in host:
        return IPv6Address("UDP", host, port)
    return IPv4Address("UDP", host, port)


@implementer(IUDPTransport, IProxyProtocolTransport)
class ProxyDatagramTransport:
    """
    The transport the wrapped protocol gets: replies go through the flow
    table to the proxy socket of the client's flow, without a header.

    @ivar proxy_header: the header of the datagram being handled (the
        flow's header in C{first} mode), set while the wrapped protocol's
        C{datagramReceived} runs and C{None} outside it: work done later
        keeps it. (The flow table keeps no header in C{every} mode: about
        0.35 KiB per flow instead of 0.7.)
    """

    __slots__ = ("__provides__", "_real_peer", "_wrapper", "proxy_header")

    def __init__(self, wrapper: ProxyProtocolDatagramWrapper) -> None:
        self._wrapper = wrapper
        self.proxy_header: ProxyHeader | None = None
        self._real_peer: HostPort | None = None

    def write(self, datagram: bytes, addr: HostPort | None = None) -> Any:
        """
        Send C{datagram}, without a header, to the proxy socket that the
        flow of client C{addr} came from; drop it (counted) when there is
        no such flow.
        """
        wrapper = self._wrapper
        if wrapper._every_mode:
            # The common case, inlined: a reply to the address delivered.
            # Any other address (a list, a 4-tuple, an unknown client) misses
            # and goes through route().
            try:
                flow = wrapper._flows.get(addr)  # type: ignore[arg-type]
            except TypeError:  # an unhashable address
                flow = None
            if flow is not None and wrapper._seconds() - flow[1] <= wrapper.flow_timeout:
                wrapper.stats.replies += 1
                assert wrapper.transport is not None
                return wrapper.transport.write(datagram, flow[0])
        proxy = wrapper.route(addr)
        if proxy is None:
            wrapper.stats.replies_dropped += 1
            wrapper._ratelog.emit(
                "unknown-client",
                address_text(addr),
                "Dropped a reply to {peer}: {rule}: no flow from this client"
                " (unknown, evicted or expired)",
            )
            return None
        wrapper.stats.replies += 1
        assert wrapper.transport is not None
        return wrapper.transport.write(datagram, proxy)

    def writeSequence(self, seq: Iterable[bytes], addr: HostPort | None = None) -> Any:
        """Send the concatenation of C{seq} as one datagram, like L{write}."""
        return self.write(b"".join(seq), addr)

    def connect(self, host: str, port: int) -> None:
        """
        Not supported: the wrapper's socket talks to proxies, and connecting
        it to one client would cut off every other one.
        """
        raise ProxyProtocolError(
            "connect() is not supported on a PROXY datagram transport:"
            " reply with transport.write(data, client_address) instead"
        )

    def getHost(self) -> IPv4Address | IPv6Address:
        """The real socket's own address."""
        assert self._wrapper.transport is not None
        host: IPv4Address | IPv6Address = self._wrapper.transport.getHost()
        return host

    def getRealHost(self) -> IPv4Address | IPv6Address:
        """The real socket's own address (as L{getHost})."""
        return self.getHost()

    # Narrower than IProxyProtocolTransport: a datagram port has no peer
    # outside the handling of a datagram.
    def getRealPeer(self) -> IAddress | None:  # type: ignore[override]
        """The proxy socket the datagram being handled came from, or C{None}."""
        peer = self._real_peer
        return None if peer is None else _udp_address(peer)

    def stopListening(self) -> Any:
        """Stop the real port."""
        assert self._wrapper.transport is not None
        return self._wrapper.transport.stopListening()

    def loseConnection(self) -> None:
        """Stop the real port."""
        self.stopListening()

    def setBroadcastAllowed(self, enabled: bool) -> None:
        """Refused: replies go to proxies only."""
        raise ProxyProtocolError("broadcast is not supported on a PROXY datagram transport")

    def getBroadcastAllowed(self) -> bool:
        """Always C{False}."""
        return False

    @property
    def maxPacketSize(self) -> int:
        """The real port's receive size, which counts the PROXY header."""
        return int(getattr(self._wrapper.transport, "maxPacketSize", 8192))

    def logPrefix(self) -> str:
        return self._wrapper.logPrefix()

    def __repr__(self) -> str:
        return f"<ProxyDatagramTransport on {self._wrapper.transport!r}>"


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
        self._every_mode = header_on == "every"
        self.max_flows = max_flows
        self.flow_timeout = flow_timeout
        self.clock: IReactorTime = clock
        self.stats = stats if stats is not None else ProxyDatagramStats()
        self._ratelog = RateLimitedLog(_log, clock, burst=log_burst, interval=log_interval)
        self._inner = ProxyDatagramTransport(self)
        self._max_v2_length = policy.max_v2_length
        self._optional = not policy.require_header
        self._trust_cache: dict[str, bool] | None = {} if policy.trusted else None
        # every: client -> (proxy socket, last seen, None).
        # first: proxy socket -> (client, last seen, header), and client -> proxy socket.
        # A flow is a list, [peer, last seen, header]: the hot path updates
        # it in place.
        self._flows: collections.OrderedDict[HostPort, _Flow] = collections.OrderedDict()
        self._move_to_end = self._flows.move_to_end
        self._clients: dict[HostPort, HostPort] = {}
        self._sweep_call: IDelayedCall | None = None
        self._seconds = clock.seconds

    # -- DatagramProtocol -----------------------------------------------------

    def startProtocol(self) -> None:
        self._schedule_sweep()
        self.protocol.makeConnection(self._inner)

    def stopProtocol(self) -> None:
        call, self._sweep_call = self._sweep_call, None
        if call is not None and call.active():
            call.cancel()
        self._flows.clear()
        self._clients.clear()
        self._ratelog.flush()
        self.protocol.doStop()  # type: ignore[no-untyped-call]

    def logPrefix(self) -> str:
        prefix = getattr(self.protocol, "logPrefix", None)
        name = prefix() if callable(prefix) else type(self.protocol).__name__
        return f"{name} (PROXY)"

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        try:
            if self._trust_cache is not None and not self._trusted(addr[0]):
                self._untrusted(datagram, addr)
                return
            if not self._every_mode:
                self._first(datagram, addr)
                return
            # The hot path: header_on="every" and a whole v2 PROXY header for
            # UDP over IPv4 or IPv6. The checks parse_header's fast path
            # makes, then its decoder (decode_v2): no call to parse_header, no
            # transport check. Anything else goes the general way (_every).
            if len(datagram) >= 28 and datagram[:12] == V2_SIGNATURE:
                ver_cmd, fam, length = _unpack_head(datagram, 12)
                total = 16 + length
                if (
                    ver_cmd == 0x21
                    and _dgram_size(fam, 0x10000) <= length <= self._max_v2_length
                    and total <= len(datagram)
                ):
                    try:
                        header = decode_v2(datagram, total, 0x21, fam)
                    except ProxyProtocolError as e:
                        self._bad_header(e, datagram, addr)
                        return
                    source = header.source
                    client = (source.host, source.port)  # type: ignore[union-attr]
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
                    self.stats.delivered += 1
                    inner = self._inner
                    inner.proxy_header = header
                    inner._real_peer = addr
                    self.protocol.datagramReceived(datagram[total:], client)
                    inner.proxy_header = None
                    inner._real_peer = None
                    return
            self._every(datagram, addr)
        except Exception:
            self._inner.proxy_header = None
            self._inner._real_peer = None
            self.stats.dropped["error"] += 1
            _log.failure(
                "{protocol} raised while handling a datagram from {peer}",
                protocol=self.protocol,
                peer=address_text(addr),
            )

    def _parse(self, datagram: bytes, addr: HostPort) -> tuple[ProxyHeader, bytes] | None:
        """
        The header of C{datagram} and its payload; C{None} (the datagram
        counted and logged as dropped) if the header is bad or, for PROXY,
        not of a datagram over IPv4/IPv6.
        """
        try:
            header, payload = parse_header(
                datagram, versions=_V2_ONLY, max_v2_length=self._max_v2_length
            )
        except ProxyProtocolError as e:
            self._bad_header(e, datagram, addr)
            return None
        if header.source is not None and (header.transport != _DGRAM or header.family == _UNIX):
            self._wrong_transport(header, datagram, addr)
            return None
        return header, payload

    def _every(self, datagram: bytes, addr: HostPort) -> None:
        """C{header_on="every"}, the general way: any header, any error."""
        parsed = self._parse(datagram, addr)
        if parsed is None:
            return
        header, payload = parsed
        source = header.source
        if source is None:
            self._deliver_real(payload, addr, header)
            return
        client = (source.host, source.port)  # type: ignore[union-attr]
        flows = self._flows
        if client in flows:
            flows.move_to_end(client)
        elif len(flows) >= self.max_flows:
            flows.popitem(last=False)
            self.stats.flows_evicted += 1
        flows[client] = [addr, self._seconds(), None]
        self.stats.delivered += 1
        self._deliver(payload, client, addr, header)

    # -- the two framings -------------------------------------------------------

    def _first(self, datagram: bytes, addr: HostPort) -> None:
        flows = self._flows
        if datagram[:12] != V2_SIGNATURE:
            flow = flows.get(addr)
            if flow is None:
                if datagram[:5] == b"PROXY" or V2_SIGNATURE.startswith(datagram[:12]):
                    self._every_error(datagram, addr)
                elif self._optional:
                    self._deliver_direct(datagram, addr)
                else:
                    self._drop(
                        "headerless", "no flow from this address and no header", datagram, addr
                    )
                return
            self._move_to_end(addr)
            flow[1] = self._seconds()
            client, _, header = flow
            if client == addr:
                self.stats.local += 1
            else:
                self.stats.delivered += 1
            self._deliver(datagram, client, addr, header)
            return
        parsed = self._parse(datagram, addr)
        if parsed is None:
            return
        header, payload = parsed
        source = header.source
        if source is None:
            client = addr
        else:
            client = (source.host, source.port)  # type: ignore[union-attr]
        if addr in flows:
            self._forget(addr, flows.pop(addr)[0])
        elif len(flows) >= self.max_flows:
            old_proxy, (old_client, _, _) = flows.popitem(last=False)
            self._forget(old_proxy, old_client)
            self.stats.flows_evicted += 1
        flows[addr] = [client, self._seconds(), header]
        self._clients[client] = addr
        if not payload:
            self.stats.header_only += 1
            return
        if source is None:
            self.stats.local += 1
        else:
            self.stats.delivered += 1
        self._deliver(payload, client, addr, header)

    def _every_error(self, datagram: bytes, addr: HostPort) -> None:
        """Classify a datagram that cannot start a flow by parsing it anyway."""
        try:
            parse_header(datagram, versions=_V2_ONLY, max_v2_length=self._max_v2_length)
        except ProxyProtocolError as e:
            self._bad_header(e, datagram, addr)
            return
        self._drop("headerless", "no flow from this address", datagram, addr)

    def _forget(self, proxy: HostPort, client: HostPort) -> None:
        if self._clients.get(client) == proxy:
            del self._clients[client]

    # -- delivery and drops ----------------------------------------------------

    def _deliver(
        self, payload: bytes, client: HostPort, proxy: HostPort, header: ProxyHeader | None
    ) -> None:
        inner = self._inner
        inner.proxy_header = header
        inner._real_peer = proxy
        try:
            self.protocol.datagramReceived(payload, client)
        finally:
            inner.proxy_header = None
            inner._real_peer = None

    def _remember_self(self, addr: HostPort, header: ProxyHeader | None) -> None:
        """A flow whose client is the real peer: replies go straight back."""
        flows = self._flows
        if addr in flows:
            flows.move_to_end(addr)
        elif len(flows) >= self.max_flows:
            old, (other, _, _) = flows.popitem(last=False)
            if self.header_on == "first":
                self._forget(old, other)
            self.stats.flows_evicted += 1
        if self.header_on == "first":
            flows[addr] = [addr, self._seconds(), header]
            self._clients[addr] = addr
        else:
            flows[addr] = [addr, self._seconds(), None]

    def _deliver_real(self, payload: bytes, addr: HostPort, header: ProxyHeader) -> None:
        self._remember_self(addr, header)
        self.stats.local += 1
        self._deliver(payload, addr, addr, header)

    def _deliver_direct(self, datagram: bytes, addr: HostPort) -> None:
        self._remember_self(addr, None)
        self.stats.direct += 1
        self._deliver(datagram, addr, addr, None)

    def _bad_header(self, error: ProxyProtocolError, datagram: bytes, addr: HostPort) -> None:
        if isinstance(error, NotProxyHeader) or not datagram:
            if self._optional:
                self._deliver_direct(datagram, addr)
                return
            self._drop("headerless", str(error), datagram, addr)
        elif isinstance(error, InvalidHeader):
            self._drop(error.rule.value, error.detail, datagram, addr)
        elif isinstance(error, IncompleteHeader):
            self._drop("truncated", "the datagram ends inside the header", datagram, addr)
        else:
            self._drop("invalid", str(error), datagram, addr)

    def _wrong_transport(self, header: ProxyHeader, datagram: bytes, addr: HostPort) -> None:
        if header.family == _UNIX:
            self._drop("unix", "a UNIX-family header on a UDP socket", datagram, addr)
        else:
            self._drop("stream", f"transport {header.transport.name}, not DGRAM", datagram, addr)

    def _drop(self, reason: str, detail: str, datagram: bytes, addr: HostPort) -> None:
        self.stats.dropped[reason] += 1
        self._ratelog.emit(
            reason,
            address_text(addr),
            "Dropped datagram from {peer}: {rule}: {detail}; received {excerpt}",
            detail=detail,
            excerpt=datagram[:EXCERPT_BYTES].hex(" ") or "nothing",
        )

    def _trusted(self, host: str) -> bool:
        cache = self._trust_cache
        assert cache is not None
        trusted = cache.get(host)
        if trusted is None:
            if len(cache) >= _TRUST_CACHE:
                cache.clear()
            trusted = cache[host] = self.policy.is_trusted(_udp_address((host, 0)))
        return trusted

    def _untrusted(self, datagram: bytes, addr: HostPort) -> None:
        if self.policy.untrusted == "direct":
            self._deliver_direct(datagram, addr)
            return
        self.stats.dropped["untrusted"] += 1
        self._ratelog.emit(
            "untrusted",
            address_text(addr),
            "Dropped datagram from {peer}: {rule}: the peer is not in the trusted networks",
        )

    # -- the flow table ----------------------------------------------------------

    def route(self, client: Any) -> HostPort | None:
        """The proxy socket to send a reply for C{client} to, or C{None}."""
        try:
            key = (client[0], client[1])
            if self.header_on == "every":
                flow = self._flows.get(key)
                if flow is None:
                    return None
                proxy: HostPort = flow[0]
                seen: float = flow[1]
            else:
                proxy_or_none = self._clients.get(key)
                if proxy_or_none is None:
                    return None
                proxy = proxy_or_none
                seen = self._flows[proxy][1]
        except (TypeError, IndexError, KeyError):
            return None
        if self._seconds() - seen > self.flow_timeout:
            return None
        return proxy

    @property
    def flow_count(self) -> int:
        """How many flows the table holds."""
        return len(self._flows)

    def _schedule_sweep(self) -> None:
        self._sweep_call = self.clock.callLater(self.flow_timeout / 2, self._sweep)

    def _sweep(self) -> None:
        """Forget the flows idle for longer than C{flow_timeout}, oldest first."""
        self._sweep_call = None
        limit = self._seconds() - self.flow_timeout
        flows = self._flows
        first = self.header_on == "first"
        expired = 0
        while flows:
            key = next(iter(flows))
            value, seen, _ = flows[key]
            if seen >= limit:
                break
            del flows[key]
            if first:
                self._forget(key, value)
            expired += 1
        self.stats.flows_expired += expired
        self._schedule_sweep()


def _host_port(address: HostPort | IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    if isinstance(address, (IPv4Address, IPv6Address)):
        return _udp_address((address.host, address.port))
    return _udp_address((address[0], address[1]))


def datagram_header(
    source: HostPort | IPv4Address | IPv6Address,
    destination: HostPort | IPv4Address | IPv6Address,
    *,
    tlvs: Iterable[TLV] = (),
    crc32c: bool = False,
) -> bytes:
    """
    The bytes of a v2 PROXY header for a datagram from C{source} (the
    client) to C{destination} (the address the client sent it to): family
    INET or INET6, transport DGRAM.
    """
    src, dst = _host_port(source), _host_port(destination)
    if type(src) is not type(dst):
        raise ValueError("source and destination must both be IPv4 or both IPv6")
    return ProxyHeader.proxy(src, dst, tlvs=tlvs).to_bytes(crc32c=crc32c)


class ProxyDatagramSender:
    """
    Sends datagrams with a v2 DGRAM header through a UDP transport (a
    relay's, a client's, a test's), as dnsdist does with
    C{useProxyProtocol=true}. Header bytes are built once per
    (source, destination) and kept in a small cache.

    @param transport: the UDP transport to write to (C{listenUDP}'s port).
    @param destination: the address the clients sent to (the proxy's
        frontend), put in every header unless L{send} is given another.
    @param tlvs: TLVs to put in every header.
    @param crc32c: add a CRC32C TLV to every header.
    """

    cache_size = 1024

    def __init__(
        self,
        transport: IUDPTransport,
        destination: HostPort | IPv4Address | IPv6Address,
        *,
        tlvs: Iterable[TLV] = (),
        crc32c: bool = False,
    ) -> None:
        self.transport = transport
        self.destination = destination
        self.tlvs = tuple(tlvs)
        self.crc32c = crc32c
        self._cache: dict[tuple[Any, Any], bytes] = {}

    def header(
        self,
        source: HostPort | IPv4Address | IPv6Address,
        destination: HostPort | IPv4Address | IPv6Address | None = None,
    ) -> bytes:
        """The header bytes for a datagram of C{source}."""
        destination = self.destination if destination is None else destination
        key = (source, destination)
        data = self._cache.get(key)
        if data is None:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            data = datagram_header(source, destination, tlvs=self.tlvs, crc32c=self.crc32c)
            self._cache[key] = data
        return data

    def send(
        self,
        payload: bytes,
        to: HostPort,
        *,
        source: HostPort | IPv4Address | IPv6Address,
        destination: HostPort | IPv4Address | IPv6Address | None = None,
        with_header: bool = True,
    ) -> Any:
        """
        Write C{payload} to C{to} on behalf of the client C{source}, with a
        header (C{with_header=False} sends it bare: the later datagrams of a
        flow for a receiver in C{first} mode).
        """
        data = self.header(source, destination) + payload if with_header else payload
        return self.transport.write(data, to)

    def send_local(self, payload: bytes, to: HostPort) -> Any:
        """Write C{payload} to C{to} after a LOCAL header (a health check)."""
        return self.transport.write(ProxyHeader.local().to_bytes() + payload, to)

"""
The header-reading side of one connection: the protocol a receiver's port
connects first. It reads the PROXY header (spec section 2: "the receiver
must not start processing the connection before it receives a complete and
valid PROXY protocol header"), applies the policy, and only then builds the
application's protocol with the client's address and hands the connection
over: by construction on a transport of ours
(L{pptwisted.stream._constructed}), else relayed
(L{pptwisted.stream._relayed}).

One place for each decision: L{_accept} is where a header is accepted (and
the policy's C{check} asked) before the application is built;
L{makeConnection} and L{_stop_waiting} where a pending connection enters
and leaves the wrapper's L{Deadlines}, the process's cap on pending
connections (L{pptwisted.stream._pending}) and the C{pending} gauge (and a
header's delay is counted); L{_give_up} where the header phase ends without
the application; L{_close} where the log event of a connection closed
before its hand-over is emitted (rate-limited, per listener). What the
connection reads of its factory is L{ConnectionFactory}.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    IProtocol,
    ITransport,
)
from twisted.python.failure import Failure
from zope.interface import implementedBy, implementer

from ..codec._addresses import address_text
from ..codec._errors import IncompleteHeader, InvalidHeader, NotProxyHeader
from ..codec._header import ProxyHeader
from ..codec._parser import HeaderParser, parse_header
from ._application import app_log_prefix
from ._constructed import CONSTRUCTED, hand_over_constructed
from ._factory import ConnectionFactory
from ._pending import pending_connections
from ._relayed import forwarding_spec, hand_over_relayed
from ._stats import HEADER_DELAY_BUCKETS

_WAITING = pending_connections.waiting
_FIRST_BUCKET = HEADER_DELAY_BUCKETS[0]

__all__ = ["EXCERPT_BYTES", "ConnectionState", "ProxyProtocolConnection"]

#: Bytes of a rejected connection shown, in hex, in the log event.
EXCERPT_BYTES = 32
#: Up to this many bytes, an incomplete header is parsed again from its
#: start on the next read rather than kept in a parser (any v1 header, a v2
#: header with a few short TLVs): less memory per pending connection.
RESCAN_BYTES = 256
#: Bytes after the header held while the policy's check runs; beyond them
#: the connection stops reading until the check answers.
CHECK_BUFFER_BYTES = 65536


class ConnectionState(enum.Enum):
    """Where a connection is in its life, as its header reader sees it."""

    #: Waiting for (the rest of) the header.
    READING = "reading the header"
    #: The header is in; waiting for the policy's check to answer.
    CHECKING = "checking the header"
    #: Handed over to the application, the reader relaying its events.
    RELAYING = "relaying to the application"
    #: Handed over to the application on a transport of ours: the reader is
    #: out of the path (end state).
    HANDED_OVER = "handed over"
    #: Closed for a bad header or an untrusted peer (end state).
    REJECTED = "rejected"
    #: Closed because the header did not come in time (end state).
    TIMED_OUT = "timed out"
    #: Closed to stay under the cap on pending connections (end state).
    EVICTED = "evicted"
    #: Closed because the application's factory refused it (end state).
    REFUSED = "refused"
    #: Lost, by either side (end state).
    CLOSED = "closed"


_READING = ConnectionState.READING
_CHECKING = ConnectionState.CHECKING
_RELAYING = ConnectionState.RELAYING
_HANDED_OVER = ConnectionState.HANDED_OVER

#: The rule under which the policy's C{check} refuses a connection.
POLICY_RULE = "policy"


def _source(address: IAddress | None) -> str:
    """What rate-limited summaries count distinct peers by: the host, not the port."""
    host = getattr(address, "host", None)
    return host if host is not None else address_text(address)


@implementer(IProtocol, ILoggingContext)
class ProxyProtocolConnection:
    """
    The protocol of a connection until its header is in; then, on a
    transport of ours, nothing more (the application is the transport's
    protocol), and elsewhere the relay of the transport's events to the
    application.

    @ivar state: the L{ConnectionState}.
    @ivar transport: the real transport.
    @ivar wrappedProtocol: the application's protocol, once built.
    @ivar proxy_header: the header accepted (C{None} before, or if direct).
    """

    #: Set with C{_parser}: the first bytes of a long header, for the log.
    _excerpt: bytes
    #: Set on entering C{CHECKING}: the bytes after the header, passed on
    #: once the check answers.
    _held: bytes

    __slots__ = (
        "__provides__",
        "__weakref__",
        "_check",
        "_excerpt",
        "_held",
        "_parser",
        "_prefix",
        "_waiting",
        "factory",
        "proxy_header",
        "state",
        "transport",
        "wrappedProtocol",
    )

    def __init__(self, factory: ConnectionFactory) -> None:
        # Set: zope reads it on every providedBy() (an unset slot would cost
        # it an AttributeError each time); _accept may widen it.
        self.__provides__ = _BASE_SPEC
        self.factory = factory
        self.transport: Any = None
        self.wrappedProtocol: IProtocol | None = None
        self.proxy_header: ProxyHeader | None = None
        self.state = _READING
        # While READING, either the bytes of a short header, parsed again
        # from its start on each read (_prefix), or an incremental parser
        # holding a long one and, set with it, the first bytes for the log
        # (_parser, _excerpt).
        self._prefix = b""
        self._parser: HeaderParser | None = None
        self._waiting = False
        # While CHECKING: the check's Deferred (and _held).
        self._check: Deferred[Any] | None = None

    # -- IProtocol, as seen by the real transport ---------------------------------

    def makeConnection(self, transport: ITransport) -> None:
        """
        The connection is accepted: refuse or serve as direct a peer the
        policy does not trust; then, unless it was served at once, it starts
        waiting (for its header, or for the check of an untrusted peer).
        """
        self.transport = transport
        factory = self.factory
        factory.protocols[self] = 1
        if factory.trusted and not factory.policy.is_trusted(transport.getPeer()):
            if factory.policy.untrusted == "refuse":
                self._reject("untrusted", "peer is not in the trusted sources", b"")
                return
            self._accept(None, b"")
            if self.state is not _CHECKING:
                return
        # The connection starts waiting: the gauge, a header deadline, and
        # last the process's pending record, which may evict older
        # connections (never this one, the newest).
        self._waiting = True
        factory.stats.pending += 1
        deadlines = factory.deadlines
        now = factory.now  # (An attribute, not a method: loaded as one.)
        deadlines.waiting[self] = now() + factory.header_timeout
        if deadlines.timer is None:
            deadlines.arm()
        _WAITING[self] = None
        if len(_WAITING) > factory.max_pending:
            pending_connections.enforce(factory.max_pending)

    def connectionMade(self) -> None:
        """Part of L{IProtocol}; L{makeConnection} does the work."""

    def dataReceived(self, data: bytes) -> None:
        """
        Bytes from the real transport. While the header is incomplete, a
        short one is parsed again from its first byte on each read: a
        pending connection then holds only the bytes it sent, no parser
        object, and the rescan is bounded by L{RESCAN_BYTES}. Past that
        bound, an incremental L{HeaderParser} takes it over. A complete
        header is accepted (served at once when the policy has no check to
        ask), bytes that are no PROXY header are served as direct in
        optional mode, a bad header is rejected. While the check runs, the
        bytes are held; once relaying, they go to the application.
        """
        if self.state is _RELAYING:
            app = self.wrappedProtocol
            assert app is not None
            app.dataReceived(data)
            return
        if self.state is not _READING:
            if self.state is _CHECKING:
                self._held += data
                if len(self._held) > CHECK_BUFFER_BYTES:
                    self.transport.pauseProducing()
            return
        factory = self.factory
        parser = self._parser
        if parser is None:
            prefix = self._prefix
            buf = prefix + data if prefix else data
            try:
                # (Positional: CPython specialises such calls, not keyword ones.)
                header, rest = parse_header(
                    buf,
                    factory.versions,
                    factory.max_v2_length,
                    factory.max_tlvs,
                    factory.require_crc32c,
                )
            except IncompleteHeader as e:
                if len(buf) > RESCAN_BYTES:
                    self._parser = e.parser
                    self._prefix = b""
                    self._excerpt = buf[:EXCERPT_BYTES]
                else:
                    self._prefix = buf
                return
            except NotProxyHeader as e:
                if not factory.policy.require_header:
                    self._accept(None, buf)
                else:
                    self._reject(e.rule.value, e.detail, buf)
                return
            except InvalidHeader as e:
                self._reject(e.rule.value, e.detail, buf)
                return
            if factory.check is None:
                # _accept without a check to ask, one frame less.
                if prefix:
                    self._prefix = b""
                self._serve(header, rest)
            else:
                self._accept(header, rest)
            return
        try:
            result = parser.feed(data)
        except InvalidHeader as e:
            # (Not NotProxyHeader: the signature was judged before.)
            self._reject(e.rule.value, e.detail, self._excerpt)
            return
        if result is not None:
            self._accept(*result)

    def connectionLost(self, reason: Failure) -> None:
        state = self.state
        factory = self.factory
        factory.protocols.pop(self, None)
        if state is _READING or state is _CHECKING:
            self._give_up(ConnectionState.CLOSED)
            factory.stats.lost += 1
            return
        self.state = ConnectionState.CLOSED
        app = self.wrappedProtocol
        if app is not None and state is _RELAYING:
            app.connectionLost(reason)

    # Provided only while relaying to an application that provides them.

    def readConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).writeConnectionLost()

    def handshakeCompleted(self) -> None:
        IHandshakeListener(self.wrappedProtocol).handshakeCompleted()

    def logPrefix(self) -> str:
        app = self.wrappedProtocol
        if app is not None:
            return app_log_prefix(app)
        return self.factory.log_prefix or self.factory.logPrefix()

    # -- waiting ------------------------------------------------------------------

    def _stop_waiting(self, header: ProxyHeader | None = None) -> None:
        """
        The header phase is over, whatever the outcome: the connection leaves
        the wrapper's deadlines, the process's pending record and the
        C{pending} gauge. The delay of a C{header} that came before its
        deadline is counted in the histogram.
        """
        if not self._waiting:
            return
        self._waiting = False
        factory = self.factory
        stats = factory.stats
        stats.pending -= 1
        _WAITING.pop(self, None)
        deadline = factory.deadlines.waiting.pop(self, None)
        if deadline is not None and header is not None:
            # The accept time is the deadline less the timeout (the one in
            # force now: after a change of timeout, a few delays are off).
            now = factory.now
            delay = now() - deadline + factory.header_timeout
            # Most headers come within the first bucket: no search then.
            stats.header_delay_counts[
                0 if delay <= _FIRST_BUCKET else bisect_left(HEADER_DELAY_BUCKETS, delay)
            ] += 1
            stats.header_delay_sum += delay

    # -- the header's verdict -----------------------------------------------------

    def _accept(self, header: ProxyHeader | None, rest: bytes) -> None:
        """
        The header is accepted (or the connection is to be served as direct
        when C{header} is C{None}): ask the policy's check, if any, then
        serve the connection.
        """
        self._parser = None
        self._prefix = self._excerpt = b""
        check = self.factory.check
        if check is None:
            self._serve(header, rest)
            return
        try:
            verdict = check(header, self.transport.getPeer())
        except Exception as e:
            self._reject(POLICY_RULE, f"the policy's check raised {e!r}", b"")
            return
        if not isinstance(verdict, Deferred):
            self._checked(verdict, header, rest)
            return
        self.state = _CHECKING
        self._held = rest
        if self._waiting and self not in self.factory.deadlines:
            # Served as direct at the header timeout (optional mode): the
            # check gets a timeout of its own. (An untrusted peer served as
            # direct starts waiting once its check runs: makeConnection.)
            self.factory.deadlines.add(self)
        self._check = verdict
        verdict.addCallbacks(
            self._check_answered,
            self._check_failed,
            callbackArgs=(header,),
            errbackArgs=(header,),
        )

    def _check_answered(self, verdict: object, header: ProxyHeader | None) -> None:
        if self.state is not _CHECKING:
            return
        self._check = None
        rest, self._held = self._held, b""
        if len(rest) > CHECK_BUFFER_BYTES:
            self.transport.resumeProducing()
        self._checked(verdict, header, rest)

    def _check_failed(self, failure: Failure, header: ProxyHeader | None) -> None:
        if self.state is not _CHECKING:
            return
        self._check = None
        self._reject(POLICY_RULE, f"the policy's check failed: {failure.value!r}", b"")

    def _checked(self, verdict: object, header: ProxyHeader | None, rest: bytes) -> None:
        if verdict is True:
            self._serve(header, rest)
        else:
            what = "the direct connection" if header is None else f"the header ({header})"
            self._reject(POLICY_RULE, f"the policy's check refused {what}", b"")

    def _serve(self, header: ProxyHeader | None, rest: bytes) -> None:
        """
        Build the application with the client's address and hand the
        connection over, with the bytes that came after the header.
        """
        self._stop_waiting(header)
        factory = self.factory
        stats = factory.stats
        transport = self.transport
        self.proxy_header = header
        peer: IAddress | None = None if header is None else header.source
        app = factory.wrappedFactory.buildProtocol(transport.getPeer() if peer is None else peer)
        if app is None:
            stats.refused += 1
            self.state = ConnectionState.REFUSED
            transport.loseConnection()
            return
        self.wrappedProtocol = app
        if header is None:
            stats.direct += 1
        else:
            stats.accepted += 1
        if type(transport) in CONSTRUCTED:
            self.state = _HANDED_OVER
            hand_over_constructed(
                transport,
                app,
                header,
                rest,
                self,
                factory.secure_from_header,
                factory.alpn_from_header,
            )
            return
        self.state = _RELAYING
        spec = forwarding_spec(ProxyProtocolConnection, app)
        if spec is not None:
            self.__provides__ = spec
        hand_over_relayed(
            transport,
            app,
            header,
            rest,
            factory.clock,
            factory.secure_from_header,
            factory.alpn_from_header,
        )

    # -- closing before the hand-over ---------------------------------------------

    def _reject(self, reason: str, detail: str, received: bytes) -> None:
        """Close the connection for C{reason}: one count, one log event."""
        self._give_up(ConnectionState.REJECTED)
        self.factory.stats.rejected[reason] += 1
        self._close(
            reason,
            "Rejected connection from {peer}: {reason}: {detail}; received {excerpt}",
            reason=reason,
            detail=detail,
            excerpt=received[:EXCERPT_BYTES].hex(" ") or "nothing",
        )

    def header_timed_out(self) -> None:
        """
        The header deadline passed (called by the wrapper's L{Deadlines}).
        In optional mode a connection still reading is served as direct,
        with every byte it sent passed on (a server-first client, or bytes
        that can begin a header but never complete one); otherwise it is
        closed.
        """
        state = self.state
        if state is not _READING and state is not _CHECKING:
            return
        factory = self.factory
        if state is _READING and not factory.policy.require_header:
            parser = self._parser
            self._accept(None, parser.held if parser is not None else self._prefix)
            return
        received = self._give_up(ConnectionState.TIMED_OUT)
        factory.stats.timed_out += 1
        self._close(
            "timeout",
            "Timed out after {timeout}s waiting for a PROXY header from {peer};"
            " received {count} byte(s)",
            timeout=factory.policy.timeout,
            count=received,
        )

    def evict(self) -> None:
        """
        Close: too many connections wait for their header in this process,
        and this one has waited longest (called by L{pptwisted.stream._pending}).
        """
        if self.state is not _READING and self.state is not _CHECKING:
            return
        received = self._give_up(ConnectionState.EVICTED)
        factory = self.factory
        factory.stats.evicted += 1
        self._close(
            "evicted",
            "Closed the connection from {peer}, the oldest of {cap} waiting for a"
            " PROXY header (proxyMaxPending); received {count} byte(s)",
            cap=factory.max_pending,
            count=received,
        )

    def _give_up(self, state: ConnectionState) -> int:
        """
        End the header phase in C{state} (rejected, timed out, evicted,
        closed: the application will not be served): forget what was read,
        stop waiting, cancel a running check. How many bytes had arrived.
        """
        parser = self._parser
        if parser is not None:
            received = parser.buffered
        elif self.state is _CHECKING:
            received = len(self._held)
        else:
            received = len(self._prefix)
        self.state = state
        self._parser = None
        self._prefix = self._excerpt = self._held = b""
        self._stop_waiting()
        check = self._check
        if check is not None:
            self._check = None
            check.cancel()
        return received

    def _close(self, rule: str, message: str, **fields: object) -> None:
        """
        Log why the connection is closed before its hand-over (the
        listener's rejection log: rate-limited per C{rule}), and close it.
        """
        peer = self.transport.getPeer()
        self.factory.rejection_log.emit(
            rule, address_text(peer), message, source=_source(peer), **fields
        )
        self.transport.loseConnection()

    def __repr__(self) -> str:
        real = address_text(self.transport.getPeer()) if self.transport is not None else "-"
        return f"<{type(self).__name__} {self.state.name} real={real}>"


_BASE_SPEC = implementedBy(ProxyProtocolConnection)  # type: ignore[no-untyped-call]

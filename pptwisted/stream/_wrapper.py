"""
L{ProxyProtocolWrapper}: the factory of a PROXY receiver. It wraps the
application's factory: each connection is first read by a
L{ProxyProtocolConnection} (the header, under the wrapper's policy and
deadlines), and the application's protocol is built only once the header is
in, with the client's address (spec section 2).
"""

from __future__ import annotations

from twisted.internet.interfaces import (
    IAddress,
    ILoggingContext,
    IProtocolFactory,
    IReactorTime,
)
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory

from .._policy import ProxyProtocolPolicy
from .._ratelimit import RateLimitedLog
from ._connection import ProxyProtocolConnection
from ._deadlines import Deadlines
from ._pending import default_max_pending
from ._stats import ProxyProtocolStats

__all__ = [
    "REJECTION_LOG_BURST",
    "REJECTION_LOG_INTERVAL",
    "ProxyProtocolConnection",
    "ProxyProtocolStats",
    "ProxyProtocolWrapper",
]

#: Rejections of one rule logged in full per interval, per listener.
REJECTION_LOG_BURST = 10
#: Seconds per interval of the rejection log.
REJECTION_LOG_INTERVAL = 10.0


class ProxyProtocolWrapper(WrappingFactory):
    """
    Wrap any protocol factory so that its connections start with a PROXY
    header, read and checked according to C{policy} before the factory's
    C{buildProtocol} is called with the client's real address.

    Given to a port of C{proxy:}, the application gets Twisted's own
    transport, created by the port as a class of ours; given to any other
    port (C{reactor.listenTCP}, an adopted socket), the wrapper stays in the
    path. The application sees the same either way. What each connection
    reads of its wrapper is L{pptwisted.stream._factory.ConnectionFactory}.

    @ivar policy: the L{ProxyProtocolPolicy} in force; a new one takes
        effect, whole, for the connections that come after.
    @ivar stats: L{ProxyProtocolStats} counters (pass C{stats} to share them
        between several wrappers).
    @ivar protocols: every live connection's L{ProxyProtocolConnection},
        pending or handed over.
    @ivar deadlines: the header L{Deadlines} of the pending connections.
    @ivar rejection_log: the L{RateLimitedLog} of this listener's rejections
        (bad headers, timeouts, evictions, the policy's check): per rule, the
        first C{log_burst} per C{log_interval} seconds in full, then one
        summary per interval. The counters in L{stats} stay exact.
    """

    protocol = ProxyProtocolConnection  # type: ignore[assignment]

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        policy: ProxyProtocolPolicy | None = None,
        *,
        clock: IReactorTime | None = None,
        stats: ProxyProtocolStats | None = None,
        log_burst: int = REJECTION_LOG_BURST,
        log_interval: float = REJECTION_LOG_INTERVAL,
    ) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.clock = clock
        self.stats = stats if stats is not None else ProxyProtocolStats()
        policy = policy if policy is not None else ProxyProtocolPolicy()
        self.deadlines = Deadlines(clock, policy.timeout)
        self.rejection_log = RateLimitedLog(
            Logger(namespace="pptwisted"), clock, burst=log_burst, interval=log_interval
        )
        self.policy = policy
        #: The log prefix, once computed (see L{logPrefix}).
        self.log_prefix: str | None = None

    @property
    def clock(self) -> IReactorTime:
        """The clock of the header deadlines and the header-delay histogram."""
        return self._clock

    @clock.setter
    def clock(self, clock: IReactorTime) -> None:
        self._clock = clock
        #: C{clock.seconds}, for the per-connection fast path.
        self.now = clock.seconds

    @property
    def policy(self) -> ProxyProtocolPolicy:
        """The policy in force for new connections."""
        return self._policy

    @policy.setter
    def policy(self, policy: ProxyProtocolPolicy) -> None:
        self._policy = policy
        # Copied for the per-connection fast path.
        self.versions = policy.versions
        self.max_v2_length = policy.max_v2_length
        self.max_tlvs = policy.max_tlvs
        self.require_crc32c = policy.require_crc32c
        self.secure_from_header = policy.secure_from_header
        self.alpn_from_header = policy.alpn_from_header
        self.check = policy.check
        self.max_pending = (
            policy.max_pending if policy.max_pending is not None else default_max_pending()
        )
        self.trusted = policy.trusted
        self.deadlines.timeout = self.header_timeout = policy.timeout

    @property
    def pending(self) -> int:
        """How many connections are waiting for their header."""
        return len(self.deadlines)

    def buildProtocol(self, addr: IAddress) -> ProxyProtocolConnection:  # type: ignore[override]
        return ProxyProtocolConnection(self)

    def stopFactory(self) -> None:
        """The last port closed: drop the header timer if nothing waits."""
        self.deadlines.stop()
        self.rejection_log.flush()
        super().stopFactory()  # type: ignore[no-untyped-call]

    def logPrefix(self) -> str:
        prefix = self.log_prefix
        if prefix is None:
            wrapped = self.wrappedFactory
            if ILoggingContext.providedBy(wrapped):
                name = str(wrapped.logPrefix())
            else:
                name = wrapped.__class__.__name__
            prefix = self.log_prefix = f"{name} (PROXY)"
        return prefix

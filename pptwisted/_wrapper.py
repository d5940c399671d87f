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
from twisted.protocols.policies import WrappingFactory

from ._connection import ProxyProtocolConnection
from ._deadlines import Deadlines
from ._handover import get_proxy_header, get_proxy_transport
from ._policy import ProxyProtocolPolicy
from ._stats import ProxyProtocolStats

__all__ = [
    "ProxyProtocolConnection",
    "ProxyProtocolStats",
    "ProxyProtocolWrapper",
    "get_proxy_header",
    "get_proxy_transport",
]


class ProxyProtocolWrapper(WrappingFactory):
    """
    Wrap any protocol factory so that its connections start with a PROXY
    header, read and checked according to C{policy} before the factory's
    C{buildProtocol} is called with the client's real address.

    Given to a port of C{proxy:}, the application gets Twisted's own
    transport, created by the port as a class of ours; given to any other
    port (C{reactor.listenTCP}, an adopted socket), the wrapper stays in the
    path. The application sees the same either way.

    @ivar policy: the L{ProxyProtocolPolicy} in force; a new one takes
        effect, whole, for the connections that come after.
    @ivar stats: L{ProxyProtocolStats} counters (pass C{stats} to share them
        between several wrappers).
    @ivar protocols: every live connection's L{ProxyProtocolConnection},
        pending or handed over.
    @ivar deadlines: the header L{Deadlines} of the pending connections.
    """

    protocol = ProxyProtocolConnection  # type: ignore[assignment]

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        policy: ProxyProtocolPolicy | None = None,
        *,
        clock: IReactorTime | None = None,
        stats: ProxyProtocolStats | None = None,
    ) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.clock: IReactorTime = clock
        self.stats = stats if stats is not None else ProxyProtocolStats()
        policy = policy if policy is not None else ProxyProtocolPolicy()
        self.deadlines = Deadlines(clock, policy.timeout)
        self.policy = policy
        #: The log prefix, once computed (see L{logPrefix}).
        self.log_prefix: str | None = None

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
        self.trusted = policy.trusted
        self.deadlines.timeout = policy.timeout

    @property
    def pending(self) -> int:
        """How many connections are waiting for their header."""
        return len(self.deadlines)

    def buildProtocol(self, addr: IAddress) -> ProxyProtocolConnection:  # type: ignore[override]
        return ProxyProtocolConnection(self)

    def stopFactory(self) -> None:
        """The last port closed: drop the header timer if nothing waits."""
        self.deadlines.stop()
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

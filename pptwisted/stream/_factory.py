"""
L{ConnectionFactory}: what the header reader of a connection
(L{pptwisted.stream._connection}) reads of the factory that built it. The
factory is a L{pptwisted.stream.ProxyProtocolWrapper}; naming what the
reader needs here, as a protocol, keeps the reader from importing the
wrapper (which imports the reader).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.interfaces import IProtocolFactory, IReactorTime

from .._policy import HeaderCheck, Network, ProxyProtocolPolicy
from .._ratelimit import RateLimitedLog
from ._deadlines import Deadlines
from ._stats import ProxyProtocolStats

__all__ = ["ConnectionFactory"]


class ConnectionFactory(Protocol):
    """
    What a L{pptwisted.stream._connection.ProxyProtocolConnection} reads of
    its factory: the policy, with its fields copied for the per-connection
    fast path; the clock; what it shares with the other connections of its
    listener (the counters, the header deadlines, the rejection log, the
    live connections); and the application's factory.
    """

    #: The policy in force for new connections.
    policy: ProxyProtocolPolicy
    #: The policy's fields, copied.
    versions: frozenset[int]
    max_v2_length: int
    max_tlvs: int
    require_crc32c: bool
    secure_from_header: bool
    alpn_from_header: bool
    check: HeaderCheck | None
    trusted: tuple[Network | str, ...]
    header_timeout: float
    #: The policy's cap on pending connections, or the default one.
    max_pending: int
    clock: IReactorTime
    #: C{clock.seconds}.
    now: Callable[[], float]
    stats: ProxyProtocolStats
    deadlines: Deadlines
    rejection_log: RateLimitedLog
    #: Every live connection, pending or handed over.
    protocols: dict[Any, int]
    wrappedFactory: IProtocolFactory
    #: The listener's log prefix, once computed.
    log_prefix: str | None

    def logPrefix(self) -> str:
        """The listener's log prefix."""

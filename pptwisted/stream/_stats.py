"""
The counters of a PROXY receiver: what happened to each connection, by
outcome, and how long headers took to arrive. One value object, shared by
every port of an endpoint; L{ProxyProtocolStats.snapshot} gives a copy that
another thread (a metrics collector) can read.
"""

from __future__ import annotations

import collections
import warnings
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["HEADER_DELAY_BUCKETS", "ProxyProtocolStats", "StatsSnapshot"]


#: Upper bounds (seconds) of the accept-to-header histogram buckets; one more
#: bucket, unbounded, follows. From a LAN's sub-millisecond to the timeout.
HEADER_DELAY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class StatsSnapshot(NamedTuple):
    """
    An immutable copy of a L{ProxyProtocolStats}, safe to read in another
    thread (e.g. a Prometheus collector's) while the reactor counts on.

    C{header_delay_counts} are per-bucket counts (not cumulative), one per
    bound of L{HEADER_DELAY_BUCKETS}, then one for larger delays.
    """

    accepted: int
    direct: int
    rejected: dict[str, int]
    timed_out: int
    lost: int
    refused: int
    evicted: int
    pending: int
    header_delay_counts: tuple[int, ...]
    header_delay_sum: float


@dataclass
class ProxyProtocolStats:
    """
    Counters of a L{ProxyProtocolWrapper}, since it was created.

    @ivar accepted: connections whose header was valid and whose application
        protocol was connected.
    @ivar direct: connections served without a header (optional mode, or an
        untrusted peer with C{untrusted="direct"}).
    @ivar rejected: connections closed for a bad header or an untrusted peer,
        by reason: a L{pptwisted.Rule} value, or C{"untrusted"}.
    @ivar timed_out: connections closed because the header did not arrive in
        time.
    @ivar lost: connections closed by the peer before a complete header.
    @ivar refused: connections closed because the application's
        C{buildProtocol} returned C{None}.
    @ivar evicted: waiting connections closed to make room under the cap on
        pending connections.
    @ivar pending: connections waiting for their header right now (a gauge).
    @ivar header_delay_counts: how many headers arrived within each bucket of
        L{HEADER_DELAY_BUCKETS} after the accept: the first bucket whose
        bound is at least the delay, then one for larger delays.
    @ivar header_delay_sum: the sum of those delays, in seconds.
    """

    accepted: int = 0
    direct: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    timed_out: int = 0
    lost: int = 0
    refused: int = 0
    evicted: int = 0
    pending: int = 0
    header_delay_counts: list[int] = field(
        default_factory=lambda: [0] * (len(HEADER_DELAY_BUCKETS) + 1)
    )
    header_delay_sum: float = 0.0

    def observe_header_delay(self, seconds: float) -> None:
        """
        Count one header that arrived C{seconds} after its connection was
        accepted.

        @deprecated: since pptwisted 0.2. The wrapper counts each header's
            delay itself, as its connection stops waiting; to fill the
            histogram by hand, set L{header_delay_counts} and
            L{header_delay_sum}.
        """
        warnings.warn(
            "ProxyProtocolStats.observe_header_delay is deprecated since pptwisted 0.2:"
            " ProxyProtocolWrapper counts each header's delay itself; to fill the"
            " histogram by hand, set header_delay_counts and header_delay_sum",
            DeprecationWarning,
            stacklevel=2,
        )
        self.header_delay_counts[bisect_left(HEADER_DELAY_BUCKETS, seconds)] += 1
        self.header_delay_sum += seconds

    def snapshot(self) -> StatsSnapshot:
        """
        A copy of the counters. Each field is copied whole (C{dict()} and
        C{tuple()} of builtins hold the GIL throughout), so a reader in
        another thread never sees a torn Counter; fields may be one event
        apart from each other, as with any scrape.
        """
        for _ in range(8):
            try:
                rejected = dict(self.rejected)
                break
            except RuntimeError:  # pragma: no cover - resized mid-copy (no GIL)
                continue
        else:  # pragma: no cover
            rejected = dict(self.rejected)
        return StatsSnapshot(
            self.accepted,
            self.direct,
            rejected,
            self.timed_out,
            self.lost,
            self.refused,
            self.evicted,
            self.pending,
            tuple(self.header_delay_counts),
            self.header_delay_sum,
        )

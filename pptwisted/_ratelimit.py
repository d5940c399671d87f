"""
Rate-limited logging of rejections: a flood of bad input (spoofed UDP
datagrams, a port scan) must not become a flood of log lines.

Per interval, the first C{burst} events of each rule are logged in full;
the rest are counted, and one summary event per interval says how many of
each rule were suppressed and from how many distinct peers.
"""

from __future__ import annotations

import collections
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

__all__ = ["DEFAULT_BURST", "DEFAULT_INTERVAL", "MAX_TRACKED_PEERS", "RateLimitedLog"]

#: Events of one rule logged in full per interval.
DEFAULT_BURST = 10
#: Seconds per interval.
DEFAULT_INTERVAL = 60.0
#: Distinct peers remembered per interval (the count saturates there).
MAX_TRACKED_PEERS = 4096


class RateLimitedLog:
    """
    Emits warnings through C{log}: for each rule, the first C{burst} per
    C{interval} in full, then one summary per interval of what was
    suppressed (count by rule, number of distinct peers).

    The interval starts with the first event after a quiet one; the summary
    is emitted by a timer at its end (or by L{flush}, e.g. when a port
    stops), and only when something was suppressed.
    """

    def __init__(
        self,
        log: Logger,
        clock: IReactorTime,
        *,
        burst: int = DEFAULT_BURST,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if burst < 0:
            raise ValueError(f"burst must be >= 0, not {burst!r}")
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, not {interval!r}")
        self._log = log
        self._clock = clock
        self.burst = burst
        self.interval = interval
        self._started: float | None = None
        self._logged: collections.Counter[str] = collections.Counter()
        self._suppressed: collections.Counter[str] = collections.Counter()
        self._peers: set[str] = set()
        self._timer: IDelayedCall | None = None
        #: Events suppressed since this object was created, by rule.
        self.total_suppressed: collections.Counter[str] = collections.Counter()

    def emit(
        self, rule: str, peer: str, format: str, *, source: str | None = None, **fields: Any
    ) -> bool:
        """
        Log C{format} with C{fields} (and C{rule}, C{peer}) as a warning,
        unless C{rule} used up its burst this interval: then count it.
        C{source} (default: C{peer}) is what the summary counts distinct
        peers by, e.g. the host without the port.

        @return: whether the event was logged in full.
        """
        now = self._clock.seconds()
        started = self._started
        if started is None or now >= started + self.interval:
            self.flush()
            self._started = now
        if self._logged[rule] < self.burst:
            self._logged[rule] += 1
            self._log.warn(format, rule=rule, peer=peer, **fields)
            return True
        self._suppressed[rule] += 1
        self.total_suppressed[rule] += 1
        if len(self._peers) < MAX_TRACKED_PEERS:
            self._peers.add(peer if source is None else source)
        if self._timer is None:
            assert self._started is not None
            delay = max(0.0, self._started + self.interval - now)
            self._timer = self._clock.callLater(delay, self._interval_over)
        return False

    def _interval_over(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Emit the summary of the current interval (if any) and start afresh."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        suppressed = self._suppressed
        if suppressed:
            peers = len(self._peers)
            self._log.warn(
                "Suppressed {count} similar event(s) in {interval}s ({by_rule})"
                " from {peers}{more} distinct peer(s)",
                count=sum(suppressed.values()),
                interval=self.interval,
                by_rule=", ".join(f"{rule}: {n}" for rule, n in sorted(suppressed.items())),
                suppressed=dict(suppressed),
                peers=peers,
                more="+" if peers >= MAX_TRACKED_PEERS else "",
            )
        self._started = None
        self._logged = collections.Counter()
        self._suppressed = collections.Counter()
        self._peers = set()

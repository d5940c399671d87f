"""
The header deadlines of a receiver's pending connections (spec section 5:
a receiver should wait a bounded time for the header, at least 3 seconds).

One timer serves every pending connection: while the timeout stays the same,
deadlines come in arrival order, so the timer is set for the oldest one only
(no C{DelayedCall} per connection). On a real reactor the timer is an
L{pptwisted.stream._alarm.Alarm}'s, which costs the reactor's loop nothing while it
waits; on other clocks (tests), the clock's C{callLater}.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from ._alarm import call_later_for

__all__ = ["Deadlines", "Expirable"]


class Expirable(Protocol):
    """What L{Deadlines} tracks: something told when its time is up."""

    def header_timed_out(self) -> None:
        """The deadline passed before the header was complete."""


class Deadlines:
    """
    The pending connections of one receiver, each with its deadline.

    L{add} a connection when it starts waiting; pop it from L{waiting} when
    it stops (header complete, rejected, lost): the timer stays armed, as
    the next connection usually comes before it fires and then costs no
    timer of its own. Expired connections are removed, then told through
    L{Expirable.header_timed_out}.
    """

    __slots__ = ("_call_later", "_clock", "_ordered", "_timeout", "timer", "waiting")

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self._clock = clock
        self._call_later = call_later_for(clock)
        self._timeout = timeout
        #: Each pending connection's deadline (the accept time plus the
        #: timeout in force then), insertion-ordered: oldest first
        #: (deadlines ascend while C{_ordered}). A receiver's hot path may
        #: add an entry here directly, as L{add} does: the clock's time plus
        #: L{timeout}, then L{arm} if C{timer} is C{None}.
        self.waiting: dict[Expirable, float] = {}
        #: The sweep's timer, while one is set.
        self.timer: IDelayedCall | None = None
        self._ordered = True

    @property
    def timeout(self) -> float:
        """Seconds a connection added from now on may wait."""
        return self._timeout

    @timeout.setter
    def timeout(self, timeout: float) -> None:
        if timeout < self._timeout and self.waiting:
            # New deadlines may now come before older ones: sweep them all
            # from now on, and no later than the first new one can expire.
            self._ordered = False
            call = self.timer
            if call is not None and call.getTime() > self._clock.seconds() + timeout:
                call.reset(timeout)
        self._timeout = timeout

    def add(self, connection: Expirable) -> None:
        """Start the clock for C{connection}."""
        self.waiting[connection] = self._clock.seconds() + self._timeout
        if self.timer is None:
            self.arm()

    def arm(self) -> None:
        """Set the timer, none being set, for a connection just added."""
        self.timer = self._call_later(self._timeout, self._expire)

    def stop(self) -> None:
        """Cancel the timer if no connection waits (the receiver stopped)."""
        if not self.waiting and self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def __len__(self) -> int:
        return len(self.waiting)

    def __contains__(self, connection: object) -> bool:
        return connection in self.waiting

    def _expire(self) -> None:
        self.timer = None
        now = self._clock.seconds()
        pending = self.waiting
        expired: list[Expirable] = []
        if self._ordered:
            for connection, deadline in pending.items():
                if deadline > now:
                    break
                expired.append(connection)
        else:
            expired = [c for c, deadline in pending.items() if deadline <= now]
        for connection in expired:
            del pending[connection]
        if pending:
            soonest = next(iter(pending.values())) if self._ordered else min(pending.values())
            self.timer = self._call_later(max(soonest - now, 0.0), self._expire)
        else:
            self._ordered = True
        for connection in expired:
            connection.header_timed_out()

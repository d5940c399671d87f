"""
The header deadlines of a receiver's pending connections (spec section 5:
a receiver should wait a bounded time for the header, at least 3 seconds).

One timer serves every pending connection: while the timeout stays the same,
deadlines come in arrival order, so the timer is set for the oldest one only
(no C{DelayedCall} per connection).
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Deadlines", "Expirable"]


class Expirable(Protocol):
    """What L{Deadlines} tracks: something told when its time is up."""

    def header_timed_out(self) -> None:
        """The deadline passed before the header was complete."""


class Deadlines:
    """
    The pending connections of one receiver, each with its deadline.

    L{add} when a connection starts waiting, L{discard} when it stops (header
    complete, rejected, lost). Expired connections are removed, then told
    through L{Expirable.header_timed_out}.
    """

    __slots__ = ("_call", "_clock", "_ordered", "_pending", "_timeout")

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self._clock = clock
        self._timeout = timeout
        # Insertion-ordered: oldest first; deadlines ascend while _ordered.
        self._pending: dict[Expirable, float] = {}
        self._call: IDelayedCall | None = None
        self._ordered = True

    @property
    def timeout(self) -> float:
        """Seconds a connection added from now on may wait."""
        return self._timeout

    @timeout.setter
    def timeout(self, timeout: float) -> None:
        if timeout < self._timeout and self._pending:
            # New deadlines may now come before older ones.
            self._ordered = False
        self._timeout = timeout

    def add(self, connection: Expirable) -> None:
        """Start the clock for C{connection}."""
        self._pending[connection] = self._clock.seconds() + self._timeout
        if self._call is None:
            self._call = self._clock.callLater(self._timeout, self._expire)

    def discard(self, connection: Expirable) -> float | None:
        """
        C{connection} no longer waits (unknown connections are ignored).

        @return: its deadline (the accept time plus the timeout in force
            then), or C{None} if it was not waiting.
        """
        # The timer stays armed: the next connection usually comes before it
        # fires, and then costs no timer of its own.
        return self._pending.pop(connection, None)

    def stop(self) -> None:
        """Cancel the timer if no connection waits (the receiver stopped)."""
        if not self._pending and self._call is not None:
            self._call.cancel()
            self._call = None

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, connection: object) -> bool:
        return connection in self._pending

    def _expire(self) -> None:
        self._call = None
        now = self._clock.seconds()
        pending = self._pending
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
            self._call = self._clock.callLater(max(soonest - now, 0.0), self._expire)
        else:
            self._ordered = True
        for connection in expired:
            connection.header_timed_out()

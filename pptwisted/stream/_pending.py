"""
The per-process cap on connections waiting for their PROXY header.

A peer that opens connections and never finishes a header holds a file
descriptor each until the header timeout. Every C{proxy:} listener of the
process shares one oldest-first record of its waiting connections: when a
new one would go over the cap, the oldest waiting connection (of any
listener) is evicted, so that descriptors stay free for clients that do send
a header.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["PendingConnections", "default_max_pending", "pending_connections"]

#: The cap when the file-descriptor limit cannot be read (or is unlimited).
FALLBACK_MAX_PENDING = 512


def default_max_pending() -> int:
    """Half of the process's file-descriptor soft limit (at least 1)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return FALLBACK_MAX_PENDING
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:  # pragma: no cover
        return FALLBACK_MAX_PENDING
    return max(1, soft // 2)


class Evictable(Protocol):
    """What L{PendingConnections} tracks: something that can be closed early."""

    def evict(self) -> None:
        """Close: too many connections wait for their header."""


class PendingConnections:
    """
    The waiting connections of every listener, oldest first.

    A receiver adds a connection to L{waiting} when it starts waiting (then,
    if that is over the cap of its listener, calls L{enforce}) and pops it
    when it stops waiting. Beyond the cap, the oldest waiting connections
    are evicted (removed, then told through L{Evictable.evict}).
    """

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        #: Insertion-ordered: oldest first.
        self.waiting: dict[Evictable, None] = {}

    def enforce(self, cap: int) -> None:
        """Evict the oldest waiting connections beyond C{cap}."""
        waiting = self.waiting
        evicted = []
        while len(waiting) > cap:
            oldest = next(iter(waiting))
            del waiting[oldest]
            evicted.append(oldest)
        for oldest in evicted:
            oldest.evict()

    def clear(self) -> None:
        """Forget every connection (for tests: nothing is closed)."""
        self.waiting.clear()

    def __len__(self) -> int:
        return len(self.waiting)


#: The one record of the process.
pending_connections = PendingConnections()

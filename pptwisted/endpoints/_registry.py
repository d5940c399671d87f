"""
The listeners whose counters L{pptwisted.metrics} reports: each wrapper that
listens, under a name (the policy's C{name}, or the listening address; never
the endpoint description, which can hold key paths).

Wrappers are held weakly and reported only while they listen on a port
(Twisted's C{Factory.numPorts}), so a stopped or dropped listener leaves no
trace. Nothing here imports prometheus_client or the reactor: the endpoint
(loaded by the plugin dropin) calls L{track_listener}.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, TypeVar

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import IAddress, IListeningPort

if TYPE_CHECKING:
    from ..stream._stats import ProxyProtocolStats
    from ..stream._wrapper import ProxyProtocolWrapper

__all__ = ["address_name", "listeners", "track", "track_listener", "untrack"]

_Port = TypeVar("_Port", bound=IListeningPort)

# id(wrapper) -> (weak reference to it, its name). Mutated in the reactor
# thread (and by weakref callbacks); read by collectors in other threads
# through a copy made by one builtin call.
_tracked: dict[int, tuple[weakref.ref[ProxyProtocolWrapper], str]] = {}


def address_name(address: IAddress) -> str:
    """A listener's default name: C{127.0.0.1:8080}, C{[::1]:8080}, C{unix:/run/app.sock}."""
    if isinstance(address, (IPv4Address, IPv6Address)):
        host = address.host
        return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"
    if isinstance(address, UNIXAddress):
        raw: bytes | str | None = address.name
        path = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return f"unix:{path or '(unnamed)'}"
    return type(address).__name__


def track(wrapper: ProxyProtocolWrapper, name: str | None = None) -> None:
    """
    Report C{wrapper}'s counters under C{name} (default: its policy's name)
    while it listens. For a L{ProxyProtocolWrapper} given to
    C{reactor.listenTCP} directly; C{proxy:} endpoints track their ports.
    """
    if name is None:
        name = wrapper.policy.name
    if not name:
        raise ValueError("a wrapper needs a name: pass name= or set the policy's name")
    key = id(wrapper)

    def gone(ref: weakref.ref[ProxyProtocolWrapper]) -> None:
        entry = _tracked.get(key)
        if entry is not None and entry[0] is ref:
            del _tracked[key]

    _tracked[key] = (weakref.ref(wrapper, gone), name)


def untrack(wrapper: ProxyProtocolWrapper) -> None:
    """Stop reporting C{wrapper} (it also stops when its ports stop)."""
    _tracked.pop(id(wrapper), None)


def track_listener(port: _Port, wrapper: ProxyProtocolWrapper) -> _Port:
    """Track C{wrapper}, now listening on C{port}; return C{port} (a callback)."""
    track(wrapper, wrapper.policy.name or address_name(port.getHost()))
    return port


def listeners() -> list[tuple[str, ProxyProtocolStats]]:
    """
    The name and stats of every tracked wrapper that listens now; a stats
    object shared by several wrappers (one endpoint, several ports) once.
    Safe to call from any thread.
    """
    found: list[tuple[str, ProxyProtocolStats]] = []
    seen: set[int] = set()
    for ref, name in _tracked.copy().values():
        wrapper = ref()
        if wrapper is None or wrapper.numPorts <= 0:
            continue
        stats = wrapper.stats
        if id(stats) not in seen:
            seen.add(id(stats))
            found.append((name, stats))
    return found

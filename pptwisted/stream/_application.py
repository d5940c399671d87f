"""
The application's protocol as Twisted's transports show and treat it: the
log prefix and class name a transport gives it (its C{logstr} and C{repr}
name the application, not the header reader that came first), and what
happens when it raises, as the reactor would do. Shared by both hand-overs
(L{pptwisted.stream._constructed}, L{pptwisted.stream._relayed}) and the TLS
layer under C{proxy:ssl} (L{pptwisted.stream._tls}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import ILoggingContext, IProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["app_log_prefix", "app_names", "cached_app_names", "close_after_error", "log_failure"]

_log = Logger(namespace="pptwisted")

#: L{app_names} of each application class whose log prefix does not depend
#: on the instance.
_NAMES: dict[type, tuple[str, str]] = {}
#: C{cached_app_names(cls)}: L{app_names} of an instance of C{cls} if cached,
#: else C{None}. A hand-over asks it first: one Python call less per
#: connection.
cached_app_names = _NAMES.get


def app_names(app: object) -> tuple[str, str]:
    """
    The log prefix and the class name Twisted's transports show for C{app};
    cached per class (L{cached_app_names}) when the class keeps Twisted's default log
    prefix, its name.
    """
    cls = type(app)
    names = _NAMES.get(cls)
    if names is not None:
        return names
    name: str = getattr(cls, "_pptwisted_display_name", None) or cls.__name__
    if getattr(cls, "logPrefix", None) is Protocol.logPrefix:
        names = _NAMES[cls] = (cls.__name__, name)
        return names
    if ILoggingContext.providedBy(app):
        return str(app.logPrefix()), name
    return cls.__name__, name


def app_log_prefix(app: object) -> str:
    """The log prefix Twisted's transports compute for C{app}."""
    return app_names(app)[0]


def log_failure(system: str, failure: Failure | None = None) -> None:
    """
    Log an application's exception (C{failure}, or the one being handled) as
    the reactor would, under C{system}.
    """
    _log.failure("Unhandled Error", failure, log_system=system)


def close_after_error(transport: Any, system: str) -> None:
    """
    The application raised in C{dataReceived} (the exception being
    handled): log it under C{system} and close the connection, as the
    reactor does. Twisted's own socket transports lose the connection at
    once with the exception as the reason; others (a TLS layer or another
    protocol wrapper, which has a C{connectionLost} of its own, as a
    protocol) are aborted.
    """
    failure = Failure()  # type: ignore[no-untyped-call]
    log_failure(system, failure)
    lost = getattr(transport, "connectionLost", None)
    stop_reading = getattr(transport, "stopReading", None)
    if lost is not None and stop_reading is not None and not IProtocol.providedBy(transport):
        stop_reading()
        transport.stopWriting()
        lost(failure)
    elif hasattr(transport, "abortConnection"):
        transport.abortConnection()
    else:
        transport.loseConnection()

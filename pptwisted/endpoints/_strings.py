"""
Endpoint descriptions, shared by the server and client C{proxy:} parsers:
the wrapped endpoint's parsed arguments written back as a string for
C{serverFromString}/C{clientFromString}, and the messages for a misspelt
C{proxy*} option or an unknown endpoint type inside C{proxy:}.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from twisted.internet import endpoints
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.interfaces import (
    IStreamClientEndpointStringParserWithReactor,
    IStreamServerEndpointStringParser,
)

__all__ = [
    "installed_prefixes",
    "is_unknown_type",
    "unknown_option",
    "unknown_type_message",
    "unparse_endpoint",
]


def unparse_endpoint(args: tuple[object, ...], kwargs: Mapping[str, object]) -> str:
    """Write parsed endpoint arguments back as an endpoint description."""
    quote: Callable[[str], str] = quoteStringArgument
    return ":".join(
        [quote(str(a)) for a in args]
        + [f"{quote(str(k))}={quote(str(v))}" for k, v in kwargs.items()]
    )


def unknown_option(what: str, name: str, valid: Iterable[str]) -> str:
    """
    The message for an unknown option C{name} of C{what} (e.g.
    C{"proxy: option"}): the closest valid name ("did you mean"; the same
    name in other case first), then the valid names alone, without their
    descriptions.
    """
    names = list(valid)
    by_key = {_key(n): n for n in names}
    close = [_key(name)] if _key(name) in by_key else []
    close = close or difflib.get_close_matches(_key(name), list(by_key), n=1, cutoff=0.6)
    hint = f"did you mean {by_key[close[0]]}? " if close else ""
    return f"unknown {what} {name!r}; {hint}valid: {', '.join(names)}"


def _key(name: str) -> str:
    """An option's name as compared: lower case, without the shared C{proxy}."""
    key = name.lower()
    return key[len("proxy") :] if key.startswith("proxy") else key


def installed_prefixes(side: Literal["server", "client"]) -> list[str]:
    """
    The endpoint types C{serverFromString} (or C{clientFromString}) knows
    here: Twisted's own and those of the installed plugins, sorted. Best
    effort: Twisted's own come from a private dict (listed in
    L{pptwisted.endpoints._twisted_private}); without it, the plugins alone.
    """
    from twisted.plugin import getPlugins

    builtin = "_serverParsers" if side == "server" else "_clientParsers"
    prefixes = {str(p).lower() for p in getattr(endpoints, builtin, {})}
    interface = (
        IStreamServerEndpointStringParser
        if side == "server"
        else IStreamClientEndpointStringParserWithReactor
    )
    plugins: Iterable[Any] = getPlugins(interface)
    prefixes.update(str(plugin.prefix).lower() for plugin in plugins)
    return sorted(prefixes)


def is_unknown_type(error: ValueError) -> bool:
    """Whether C{error}, from C{serverFromString}/C{clientFromString}, is about the type."""
    return str(error).startswith("Unknown endpoint type")


def unknown_type_message(side: Literal["server", "client"], kind: str) -> str:
    """The message for an unknown endpoint type C{kind} inside C{proxy:}."""
    prefixes = installed_prefixes(side)
    close = difflib.get_close_matches(kind.lower(), prefixes, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    what = "server" if side == "server" else "client"
    return (
        f"unknown endpoint type {kind!r} inside proxy:; {hint}installed {what} endpoint"
        f" types: {', '.join(p for p in prefixes if p != 'proxy')}"
    )

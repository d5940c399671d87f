"""
Endpoint descriptions, shared by the server and client C{proxy:} parsers:
the wrapped endpoint's parsed arguments written back as a string for
C{serverFromString}/C{clientFromString}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twisted.internet.endpoints import quoteStringArgument

__all__ = ["unparse_endpoint"]


def unparse_endpoint(args: tuple[object, ...], kwargs: Mapping[str, object]) -> str:
    """Write parsed endpoint arguments back as an endpoint description."""
    quote: Callable[[str], str] = quoteStringArgument
    return ":".join(
        [quote(str(a)) for a in args]
        + [f"{quote(str(k))}={quote(str(v))}" for k, v in kwargs.items()]
    )

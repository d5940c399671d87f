"""
The C{proxy:} endpoints: the server and client endpoint classes, the string
parsers behind the C{proxy:} prefix of C{serverFromString} and
C{clientFromString} (the plugin dropin instantiates them), and the options
those strings take.
"""

from .._policy import DEFAULT_TIMEOUT
from ._client import CLIENT_OPTIONS, ProxyClientParser, ProxyProtocolClientEndpoint
from ._connection_header import header_for_connection
from ._server import SERVER_OPTIONS, ProxyProtocolServerEndpoint, ProxyServerParser

__all__ = [
    "CLIENT_OPTIONS",
    "DEFAULT_TIMEOUT",
    "SERVER_OPTIONS",
    "ProxyClientParser",
    "ProxyProtocolClientEndpoint",
    "ProxyProtocolServerEndpoint",
    "ProxyServerParser",
    "header_for_connection",
]

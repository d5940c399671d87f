"""
pptwisted: the PROXY protocol (v1 and v2) for Twisted.

The names the documentation's examples use. The codec (L{parse_header},
L{HeaderParser}, L{ProxyHeader}) is sans-I/O: bytes in, a header out, and
the reverse. More in documented submodules: L{pptwisted.codec} (enums,
caps, error rules), L{pptwisted.tlv} (TLV builders, SSL client flags),
L{pptwisted.endpoints} (the C{proxy:} parsers and options),
L{pptwisted.datagram}, L{pptwisted.http}, L{pptwisted.testing},
L{pptwisted.metrics}, L{pptwisted.compat}.
"""

from __future__ import annotations

import importlib
import warnings

from ._interfaces import IProxyProtocolTransport, get_proxy_header, get_proxy_transport
from ._policy import ProxyProtocolPolicy
from ._version import __version__ as __version__
from .codec import (
    TLV,
    HeaderParser,
    IncompleteHeader,
    InvalidHeader,
    ProxyHeader,
    ProxyProtocolError,
    TLVType,
    parse_header,
)
from .datagram import ProxyDatagramSender, ProxyProtocolDatagramWrapper
from .endpoints import (
    ProxyProtocolClientEndpoint,
    ProxyProtocolServerEndpoint,
    header_for_connection,
)
from .stream import ProxyProtocolStats, ProxyProtocolWrapper

__all__ = [
    "TLV",
    "HeaderParser",
    "IProxyProtocolTransport",
    "IncompleteHeader",
    "InvalidHeader",
    "ProxyDatagramSender",
    "ProxyHeader",
    "ProxyProtocolClientEndpoint",
    "ProxyProtocolDatagramWrapper",
    "ProxyProtocolError",
    "ProxyProtocolPolicy",
    "ProxyProtocolServerEndpoint",
    "ProxyProtocolStats",
    "ProxyProtocolWrapper",
    "TLVType",
    "get_proxy_header",
    "get_proxy_transport",
    "header_for_connection",
    "parse_header",
]

#: Names C{pptwisted} exported before 0.2, and their public home now. They
#: stay importable from C{pptwisted}, with a DeprecationWarning, for one
#: release.
_MOVED = {
    "DEFAULT_MAX_V2_LENGTH": "pptwisted.codec",
    "V2_SIGNATURE": "pptwisted.codec",
    "Command": "pptwisted.codec",
    "Family": "pptwisted.codec",
    "Transport": "pptwisted.codec",
    "NotProxyHeader": "pptwisted.codec",
    "Rule": "pptwisted.codec",
    "SSLInfo": "pptwisted.tlv",
    "aws_vpce_tlv": "pptwisted.tlv",
    "azure_link_id_tlv": "pptwisted.tlv",
    "gcp_psc_tlv": "pptwisted.tlv",
    "ssl_tlv": "pptwisted.tlv",
    "DEFAULT_TIMEOUT": "pptwisted.endpoints",
    "ProxyClientParser": "pptwisted.endpoints",
    "ProxyServerParser": "pptwisted.endpoints",
    "ProxyDatagramStats": "pptwisted.datagram",
}


def __getattr__(name: str) -> object:
    """A name moved to a submodule: warn, then give it from there."""
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'pptwisted' has no attribute {name!r}")
    warnings.warn(
        f"pptwisted.{name} is deprecated since pptwisted 0.2: import it from {home}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)

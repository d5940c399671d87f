"""
pptwisted: the PROXY protocol (v1 and v2) for Twisted.

The codec (L{parse_header}, L{HeaderParser}, L{ProxyHeader}) is sans-I/O:
bytes in, a header out, and the reverse.
"""

from ._client import ProxyClientParser, ProxyProtocolClientEndpoint, header_for_connection
from ._datagram import ProxyDatagramSender, ProxyDatagramStats, ProxyProtocolDatagramWrapper
from ._endpoint import ProxyProtocolServerEndpoint, ProxyServerParser
from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, ProxyProtocolError, Rule
from ._header import V2_SIGNATURE, Command, Family, ProxyHeader, Transport
from ._interfaces import IProxyProtocolTransport
from ._parser import DEFAULT_MAX_V2_LENGTH, HeaderParser, parse_header
from ._policy import DEFAULT_TIMEOUT, ProxyProtocolPolicy
from ._tlv import (
    TLV,
    SSLInfo,
    TLVType,
    aws_vpce_tlv,
    azure_link_id_tlv,
    gcp_psc_tlv,
    ssl_tlv,
)
from ._wrapper import (
    ProxyProtocolStats,
    ProxyProtocolWrapper,
    get_proxy_header,
    get_proxy_transport,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_V2_LENGTH",
    "DEFAULT_TIMEOUT",
    "TLV",
    "V2_SIGNATURE",
    "Command",
    "Family",
    "HeaderParser",
    "IProxyProtocolTransport",
    "IncompleteHeader",
    "InvalidHeader",
    "NotProxyHeader",
    "ProxyClientParser",
    "ProxyDatagramSender",
    "ProxyDatagramStats",
    "ProxyHeader",
    "ProxyProtocolClientEndpoint",
    "ProxyProtocolDatagramWrapper",
    "ProxyProtocolError",
    "ProxyProtocolPolicy",
    "ProxyProtocolServerEndpoint",
    "ProxyProtocolStats",
    "ProxyProtocolWrapper",
    "ProxyServerParser",
    "Rule",
    "SSLInfo",
    "TLVType",
    "Transport",
    "aws_vpce_tlv",
    "azure_link_id_tlv",
    "gcp_psc_tlv",
    "get_proxy_header",
    "get_proxy_transport",
    "header_for_connection",
    "parse_header",
    "ssl_tlv",
]

"""
pptwisted: the PROXY protocol (v1 and v2) for Twisted.

The codec (L{parse_header}, L{HeaderParser}, L{ProxyHeader}) is sans-I/O:
bytes in, a header out, and the reverse.
"""

from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, ProxyProtocolError, Rule
from ._header import V2_SIGNATURE, Command, Family, ProxyHeader, Transport
from ._parser import DEFAULT_MAX_V2_LENGTH, HeaderParser, parse_header
from ._tlv import (
    TLV,
    SSLInfo,
    TLVType,
    aws_vpce_tlv,
    azure_link_id_tlv,
    gcp_psc_tlv,
    ssl_tlv,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_V2_LENGTH",
    "TLV",
    "V2_SIGNATURE",
    "Command",
    "Family",
    "HeaderParser",
    "IncompleteHeader",
    "InvalidHeader",
    "NotProxyHeader",
    "ProxyHeader",
    "ProxyProtocolError",
    "Rule",
    "SSLInfo",
    "TLVType",
    "Transport",
    "aws_vpce_tlv",
    "azure_link_id_tlv",
    "gcp_psc_tlv",
    "parse_header",
    "ssl_tlv",
]

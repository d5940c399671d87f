"""
The sans-I/O codec (spec sections 2.1 and 2.2): bytes in, a L{ProxyHeader}
out, or a L{ProxyProtocolError}; a L{ProxyHeader} in, bytes out. No reactor,
no transport, no endpoint: usable on its own.

The names most code needs are also in L{pptwisted}; this module adds the
header's enums, the signature, the size caps and the error rules.
"""

from ._errors import IncompleteHeader, InvalidHeader, NotProxyHeader, ProxyProtocolError, Rule
from ._header import V2_SIGNATURE, Command, Family, ProxyHeader, Transport
from ._parser import HeaderParser, parse_header
from ._tlv import DEFAULT_MAX_TLVS, TLV, TLVType
from ._v2 import DEFAULT_MAX_V2_LENGTH

__all__ = [
    "DEFAULT_MAX_TLVS",
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
    "TLVType",
    "Transport",
    "parse_header",
]

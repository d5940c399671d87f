"""
The error tree of pptwisted.

Every failure of the codec is a L{ProxyProtocolError}: either the data is not
complete yet (L{IncompleteHeader}, which says how many more bytes are needed
at least) or it can never become a valid header (L{InvalidHeader}, which names
the rule of HAProxy's ``doc/proxy-protocol.txt`` that was broken).
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "IncompleteHeader",
    "InvalidHeader",
    "NotProxyHeader",
    "ProxyProtocolError",
    "Rule",
]


class Rule(str, enum.Enum):
    """
    The rules a header can break, one member per rule, named ``V1_...`` or
    ``V2_...`` after the version whose section of the spec states it.
    The value is a short, stable code suitable for logs and metrics.
    """

    SIGNATURE = "signature"
    VERSION_NOT_ACCEPTED = "version-not-accepted"

    V1_KEYWORD = "v1-keyword"
    V1_FAMILY = "v1-family"
    V1_SEPARATOR = "v1-separator"
    V1_FIELD_COUNT = "v1-field-count"
    V1_IPV4 = "v1-ipv4"
    V1_IPV6 = "v1-ipv6"
    V1_FAMILY_MISMATCH = "v1-family-mismatch"
    V1_PORT = "v1-port"
    V1_LINE_END = "v1-line-end"
    V1_TOO_LONG = "v1-too-long"

    V2_VERSION = "v2-version"
    V2_COMMAND = "v2-command"
    V2_FAMILY = "v2-family"
    V2_LENGTH_SHORT = "v2-length-short"
    V2_LENGTH_CAP = "v2-length-cap"
    V2_TLV_TRUNCATED = "v2-tlv-truncated"
    V2_CRC32C_LENGTH = "v2-crc32c-length"
    V2_CRC32C_MISMATCH = "v2-crc32c-mismatch"
    V2_CRC32C_DUPLICATE = "v2-crc32c-duplicate"
    V2_SSL_SHORT = "v2-ssl-short"
    V2_SSL_TRUNCATED = "v2-ssl-truncated"
    #: More TLV records (SSL sub-TLVs included) than the receiver's cap.
    V2_TOO_MANY_TLVS = "v2-too-many-tlvs"
    #: The receiver requires a CRC32C TLV and the header has none.
    V2_CRC32C_REQUIRED = "v2-crc32c-required"


class ProxyProtocolError(Exception):
    """
    Base of every error pptwisted raises about PROXY protocol data.
    """


class IncompleteHeader(ProxyProtocolError):
    """
    The data is a valid beginning of a header, but the header is not complete.

    @ivar needed: at least how many more bytes must arrive before the header
        can be complete (always >= 1).
    @ivar parser: when raised by C{parse_header}, the C{HeaderParser} that
        holds the bytes seen so far: feed it the rest instead of parsing the
        whole again.
    """

    def __init__(self, needed: int, parser: Any = None) -> None:
        super().__init__(f"incomplete PROXY header: at least {needed} more byte(s)")
        self.needed = needed
        self.parser = parser


class InvalidHeader(ProxyProtocolError):
    """
    The data can never become a valid header.

    @ivar rule: the L{Rule} that was broken.
    @ivar detail: a human-readable sentence saying what was wrong.
    @ivar hint: what the caller can do about it (or the empty string).
    """

    def __init__(self, rule: Rule, detail: str, hint: str = "") -> None:
        message = f"invalid PROXY header ({rule.value}): {detail}"
        if hint:
            message = f"{message} ({hint})"
        super().__init__(message)
        self.rule = rule
        self.detail = detail
        self.hint = hint


class NotProxyHeader(InvalidHeader):
    """
    The first bytes cannot begin a PROXY header of any version: the peer is
    not speaking the PROXY protocol at all. (A header of a version that is
    not accepted is an L{InvalidHeader} with L{Rule.VERSION_NOT_ACCEPTED}.)

    Receivers in optional mode serve such connections as direct.
    """

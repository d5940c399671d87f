"""
TLV builders (spec section 2.2.7 onwards) for headers you send: the SSL TLV
and its client flags, and the cloud vendors' records (AWS VPC endpoint,
Azure Private Link, GCP Private Service Connect)::

    from pptwisted.tlv import PP2_CLIENT_SSL, ssl_tlv
    ProxyHeader.proxy(src, dst, tlvs=[ssl_tlv(PP2_CLIENT_SSL, version="TLSv1.3")])

Reading them back needs none of this: L{ProxyHeader} has typed accessors
(C{header.ssl}, C{header.aws_vpce_id}, ...).
"""

from .codec import DEFAULT_MAX_TLVS, TLV, TLVType
from .codec._tlv import (
    PP2_CLIENT_CERT_CONN,
    PP2_CLIENT_CERT_SESS,
    PP2_CLIENT_SSL,
    SSLInfo,
    aws_vpce_tlv,
    azure_link_id_tlv,
    gcp_psc_tlv,
    ssl_tlv,
)

__all__ = [
    "DEFAULT_MAX_TLVS",
    "PP2_CLIENT_CERT_CONN",
    "PP2_CLIENT_CERT_SESS",
    "PP2_CLIENT_SSL",
    "TLV",
    "SSLInfo",
    "TLVType",
    "aws_vpce_tlv",
    "azure_link_id_tlv",
    "gcp_psc_tlv",
    "ssl_tlv",
]

"""
What a connection learnt from its PROXY header, as a plain dictionary (for
JSON) and as text: used by C{twist proxy-whoami}.
"""

from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import IAddress, ITransport

from .._interfaces import get_proxy_transport
from ..codec import TLV, ProxyHeader, TLVType

__all__ = ["describe_connection", "describe_header", "render_text"]


def describe_address(address: IAddress | None) -> dict[str, Any] | None:
    """An address as a dictionary."""
    if address is None:
        return None
    if isinstance(address, (IPv4Address, IPv6Address)):
        return {"type": address.type, "host": address.host, "port": address.port}
    if isinstance(address, UNIXAddress):
        name = address.name
        path = name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else name
        return {"type": "UNIX", "path": path}
    return {"type": type(address).__name__, "repr": repr(address)}


def _tlv_name(t: int) -> str:
    try:
        return TLVType(t).name
    except ValueError:
        pass
    if 0xE0 <= t <= 0xEF:
        return "CUSTOM"
    if 0xF0 <= t <= 0xF7:
        return "EXPERIMENTAL"
    if 0xF8 <= t:
        return "FUTURE"
    return "UNASSIGNED"


def _describe_tlv(tlv: TLV) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": tlv.type,
        "name": _tlv_name(tlv.type),
        "length": len(tlv.value),
        "hex": tlv.value.hex(),
    }
    try:
        text = tlv.value.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.isprintable():
            entry["text"] = text
    return entry


def describe_header(header: ProxyHeader) -> dict[str, Any]:
    """Every field of C{header}, its TLVs decoded."""
    result: dict[str, Any] = {
        "version": header.version,
        "command": "LOCAL" if header.version == 2 and header.command == 0 else "PROXY",
        "family": header.family.name,
        "transport": header.transport.name,
        "source": describe_address(header.source),
        "destination": describe_address(header.destination),
        "uses_real_addresses": header.uses_real_addresses,
        "tlvs": [_describe_tlv(t) for t in header.tlvs],
    }
    if header.version == 1 and header.source is None:
        result["command"] = "UNKNOWN"
    decoded: dict[str, Any] = {}
    if header.alpn is not None:
        decoded["alpn"] = header.alpn.decode("ascii", "backslashreplace")
    for name in ("authority", "netns", "aws_vpce_id", "azure_link_id", "gcp_psc_connection_id"):
        value = getattr(header, name)
        if value is not None:
            decoded[name] = value
    if header.unique_id is not None:
        decoded["unique_id"] = header.unique_id.decode("utf-8", "backslashreplace")
    if header.crc32c is not None:
        decoded["crc32c"] = f"0x{header.crc32c:08x} (verified)"
    ssl = header.ssl
    if ssl is not None:
        details: dict[str, Any] = {
            "client": ssl.client,
            "client_ssl": ssl.client_ssl,
            "client_cert_conn": ssl.client_cert_conn,
            "client_cert_sess": ssl.client_cert_sess,
            "verify": ssl.verify,
            "verified": ssl.verified,
        }
        for name in ("version", "cn", "cipher", "sig_alg", "key_alg", "group", "sig_scheme"):
            value = getattr(ssl, name)
            if value is not None:
                details[name] = value
        if ssl.client_cert is not None:
            details["client_cert_sha256"] = hashlib.sha256(ssl.client_cert).hexdigest()
        decoded["ssl"] = details
    result["decoded"] = decoded
    return result


def describe_connection(transport: ITransport) -> dict[str, Any]:
    """What C{transport} knows: addresses seen, real addresses, the header."""
    proxied = get_proxy_transport(transport)
    header = proxied.proxy_header if proxied is not None else None
    return {
        "peer": describe_address(transport.getPeer()),
        "host": describe_address(transport.getHost()),
        "real_peer": describe_address(
            proxied.getRealPeer() if proxied is not None else transport.getPeer()
        ),
        "real_host": describe_address(
            proxied.getRealHost() if proxied is not None else transport.getHost()
        ),
        "proxy": describe_header(header) if header is not None else None,
    }


def _address_text(address: dict[str, Any] | None) -> str:
    if address is None:
        return "-"
    if "path" in address:
        return f"unix:{address['path']}"
    if "host" in address:
        host = address["host"]
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{address['port']} ({address['type']})"
    return str(address.get("repr"))


def render_text(report: dict[str, Any]) -> str:
    """The report of L{describe_connection} as lines of text."""
    lines = [
        f"client (getPeer): {_address_text(report['peer'])}",
        f"server (getHost): {_address_text(report['host'])}",
        f"real peer:        {_address_text(report['real_peer'])}",
        f"real host:        {_address_text(report['real_host'])}",
    ]
    proxy = report["proxy"]
    if proxy is None:
        lines.append("PROXY header:     none (direct connection)")
        return "\n".join(lines) + "\n"
    lines += [
        f"PROXY header:     v{proxy['version']} {proxy['command']}"
        f" {proxy['family']} {proxy['transport']}",
        f"  source:         {_address_text(proxy['source'])}",
        f"  destination:    {_address_text(proxy['destination'])}",
    ]
    if proxy["uses_real_addresses"]:
        lines.append("  (no addresses in the header: the real ones are used)")
    for tlv in proxy["tlvs"]:
        shown = tlv.get("text", "hex:" + tlv["hex"])
        lines.append(f"  TLV 0x{tlv['type']:02X} {tlv['name']} ({tlv['length']} bytes): {shown}")
    decoded = proxy["decoded"]
    for name, value in decoded.items():
        if name == "ssl":
            continue
        lines.append(f"  {name}: {value}")
    ssl = decoded.get("ssl")
    if ssl is not None:
        lines.append("  ssl:")
        for name, value in ssl.items():
            lines.append(f"    {name}: {value}")
    return "\n".join(lines) + "\n"

"""
What a receiver accepts: the policy of spec section 5 ("the receiver must be
configured to only receive the protocol described in this specification and
is not required to try to guess"), as one small value object.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Union, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress

from .codec._tlv import DEFAULT_MAX_TLVS
from .codec._v2 import DEFAULT_MAX_V2_LENGTH

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.defer import Deferred

    from .codec._header import ProxyHeader

__all__ = ["DEFAULT_TIMEOUT", "HeaderCheck", "ProxyProtocolPolicy"]

#: A user check of an accepted header: C{check(header, real_peer)} returns
#: (or a Deferred fires with) whether the connection may be served.
HeaderCheck = Callable[["ProxyHeader | None", IAddress], Union[bool, "Deferred[bool]"]]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Seconds a connection may take to send its header (the spec asks for >= 3).
DEFAULT_TIMEOUT = 10.0


def _networks(items: Iterable[str | Network]) -> tuple[Network, ...]:
    result = []
    for item in items:
        if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            result.append(item)
            continue
        text = item.strip()
        if not text:
            continue
        try:
            result.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"trusted source {text!r} is not an IPv4/IPv6 address or CIDR network"
            ) from None
    return tuple(result)


@dataclass(frozen=True)
class ProxyProtocolPolicy:
    """
    How a server treats the PROXY header of incoming connections.

    @ivar require_header: C{True} (default): every connection must start with
        a valid header. C{False} ("optional"): a connection whose first bytes
        cannot begin a PROXY header is served as direct, with its real
        addresses and those bytes passed through untouched. Optional mode lets
        anyone who can reach the port choose the address the application
        sees, unless L{trusted} is set.
    @ivar trusted: networks allowed to send a header (given as C{ip_network}
        objects or as strings like C{"10.0.0.0/8"}; always networks once
        built); empty means every peer
        (use only when the port is reachable from the proxy alone). UNIX
        socket peers are always trusted: the socket file's permissions guard
        them.
    @ivar untrusted: what happens to a peer outside L{trusted}: C{"refuse"}
        (default) closes the connection; C{"direct"} serves it with its real
        addresses without looking for a header, so its bytes reach the
        application untouched. A header from an untrusted peer never sets the
        address.
    @ivar versions: the header versions accepted.
    @ivar timeout: seconds a connection has to send a complete header.
    @ivar max_v2_length: cap on the v2 length field.
    @ivar max_tlvs: cap on the number of TLV records in a v2 header, SSL
        sub-TLVs included (default 64).
    @ivar require_crc32c: reject v2 headers without a valid CRC32C TLV,
        LOCAL health checks included (HAProxy sends it on those too).
    @ivar max_pending: cap on the connections waiting for their header, over
        every listener of the process (C{None}: half of the process's
        file-descriptor soft limit); beyond it the oldest waiting connection
        is closed (L{pptwisted.stream._pending}).
    @ivar check: C{check(header, real_peer)}, called once a header is
        accepted (C{header} is C{None} for a connection served as direct),
        before the application is built: C{True}, or a Deferred firing with
        C{True}, serves the connection; C{False}, an exception or a failure
        closes it under the rule C{policy}. The header timeout also covers a
        Deferred that never fires.
    @ivar secure_from_header: when a header carries an SSL TLV with the
        C{PP2_CLIENT_SSL} flag (the proxy terminated TLS), the application's
        transport adapts to C{ISSLTransport} (twisted.web's C{isSecure()},
        https URLs; L{pptwisted.stream._secure}). Needs L{trusted}: a peer that can
        send a header could otherwise claim TLS and a client certificate.
    @ivar alpn_from_header: the transport's C{negotiatedProtocol} is the
        header's ALPN TLV (C{PP2_TYPE_ALPN}) when it is C{b"h2"} or
        C{b"http/1.1"}, C{None} otherwise: for a proxy that terminates TLS in
        TCP mode, so that twisted.web speaks HTTP/2 to the clients that
        negotiated it (L{pptwisted.stream._secure.negotiated_protocol}).
        Needs L{trusted}, as L{secure_from_header} does.
    @ivar name: the listener's name in metrics (L{pptwisted.metrics}); by
        default a C{proxy:} endpoint's listening address.
    """

    require_header: bool = True
    trusted: tuple[Network | str, ...] = ()
    untrusted: Literal["refuse", "direct"] = "refuse"
    versions: frozenset[int] = field(default_factory=lambda: frozenset({1, 2}))
    timeout: float = DEFAULT_TIMEOUT
    max_v2_length: int = DEFAULT_MAX_V2_LENGTH
    max_tlvs: int = DEFAULT_MAX_TLVS
    require_crc32c: bool = False
    name: str | None = None
    max_pending: int | None = None
    check: HeaderCheck | None = None
    secure_from_header: bool = False
    alpn_from_header: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted", _networks(self.trusted))
        object.__setattr__(self, "versions", frozenset(self.versions))
        if not self.versions or not self.versions <= {1, 2}:
            raise ValueError(f"versions must be 1, 2 or both, not {sorted(self.versions)}")
        if self.untrusted not in ("refuse", "direct"):
            raise ValueError(f"untrusted must be 'refuse' or 'direct', not {self.untrusted!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {self.timeout!r}")
        if not 0 <= self.max_v2_length <= 0xFFFF:
            raise ValueError(f"max_v2_length must be 0-65535, not {self.max_v2_length!r}")
        if not 0 <= self.max_tlvs <= 0xFFFF:
            raise ValueError(f"max_tlvs must be 0-65535, not {self.max_tlvs!r}")
        if self.max_pending is not None and not self.max_pending >= 1:
            raise ValueError(f"max_pending must be at least 1, not {self.max_pending!r}")
        if self.check is not None and not callable(self.check):
            raise ValueError(f"check must be callable, not {self.check!r}")
        if self.secure_from_header and not self.trusted:
            raise ValueError(
                "proxySecure=yes (secure_from_header) needs proxyTrusted (trusted"
                " sources): any peer could otherwise claim TLS and a client certificate"
            )
        if self.alpn_from_header and not self.trusted:
            raise ValueError(
                "proxyALPN=yes (alpn_from_header) needs proxyTrusted (trusted sources):"
                " any peer could otherwise choose the protocol the application speaks"
            )
        if self.name is not None and not (0 < len(self.name) <= 128 and self.name.isprintable()):
            raise ValueError(f"name must be 1-128 printable characters, not {self.name!r}")

    def is_trusted(self, peer: IAddress) -> bool:
        """May C{peer} (the real socket peer) send a PROXY header?"""
        if not self.trusted:
            return True
        if not isinstance(peer, (IPv4Address, IPv6Address)):
            return True
        try:
            address = ipaddress.ip_address(peer.host.split("%", 1)[0])
        except ValueError:
            return False
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        networks = cast(tuple[Network, ...], self.trusted)  # normalised in __post_init__
        return any(a in net for a in candidates for net in networks if a.version == net.version)

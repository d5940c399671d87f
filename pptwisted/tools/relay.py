"""
C{twist proxy-relay}: a TCP relay that forwards each accepted connection to
a target, starting the outgoing connection with a PROXY header that
describes the original client (spec section 2: the sender writes the header
first; a relay listening on C{proxy:} passes on the header it received).

The TLVs of a received header are passed on, filtered and rewritten by the
relay's rules (L{TLVRules}); the header sent is a fresh one (spec section
4.1: each proxy in a chain sends its own header), so a CRC32C is computed
anew over it.

Both directions are flow-controlled (each transport is the producer of the
other's writes, so a slow reader pauses the fast writer instead of growing a
buffer) and half-close aware (an end-of-file from one side becomes a
write-shutdown towards the other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.application import strports
from twisted.application.service import IService
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    ISSLTransport,
    IStreamClientEndpoint,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

from .._interfaces import get_proxy_header
from ..codec import TLV, ProxyHeader, TLVType
from ..endpoints import ProxyProtocolClientEndpoint, header_for_connection
from ._cli import endpoint_or_exit, parse_tlv, print_version_and_exit
from ._cli import parse_tlv_type as _parse_tlv_type

__all__ = ["Options", "RelayFactory", "TLVRules", "makeService", "parse_tlv_type"]

_log = Logger(namespace="pptwisted.relay")


#: TLV type names on the command line: the top-level L{TLVType}s, lower
#: case, with C{-} or C{_} between words.
TLV_TYPE_NAMES = {
    spelling: int(t)
    for t in TLVType
    if not t.name.startswith("SSL_")
    for spelling in (t.name.lower(), t.name.lower().replace("_", "-"))
}


def parse_tlv_type(text: str) -> int:
    """A TLV type: a number (C{0xEA}, C{234}) or a name (C{authority}, C{aws}...)."""
    return _parse_tlv_type(text, TLV_TYPE_NAMES)


@dataclass(frozen=True)
class TLVRules:
    """
    What a relay does with the TLVs it would pass on (those of the header it
    received, and its own TLS facts when it terminates TLS).

    @ivar keep: pass only these types (C{None}: every type).
    @ivar drop: pass every type but these.
    @ivar replace: records sent instead of every record of their type (or
        added when there is none).
    @ivar crc32c: always send a CRC32C. Without it, a CRC32C is sent when
        the received header had one and the rules pass its type: either way
        it is computed over the header sent.
    """

    keep: frozenset[int] | None = None
    drop: frozenset[int] = frozenset()
    replace: tuple[TLV, ...] = ()
    crc32c: bool = False

    def __post_init__(self) -> None:
        if self.keep is not None and self.drop:
            raise ValueError("give types to keep or types to drop, not both")
        if any(t.type == TLVType.CRC32C for t in self.replace):
            raise ValueError("a CRC32C is computed, not set: use --crc32c")

    def passes(self, t: int) -> bool:
        """Does a record of type C{t} pass the keep/drop rules?"""
        return (self.keep is None or t in self.keep) and t not in self.drop

    def apply(self, header: ProxyHeader, received: ProxyHeader | None) -> tuple[ProxyHeader, bool]:
        """
        C{header} (built to describe the connection, with the received
        header's TLVs less its CRC32C) with the rules applied, and whether to
        add a CRC32C.
        """
        if header.version == 1:
            return header, False
        replaced = {t.type for t in self.replace}
        tlvs = [t for t in header.tlvs if self.passes(t.type) and t.type not in replaced]
        tlvs.extend(self.replace)
        had_crc = received is not None and any(t.type == TLVType.CRC32C for t in received.tlvs)
        crc = self.crc32c or (had_crc and self.passes(TLVType.CRC32C))
        return header._replace(tlvs=tuple(tlvs)), crc


class _Half:
    """Bookkeeping for one side: did it end its sending, did we end ours."""

    def __init__(self) -> None:
        self.read_closed = False
        self.write_closed = False


def _shutdown_write(transport: ITransport) -> bool:
    """Half-close C{transport}'s sending side; C{False} if it cannot."""
    lose_write = getattr(transport, "loseWriteConnection", None)
    if lose_write is None:
        return False
    lose_write()
    return True


@implementer(IHalfCloseableProtocol)
class _Side(Protocol):
    """One connection of a relayed pair; C{other} is its partner."""

    other: _Side | None = None
    relay: RelayServerProtocol

    def __init__(self) -> None:
        self.half = _Half()
        self.closed = False

    def dataReceived(self, data: bytes) -> None:
        other = self.other
        assert other is not None and other.transport is not None
        other.transport.write(data)

    def readConnectionLost(self) -> None:
        self.half.read_closed = True
        other = self.other
        if other is None or other.closed or other.transport is None:
            return
        if _shutdown_write(other.transport):
            other.half.write_closed = True
            other._close_if_done()
        else:
            other.transport.loseConnection()
        self._close_if_done()

    def writeConnectionLost(self) -> None:
        self.half.write_closed = True
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self.half.read_closed and self.half.write_closed and self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True
        other = self.other
        if other is not None and not other.closed and other.transport is not None:
            # What we had already passed on is still delivered: loseConnection
            # flushes the partner's write buffer first.
            other.transport.loseConnection()


class _OutgoingSide(_Side):
    """The connection to the target."""

    def connectionMade(self) -> None:
        self.relay.outgoing_connected(self)


@implementer(IHandshakeListener)
class RelayServerProtocol(_Side):
    """The accepted connection: opens the outgoing one, then relays."""

    factory: RelayFactory

    def connectionMade(self) -> None:
        self.relay = self
        self._pending: list[bytes] = []
        assert self.transport is not None
        if not ISSLTransport.providedBy(self.transport):
            self._connect_out()
        # With TLS, the handshake must go on: connect once it is complete.

    def handshakeCompleted(self) -> None:
        # For TLS, describe the connection once its details are negotiated.
        self._connect_out()

    def _connect_out(self) -> None:
        assert self.transport is not None
        # Read nothing more until the target is connected (bytes already in
        # flight are kept in _pending).
        self.transport.pauseProducing()  # type: ignore[attr-defined]
        factory = self.factory
        header = header_for_connection(self.transport, version=factory.version)
        header, crc = factory.rules.apply(header, get_proxy_header(self.transport))
        if factory.tlvs:
            header = header._replace(tlvs=(*header.tlvs, *factory.tlvs))
        endpoint = ProxyProtocolClientEndpoint(factory.target, header, crc32c=crc)
        outgoing = _OutgoingSide()
        outgoing.relay = self
        d = endpoint.connect(Factory.forProtocol(lambda: outgoing))
        d.addErrback(self._connect_failed)

    def _connect_failed(self, failure: Failure) -> None:
        _log.warn(
            "Relay could not connect to the target for {peer}: {error}",
            peer=self.transport.getPeer() if self.transport else None,
            error=failure.getErrorMessage(),
        )
        if self.transport is not None:
            self.transport.loseConnection()

    def outgoing_connected(self, outgoing: _OutgoingSide) -> None:
        assert self.transport is not None and outgoing.transport is not None
        if self.closed:
            outgoing.transport.loseConnection()
            return
        self.other = outgoing
        outgoing.other = self
        # Flow control both ways: a full write buffer pauses the other reader.
        outgoing.transport.registerProducer(self.transport, True)  # type: ignore[attr-defined]
        self.transport.registerProducer(outgoing.transport, True)  # type: ignore[attr-defined]
        pending, self._pending = self._pending, []
        for chunk in pending:
            outgoing.transport.write(chunk)
        if self.half.read_closed:
            self.readConnectionLost()
        else:
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        if self.other is None:
            self._pending.append(data)
            return
        super().dataReceived(data)

    def readConnectionLost(self) -> None:
        if self.other is None:
            self.half.read_closed = True
            return
        super().readConnectionLost()


class RelayFactory(Factory):
    """
    Relays each connection to C{target}, with a PROXY header of C{version}
    carrying the client's addresses, its TLS details, the TLVs of a received
    header as C{rules} (L{TLVRules}) have them, and C{tlvs} added.
    """

    protocol = RelayServerProtocol  # type: ignore[assignment]

    def __init__(
        self,
        target: IStreamClientEndpoint,
        *,
        version: int = 2,
        tlvs: Sequence[TLV] = (),
        crc32c: bool = False,
        rules: TLVRules | None = None,
    ) -> None:
        if version not in (1, 2):
            raise ValueError("version must be 1 or 2")
        if rules is None:
            rules = TLVRules(crc32c=crc32c)
        elif crc32c:
            rules = TLVRules(rules.keep, rules.drop, rules.replace, crc32c=True)
        if version == 1 and (tlvs or rules != TLVRules()):
            raise ValueError("TLVs and CRC32C need a v2 header")
        self.target = target
        self.version = version
        self.tlvs = tuple(tlvs)
        self.crc32c = rules.crc32c
        self.rules = rules


class Options(usage.Options):
    """Options of C{twist proxy-relay}."""

    synopsis = (
        "--listen ENDPOINT --connect ENDPOINT [--header-version 1|2] [--tlv TYPE=VALUE]..."
        " [--keep-tlv TYPE]... [--drop-tlv TYPE]... [--set-tlv TYPE=VALUE]... [--crc32c]"
    )
    longdesc = (
        "Forward every accepted connection to --connect, starting it with a PROXY"
        " header describing the client. Listen on proxy:... to pass on a header"
        " received from a load balancer, with its TLVs (--keep-tlv/--drop-tlv filter"
        " them, --set-tlv replaces them; a CRC32C is computed afresh). --tlv adds a"
        " TLV (v2): TYPE is a number (0xE1) or a name (alpn, authority, unique_id,"
        " netns, noop; for --keep/--drop/--set also ssl, crc32c, aws, azure, gcp),"
        " VALUE text or hex:..."
    )
    optParameters = [
        ["listen", "l", None, "Endpoint to listen on, e.g. tcp:9000 or proxy:tcp:9000."],
        ["connect", "c", None, "Client endpoint of the target, e.g. tcp:host=10.0.0.5:port=80."],
    ]
    optFlags = [["crc32c", None, "Add a CRC32C TLV (v2)."]]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["tlv"] = []
        self["header-version"] = "2"
        self["keep-tlv"] = []
        self["drop-tlv"] = []
        self["set-tlv"] = []

    def opt_header_version(self, value: str) -> None:
        """PROXY header version, 1 or 2 (default 2)."""
        self["header-version"] = value

    def opt_version(self) -> None:
        """Print pptwisted's version (and Twisted's) and exit."""
        print_version_and_exit()

    def opt_tlv(self, value: str) -> None:
        """Add a TLV to the header: TYPE=VALUE (repeatable)."""
        try:
            self["tlv"].append(parse_tlv(value))
        except ValueError as e:
            raise usage.UsageError(str(e)) from None

    def opt_keep_tlv(self, value: str) -> None:
        """Pass on only received TLVs of this TYPE (repeatable)."""
        self["keep-tlv"].append(self._type(value))

    def opt_drop_tlv(self, value: str) -> None:
        """Do not pass on received TLVs of this TYPE (repeatable)."""
        self["drop-tlv"].append(self._type(value))

    def opt_set_tlv(self, value: str) -> None:
        """Send TYPE=VALUE instead of any received TLV of TYPE (repeatable)."""
        try:
            self["set-tlv"].append(parse_tlv(value, TLV_TYPE_NAMES))
        except ValueError as e:
            raise usage.UsageError(f"--set-tlv {e}") from None

    @staticmethod
    def _type(value: str) -> int:
        try:
            return parse_tlv_type(value)
        except ValueError as e:
            raise usage.UsageError(str(e)) from None

    def postOptions(self) -> None:
        if not self["listen"] or not self["connect"]:
            raise usage.UsageError("both --listen and --connect are required")
        if self["header-version"] not in ("1", "2"):
            raise usage.UsageError("--header-version must be 1 or 2")
        self["header-version"] = int(self["header-version"])
        tlv_options = ("tlv", "keep-tlv", "drop-tlv", "set-tlv")
        if self["header-version"] == 1 and (any(self[o] for o in tlv_options) or self["crc32c"]):
            raise usage.UsageError(
                "--tlv, --keep-tlv, --drop-tlv, --set-tlv and --crc32c need --header-version 2"
            )
        if self["keep-tlv"] and self["drop-tlv"]:
            raise usage.UsageError("give --keep-tlv or --drop-tlv, not both")
        try:
            self["rules"] = TLVRules(
                keep=frozenset(self["keep-tlv"]) if self["keep-tlv"] else None,
                drop=frozenset(self["drop-tlv"]),
                replace=tuple(self["set-tlv"]),
                crc32c=self["crc32c"],
            )
        except ValueError as e:
            raise usage.UsageError(str(e)) from None


def makeService(options: Options) -> IService:
    """The relay: listen on C{--listen}, forward to C{--connect}."""
    from twisted.internet import reactor

    target: IStreamClientEndpoint = endpoint_or_exit(
        "proxy-relay",
        "--connect",
        options["connect"],
        lambda: clientFromString(reactor, options["connect"]),  # type: ignore[no-untyped-call]
    )
    factory = RelayFactory(
        target, version=options["header-version"], tlvs=options["tlv"], rules=options["rules"]
    )
    service: IService = endpoint_or_exit(
        "proxy-relay",
        "--listen",
        options["listen"],
        lambda: strports.service(options["listen"], factory),
    )
    return service

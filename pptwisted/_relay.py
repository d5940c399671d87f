"""
C{twist proxy-relay}: a TCP relay that forwards each accepted connection to
a target, starting the outgoing connection with a PROXY header that
describes the original client (spec section 2: the sender writes the header
first; a relay listening on C{proxy:} passes on the header it received).

Both directions are flow-controlled (each transport is the producer of the
other's writes, so a slow reader pauses the fast writer instead of growing a
buffer) and half-close aware (an end-of-file from one side becomes a
write-shutdown towards the other).
"""

from __future__ import annotations

from collections.abc import Sequence

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

from ._cli import endpoint_or_exit, parse_tlv
from ._client import ProxyProtocolClientEndpoint, header_for_connection
from ._tlv import TLV

__all__ = ["Options", "RelayFactory", "makeService"]

_log = Logger(namespace="pptwisted.relay")


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
        header = header_for_connection(
            self.transport, version=self.factory.version, tlvs=self.factory.tlvs
        )
        endpoint = ProxyProtocolClientEndpoint(
            self.factory.target, header, crc32c=self.factory.crc32c
        )
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
    carrying the client's addresses, its TLS details and C{tlvs}.
    """

    protocol = RelayServerProtocol  # type: ignore[assignment]

    def __init__(
        self,
        target: IStreamClientEndpoint,
        *,
        version: int = 2,
        tlvs: Sequence[TLV] = (),
        crc32c: bool = False,
    ) -> None:
        if version not in (1, 2):
            raise ValueError("version must be 1 or 2")
        if version == 1 and (tlvs or crc32c):
            raise ValueError("TLVs and CRC32C need a v2 header")
        self.target = target
        self.version = version
        self.tlvs = tuple(tlvs)
        self.crc32c = crc32c


class Options(usage.Options):
    """Options of C{twist proxy-relay}."""

    synopsis = "--listen ENDPOINT --connect ENDPOINT [--version 1|2] [--tlv TYPE=VALUE]..."
    longdesc = (
        "Forward every accepted connection to --connect, starting it with a PROXY"
        " header describing the client. Listen on proxy:... to pass on a header"
        " received from a load balancer. --tlv adds a TLV (v2): TYPE is a number"
        " (0xE1) or alpn/authority/unique_id/netns/noop, VALUE text or hex:..."
    )
    optParameters = [
        ["listen", "l", None, "Endpoint to listen on, e.g. tcp:9000 or proxy:tcp:9000."],
        ["connect", "c", None, "Client endpoint of the target, e.g. tcp:host=10.0.0.5:port=80."],
    ]
    optFlags = [["crc32c", None, "Add a CRC32C TLV (v2)."]]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["tlv"] = []
        self["version"] = "2"

    def opt_version(self, value: str) -> None:  # type: ignore[override]
        """PROXY header version, 1 or 2 (default 2)."""
        self["version"] = value

    opt_v = opt_version

    def opt_tlv(self, value: str) -> None:
        """Add a TLV to the header: TYPE=VALUE (repeatable)."""
        try:
            self["tlv"].append(parse_tlv(value))
        except ValueError as e:
            raise usage.UsageError(str(e)) from None

    def postOptions(self) -> None:
        if not self["listen"] or not self["connect"]:
            raise usage.UsageError("both --listen and --connect are required")
        if self["version"] not in ("1", "2"):
            raise usage.UsageError("--version must be 1 or 2")
        self["version"] = int(self["version"])
        if self["version"] == 1 and (self["tlv"] or self["crc32c"]):
            raise usage.UsageError("--tlv and --crc32c need --version 2")


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
        target, version=options["version"], tlvs=options["tlv"], crc32c=options["crc32c"]
    )
    service: IService = endpoint_or_exit(
        "proxy-relay",
        "--listen",
        options["listen"],
        lambda: strports.service(options["listen"], factory),
    )
    return service

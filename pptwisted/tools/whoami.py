"""
C{twist proxy-whoami}: a server that answers every connection with what it
learnt from the PROXY header, to debug a load balancer's setup.

HTTP clients get an HTTP response: text, or JSON when they ask with
C{Accept: application/json} or C{?format=json}. Anything else gets the text
report, once it has sent a line or stayed silent for a moment.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twisted.application import internet, strports
from twisted.application.service import IService, MultiService
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IDelayedCall, IProtocolNegotiationFactory, IReactorTime
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python import usage
from zope.interface import implementer

from ..datagram import ProxyProtocolDatagramWrapper
from ._cli import endpoint_or_exit, print_version_and_exit
from ._report import describe_address, describe_connection, describe_header, render_text

__all__ = ["Options", "WhoamiDatagram", "WhoamiFactory", "WhoamiProtocol", "makeService"]

DEFAULT_LISTEN = "proxy:tcp:8080"
#: Seconds a non-HTTP client may stay silent before it gets the text report.
SILENCE = 0.5
#: Most bytes of an HTTP request head read before answering anyway.
MAX_REQUEST_HEAD = 16384

_REQUEST_LINE = re.compile(rb"[A-Z]{1,16} (\S{1,8192}) HTTP/\d\.\d\r?\n")
_METHOD_PREFIX = re.compile(rb"[A-Z]{0,16}( \S{0,8192}( H(T(T(P(/(\d(\.\d?)?)?)?)?)?)?)?)?\Z")


class WhoamiProtocol(Protocol):
    """Answers once, then closes."""

    factory: WhoamiFactory
    _timer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self._received = b""
        self._answered = False
        self._timer = self.factory.clock.callLater(SILENCE, self._answer_text)

    def dataReceived(self, data: bytes) -> None:
        if self._answered:
            return
        self._received += data
        head = self._received
        line = _REQUEST_LINE.match(head)
        if line is not None:
            end = head.find(b"\r\n\r\n")
            if end < 0:
                end = head.find(b"\n\n")
            if end >= 0 or len(head) > MAX_REQUEST_HEAD:
                self._answer_http(head, line.group(1))
            return
        first_line = head.split(b"\n", 1)[0]
        if b"\n" in head or _METHOD_PREFIX.match(first_line) is None:
            self._answer_text()

    def connectionLost(self, reason: object = None) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _report(self) -> dict[str, Any]:
        assert self.transport is not None
        return describe_connection(self.transport)

    def _finish(self, data: bytes) -> None:
        self._answered = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        assert self.transport is not None
        self.transport.write(data)
        self.transport.loseConnection()

    def _answer_text(self) -> None:
        # Called by the silence timer or on a line: _finish cancels the timer.
        if not self._answered:
            self._finish(render_text(self._report()).encode("utf-8"))

    def _answer_http(self, head: bytes, target: bytes) -> None:
        headers = head.split(b"\r\n\r\n", 1)[0].lower()
        accept = re.search(rb"^accept:[^\n]*application/json", headers, re.MULTILINE)
        query = parse_qs(urlsplit(target.decode("latin-1")).query)
        wants_json = accept is not None or query.get("format") == ["json"]
        report = self._report()
        if wants_json:
            body = json.dumps(report, indent=2).encode("utf-8") + b"\n"
            kind = b"application/json"
        else:
            body = render_text(report).encode("utf-8")
            kind = b"text/plain; charset=utf-8"
        is_head = head.startswith(b"HEAD ")
        self._finish(
            b"HTTP/1.1 200 OK\r\nContent-Type: "
            + kind
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
            + (b"" if is_head else body)
        )


#: ALPN protocols offered over TLS (C{proxy:ssl:}, C{proxy:tls:}): HTTP/1.1
#: first, then IANA's TCP protocols (their clients get the text report).
#: Twisted's ALPN callback answers a client whose list has none of these
#: with an empty choice, which OpenSSL 3 turns into an internal-error alert;
#: without any list at all, newer Twisted does the same to every client that
#: offers ALPN (curl, browsers).
ALPN_PROTOCOLS = (
    b"http/1.1",
    b"http/1.0",
    b"imap",
    b"pop3",
    b"managesieve",
    b"ftp",
    b"irc",
    b"xmpp-client",
    b"xmpp-server",
    b"smb",
    b"sunrpc",
    b"postgresql",
    b"mqtt",
    b"dot",
    b"tds/8.0",
)


@implementer(IProtocolNegotiationFactory)
class WhoamiFactory(Factory):
    """Builds L{WhoamiProtocol}s; C{clock} times the silence allowance."""

    protocol = WhoamiProtocol  # type: ignore[assignment]

    def __init__(self, clock: IReactorTime | None = None) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.clock: IReactorTime = clock

    def acceptableProtocols(self) -> list[bytes]:
        """The ALPN protocols to choose from, for TLS listeners."""
        return list(ALPN_PROTOCOLS)


class Options(usage.Options):
    """Options of C{twist proxy-whoami}."""

    synopsis = "[--listen ENDPOINT]"
    longdesc = (
        "Answer every connection with what its PROXY header said: version, command,"
        " addresses, every TLV decoded, and the real socket addresses. HTTP clients"
        " get text, or JSON with 'Accept: application/json' or '?format=json'."
    )
    optParameters = [
        ["listen", "l", DEFAULT_LISTEN, "Endpoint to listen on (default: " + DEFAULT_LISTEN + ")."],
        ["metrics", None, None, "Also serve Prometheus metrics at /metrics on this endpoint."],
        ["udp", None, None, "Also answer UDP datagrams (PROXY v2 DGRAM) on [HOST:]PORT."],
        ["udp-header-on", None, "every", "UDP framing: 'every' datagram or the 'first' of a flow."],
    ]

    def opt_version(self) -> None:
        """Print pptwisted's version (and Twisted's) and exit."""
        print_version_and_exit()

    def postOptions(self) -> None:
        if self["udp-header-on"] not in ("every", "first"):
            raise usage.UsageError("--udp-header-on must be 'every' or 'first'")
        if self["udp"] is not None:
            host, _, port = self["udp"].rpartition(":")
            if not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
                raise usage.UsageError(f"--udp wants [HOST:]PORT, not {self['udp']!r}")
            self["udp-interface"] = host.strip("[]")
            self["udp-port"] = int(port)


def makeService(options: Options) -> IService:
    """
    The whoami server on C{options["listen"]}, its answers to UDP datagrams
    on C{--udp}, and its metrics on C{--metrics}.
    """
    service: IService = endpoint_or_exit(
        "proxy-whoami",
        "--listen",
        options["listen"],
        lambda: strports.service(options["listen"], WhoamiFactory()),
    )
    if options["udp"] is None and not options["metrics"]:
        return service
    both = MultiService()  # type: ignore[no-untyped-call]
    service.setServiceParent(both)  # type: ignore[no-untyped-call]
    if options["udp"] is not None:
        wrapper = ProxyProtocolDatagramWrapper(WhoamiDatagram(), header_on=options["udp-header-on"])
        udp = internet.UDPServer(  # type: ignore[no-untyped-call]
            options["udp-port"], wrapper, interface=options["udp-interface"], maxPacketSize=65535
        )
        udp.setServiceParent(both)  # type: ignore[no-untyped-call]
    if options["metrics"]:
        metrics = endpoint_or_exit(
            "proxy-whoami",
            "--metrics",
            options["metrics"],
            lambda: _metrics_service(options["metrics"]),
        )
        metrics.setServiceParent(both)  # type: ignore[no-untyped-call]
    return both


def _metrics_service(endpoint: str) -> IService:
    """A web server of the metrics of every C{proxy:} listener, on C{endpoint}."""
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from ..metrics import metrics_resource

    root = Resource()  # type: ignore[no-untyped-call]
    root.putChild(b"metrics", metrics_resource())
    site = Site(root)  # type: ignore[no-untyped-call]
    return strports.service(endpoint, site)


class WhoamiDatagram(DatagramProtocol):
    """Answers each datagram with the text report of its PROXY header."""

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        transport: Any = self.transport
        host = addr[0]
        peer = IPv6Address("UDP", host, addr[1]) if ":" in host else IPv4Address("UDP", *addr)
        header = getattr(transport, "proxy_header", None)
        real_peer = getattr(transport, "getRealPeer", lambda: peer)()
        report = {
            "peer": describe_address(peer),
            "host": describe_address(transport.getHost()),
            "real_peer": describe_address(real_peer),
            "real_host": describe_address(transport.getHost()),
            "proxy": describe_header(header) if header is not None else None,
        }
        transport.write(render_text(report).encode("utf-8"), addr)

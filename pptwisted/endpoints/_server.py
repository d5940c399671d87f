"""
Server endpoints behind the PROXY protocol and the C{proxy:} prefix of
C{serverFromString}.

The PROXY header is the first thing on the wire, before any TLS handshake
(spec section 2: "the PROXY protocol header ... is sent before any data";
HAProxy's C{send-proxy} with C{ssl}, AWS NLB with TLS targets). When the
wrapped endpoint is Twisted's C{ssl:} or C{tls:}, the TLS layer is moved
inside the PROXY layer so that the order on the wire is right.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from twisted.internet import endpoints
from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import (
    SSL4ServerEndpoint,
    TCP4ServerEndpoint,
    serverFromString,
)
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorCore,
    IReactorTime,
    IStreamServerEndpoint,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import IPlugin
from zope.interface import implementer

import twisted

from .._policy import DEFAULT_TIMEOUT, ProxyProtocolPolicy
from ..codec._tlv import DEFAULT_MAX_TLVS
from ..codec._v2 import DEFAULT_MAX_V2_LENGTH
from ..stream._constructed import construct_connections
from ..stream._stats import ProxyProtocolStats
from ..stream._tls import tls_protocol_class
from ..stream._wrapper import REJECTION_LOG_BURST, REJECTION_LOG_INTERVAL, ProxyProtocolWrapper
from ._registry import track_listener
from ._strings import is_unknown_type, unknown_option, unknown_type_message, unparse_endpoint

__all__ = [
    "SERVER_OPTIONS",
    "ProxyProtocolServerEndpoint",
    "ProxyServerParser",
    "policy_from_options",
]

FactoryWrapper = Callable[[IProtocolFactory], IProtocolFactory]

#: The policy options of the C{proxy:} prefix, with what they take. They all
#: start with "proxy" so that they never collide with an option of the
#: wrapped endpoint.
SERVER_OPTIONS: Mapping[str, str] = {
    "proxyHeader": "required (default) or optional",
    "proxyTrusted": "comma-separated IPv4/IPv6 addresses or CIDR networks (escape ':' as '\\:')",
    "proxyUntrusted": "refuse (default) or direct",
    "proxyVersions": "1, 2 or 1,2 (default)",
    "proxyTimeout": f"seconds to wait for the header (default {DEFAULT_TIMEOUT:g})",
    "proxyMaxV2Length": f"cap on the v2 length field, bytes (default {DEFAULT_MAX_V2_LENGTH})",
    "proxyMaxTLVs": f"cap on the TLV records of a v2 header (default {DEFAULT_MAX_TLVS})",
    "proxyRequireCrc32c": "yes or no (default no): reject v2 headers without a CRC32C TLV",
    "proxySecure": "yes or no (default no): a header's SSL TLV (PP2_CLIENT_SSL) makes"
    " request.isSecure() true; needs proxyTrusted, not on ssl:/tls:",
    "proxyALPN": "yes or no (default no): a header's ALPN TLV (h2 or http/1.1) is the"
    " transport's negotiatedProtocol (HTTP/2 in twisted.web); needs proxyTrusted,"
    " not on ssl:/tls:",
    "proxyName": "the listener's name in metrics (default: the listening address)",
    "proxyMaxPending": "cap on connections waiting for their header, per process"
    " (default: half the file-descriptor soft limit)",
}


def _one_of(*choices: str) -> Callable[[str], str]:
    """A reader of an option whose value is one of C{choices}."""
    quoted = [repr(c) for c in choices]
    message = f"must be {', '.join(quoted[:-1])} or {quoted[-1]}"

    def read(value: str) -> str:
        if value not in choices:
            raise ValueError(message)
        return value

    return read


_YES_NO = _one_of("yes", "no")
_REQUIRED_OPTIONAL = _one_of("required", "optional")


def _yes_no(value: str) -> bool:
    """A C{yes}/C{no} option's value; L{ValueError} for anything else."""
    return _YES_NO(value) == "yes"


def _versions(value: str) -> frozenset[int]:
    versions = {v.strip() for v in value.split(",")}
    if not versions or not versions <= {"1", "2"}:
        raise ValueError("must be 1, 2 or 1,2")
    return frozenset(int(v) for v in versions)


#: How each option of L{SERVER_OPTIONS} is read: the policy field it sets,
#: and the reader of its text (a L{ValueError} from it names the option).
_READERS: Mapping[str, tuple[str, Callable[[str], object]]] = {
    "proxyHeader": ("require_header", lambda v: _REQUIRED_OPTIONAL(v) == "required"),
    "proxyTrusted": ("trusted", lambda v: tuple(t for t in v.split(",") if t.strip())),
    "proxyUntrusted": ("untrusted", _one_of("refuse", "direct")),
    "proxyVersions": ("versions", _versions),
    "proxyTimeout": ("timeout", float),
    "proxyMaxV2Length": ("max_v2_length", int),
    "proxyMaxTLVs": ("max_tlvs", int),
    "proxyRequireCrc32c": ("require_crc32c", _yes_no),
    "proxySecure": ("secure_from_header", _yes_no),
    "proxyALPN": ("alpn_from_header", _yes_no),
    "proxyName": ("name", str),
    "proxyMaxPending": ("max_pending", int),
}


def policy_from_options(options: Mapping[str, str]) -> ProxyProtocolPolicy:
    """
    Build a L{ProxyProtocolPolicy} from C{proxy:} string options; raise
    L{ValueError} naming a misspelt or invalid option and the valid ones.
    """
    kwargs: dict[str, Any] = {}
    for name, value in options.items():
        if name not in SERVER_OPTIONS:
            raise ValueError(unknown_option("proxy: option", name, SERVER_OPTIONS))
        field, read = _READERS[name]
        try:
            kwargs[field] = read(value)
        except ValueError as e:
            raise ValueError(
                f"invalid value {value!r} for proxy: option {name!r} ({SERVER_OPTIONS[name]}): {e}"
            ) from None
    try:
        return ProxyProtocolPolicy(**kwargs)
    except ValueError as e:
        raise ValueError(f"invalid proxy: options: {e}") from None


#: Whether this Twisted has the tls: server endpoint (26.4 and later).
_HAS_TLS_ENDPOINT = hasattr(endpoints, "wrapServerTLS")
#: Twisted's endpoints whose port (first argument or C{port=}) is a number.
_NUMERIC_PORT = {"tcp": 0, "tcp6": 0, "ssl": 0, "tls": None}


def check_inner_endpoint(kind: str, args: Sequence[object], kwargs: Mapping[str, object]) -> None:
    """
    Check what we can of the endpoint inside C{proxy:} before Twisted parses
    it, so that a mistake gets one line naming it instead of Twisted's bare
    C{int()} error or a missing module's traceback.
    """
    kind = kind.lower()
    if kind in ("ssl", "tls") and importlib.util.find_spec("OpenSSL") is None:
        raise ValueError(
            f"proxy:{kind}: needs pyOpenSSL, which is not installed:"
            " pip install pyOpenSSL (or apt-get install python3-openssl)"
        )
    if kind == "tls" and not _HAS_TLS_ENDPOINT:
        raise ValueError(
            "proxy:tls: needs Twisted 26.4 or later (its tls: server endpoint);"
            f" this is Twisted {twisted.__version__}: use proxy:ssl:PORT:privateKey=...:certKey=..."
        )
    if kind in _NUMERIC_PORT:
        index = _NUMERIC_PORT[kind]
        port = args[index] if index is not None and len(args) > index else kwargs.get("port")
        if port is not None and not (str(port).isdigit() and int(str(port)) <= 65535):
            raise ValueError(
                f"invalid port {str(port)!r} for the {kind}: endpoint inside proxy:"
                " (a number from 0 to 65535, e.g. proxy:tcp:8080)"
            )


def _split_tls(
    endpoint: IStreamServerEndpoint,
) -> tuple[IStreamServerEndpoint, FactoryWrapper | None]:
    """
    If C{endpoint} applies TLS itself (Twisted's C{ssl:} and C{tls:}), return
    the plain endpoint under it and a function adding the same TLS layer to a
    factory; else C{(endpoint, None)}.
    """
    if isinstance(endpoint, SSL4ServerEndpoint):
        from twisted.protocols.tls import TLSMemoryBIOFactory

        ssl = endpoint
        plain = TCP4ServerEndpoint(  # type: ignore[no-untyped-call]
            ssl._reactor, ssl._port, ssl._backlog, ssl._interface
        )
        context = ssl._sslContextFactory

        def wrap_ssl(factory: IProtocolFactory) -> IProtocolFactory:
            tls_factory = TLSMemoryBIOFactory(context, False, factory)
            tls_factory.protocol = tls_protocol_class()
            return tls_factory

        return plain, wrap_ssl
    try:
        from twisted.protocols._sni import TLSServerEndpoint
    except ImportError:  # pragma: no cover - pyOpenSSL missing
        return endpoint, None
    if isinstance(endpoint, TLSServerEndpoint):
        from twisted.protocols.tls import TLSMemoryBIOFactory

        tls = endpoint

        def wrap_tls(factory: IProtocolFactory) -> IProtocolFactory:
            tls_factory = TLSMemoryBIOFactory(
                tls.connectionCreator, False, factory, clock=tls.clock
            )
            tls_factory.protocol = tls_protocol_class()
            return tls_factory

        return tls.endpoint, wrap_tls
    return endpoint, None


@implementer(IStreamServerEndpoint)
class ProxyProtocolServerEndpoint:
    """
    A server endpoint whose connections start with a PROXY header: it listens
    on C{endpoint} and wraps the factory in a L{ProxyProtocolWrapper}.

    When C{endpoint} is an C{ssl:}/C{tls:} endpoint, the PROXY header is read
    before the TLS handshake.

    When the port it gets is Twisted's TCP or UNIX port (tcp, tcp6, unix,
    systemd, and the TCP under ssl/tls), its connections are created as
    transports of ours, handed to the application once the header is in
    (L{pptwisted.stream._constructed}); elsewhere the wrapper stays in the path.

    @ivar stats: counters shared by every port this endpoint listens on.
    @ivar log_burst: rejections of one rule logged in full per C{log_interval}
        seconds, per port (L{ProxyProtocolWrapper.rejection_log}).
    """

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        policy: ProxyProtocolPolicy | None = None,
        *,
        clock: IReactorTime | None = None,
        log_burst: int = REJECTION_LOG_BURST,
        log_interval: float = REJECTION_LOG_INTERVAL,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy if policy is not None else ProxyProtocolPolicy()
        if _split_tls(endpoint)[1] is not None:
            if self.policy.secure_from_header:
                raise ValueError(
                    "proxySecure=yes is for a proxy that terminates TLS; ssl:/tls: here are"
                    " secure already: drop proxySecure or use tcp:"
                )
            if self.policy.alpn_from_header:
                raise ValueError(
                    "proxyALPN=yes is for a proxy that terminates TLS; ssl:/tls: here"
                    " negotiate ALPN themselves: drop proxyALPN or use tcp:"
                )
        self.clock = clock
        self.stats = ProxyProtocolStats()
        self.log_burst = log_burst
        self.log_interval = log_interval

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        if self.policy.alpn_from_header:
            problem = _http2_missing(protocolFactory)
            if problem is not None:
                return fail(ValueError(problem))
        plain, add_tls = _split_tls(self.endpoint)
        factory = add_tls(protocolFactory) if add_tls is not None else protocolFactory
        wrapper = ProxyProtocolWrapper(
            factory,
            self.policy,
            clock=self.clock,
            stats=self.stats,
            log_burst=self.log_burst,
            log_interval=self.log_interval,
        )
        d = plain.listen(wrapper)
        d.addCallback(_constructing)
        # Metrics report the port under the policy's name, or its address.
        d.addCallback(track_listener, wrapper)
        return d


def _http2_missing(factory: IProtocolFactory) -> str | None:
    """
    Why a twisted.web C{factory} cannot serve the clients that negotiated
    HTTP/2 (twisted.web would fail each of their connections), or C{None}.
    """
    http = sys.modules.get("twisted.web.http")
    if http is None or not isinstance(factory, http.HTTPFactory) or http.H2_ENABLED:
        return None
    return (
        "proxyALPN=yes: this twisted.web cannot speak HTTP/2 to clients that negotiated h2"
        " (h2 and priority are missing): pip install 'pptwisted[http2]', or drop proxyALPN"
    )


def _constructing(port: IListeningPort) -> IListeningPort:
    """Have C{port} create its connections as our transports, if it can."""
    construct_connections(port)
    return port


def _inner_options(kind: str) -> list[str]:
    """Best-effort list of the options the wrapped endpoint type takes."""
    from twisted.internet import endpoints

    parser: Any = getattr(endpoints, "_serverParsers", {}).get(kind)
    if parser is None:
        from twisted.plugin import getPlugins

        for plugin in getPlugins(IStreamServerEndpointStringParser):
            if plugin.prefix.lower() == kind.lower():
                parser = getattr(plugin, "_actualParseStreamServer", plugin.parseStreamServer)
                break
    if parser is None:
        return []
    try:
        parameters = inspect.signature(parser).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in ("self", "factory", "reactor")
    ]


@implementer(IPlugin, IStreamServerEndpointStringParser)
class ProxyServerParser:
    """
    The C{proxy:} prefix for C{serverFromString}: C{proxy:<any endpoint>}
    with the C{proxy*} policy options (L{SERVER_OPTIONS}) anywhere in it.
    """

    prefix = "proxy"

    def parseStreamServer(
        self, reactor: IReactorCore, *args: object, **kwargs: object
    ) -> ProxyProtocolServerEndpoint:
        ours = {k: str(kwargs.pop(k)) for k in list(kwargs) if k.lower().startswith("proxy")}
        policy = policy_from_options(ours)
        if not args:
            raise ValueError(
                "proxy: needs an endpoint to wrap, e.g. proxy:tcp:8080 or proxy:unix:/run/app.sock"
            )
        kind = str(args[0])
        check_inner_endpoint(kind, args[1:], kwargs)
        try:
            inner: IStreamServerEndpoint = serverFromString(  # type: ignore[no-untyped-call]
                reactor, unparse_endpoint(args, kwargs)
            )
        except ValueError as e:
            if is_unknown_type(e):
                raise ValueError(unknown_type_message("server", kind)) from None
            raise
        except TypeError as e:
            valid = ", ".join(_inner_options(kind)) or "see its documentation"
            raise ValueError(
                f"invalid option for the {kind}: endpoint inside proxy: ({e});"
                f" {kind} options: {valid}; proxy: options: {', '.join(SERVER_OPTIONS)}"
            ) from None
        return ProxyProtocolServerEndpoint(inner, policy, clock=cast(IReactorTime, reactor))

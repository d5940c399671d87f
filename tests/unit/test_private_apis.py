"""
Guards for the private Twisted APIs pptwisted still uses, one test per entry
of L{pptwisted.endpoints._twisted_private.PRIVATE_APIS}: when Twisted changes one, the
failure names it, the module that uses it and why. Also the public APIs that
replaced two private ones. (The guard that needs a real connection:
tests/net/test_private_apis_socket.py.)
"""

from __future__ import annotations

import importlib
import inspect
import re

from twisted.internet import endpoints
from twisted.internet.endpoints import (
    HostnameEndpoint,
    SSL4ClientEndpoint,
    SSL4ServerEndpoint,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import URI
from twisted.web.error import SchemeNotSupported

import twisted
from pptwisted import ProxyHeader, ProxyProtocolClientEndpoint
from pptwisted.endpoints._twisted_private import PRIVATE_APIS, PrivateAPI, split_client_tls
from pptwisted.http import ProxyEndpointFactory

from ..certs import make_self_signed

TWISTED = f"Twisted {twisted.__version__}"


def _entry(prefix: str) -> PrivateAPI:
    (entry,) = [e for e in PRIVATE_APIS if e.name.startswith(prefix)]
    return entry


def _attributes(entry: PrivateAPI) -> list[str]:
    """The attributes an entry lists in parentheses: C{X (._a, .b)} gives C{_a}, C{b}."""
    return re.findall(r"\.(\w+)", entry.name.partition("(")[2])


def _changed(entry: PrivateAPI, detail: str) -> str:
    return (
        f"{TWISTED} changed a private API pptwisted uses: {entry.name}, in {entry.used_by}"
        f" ({entry.why}): {detail}"
    )


def _client_tls_options() -> object:
    from twisted.internet.ssl import optionsForClientTLS

    return optionsForClientTLS("example.com")


def _server_tls_options() -> object:
    from twisted.internet.ssl import CertificateOptions

    from ..certs import key_and_certificate

    key, certificate = key_and_certificate(*make_self_signed("example.com"))
    return CertificateOptions(privateKey=key, certificate=certificate)


class ListTests(SynchronousTestCase):
    def test_each_entry_still_used_where_it_says(self) -> None:
        """An entry whose use is gone is stale: remove it from the list."""
        for entry in PRIVATE_APIS:
            source = inspect.getsource(importlib.import_module(entry.used_by))
            self.assertIn(entry.marker, source, f"stale entry: {entry.name} ({entry.used_by})")

    def test_replaced_ones_are_gone(self) -> None:
        """The two private APIs with public equivalents are no longer used."""
        for module, needle in (
            ("pptwisted.http", "_StandardEndpointFactory("),
            ("pptwisted.endpoints._connection_header", "._name"),
        ):
            self.assertNotIn(needle, inspect.getsource(importlib.import_module(module)))


class ClientEndpointGuards(SynchronousTestCase):
    def test_wrapper_endpoint(self) -> None:
        """wrapClientTLS's result unwraps to the endpoint it wraps."""
        entry = _entry("twisted.internet.endpoints._WrapperEndpoint")
        plain = TCP4ClientEndpoint(MemoryReactorClock(), "127.0.0.1", 1)
        wrapped = endpoints.wrapClientTLS(_client_tls_options(), plain)  # type: ignore[arg-type]
        split = split_client_tls(wrapped)
        self.assertIsNotNone(split, _changed(entry, "wrapClientTLS's type is not recognised"))
        assert split is not None
        self.assertIs(split[0], plain, _changed(entry, "._wrappedEndpoint"))
        self.assertTrue(callable(split[1]), _changed(entry, "._wrapperFactory"))

    def test_ssl_client_endpoint(self) -> None:
        """An ssl: client endpoint's arguments come back as a TCP endpoint."""
        entry = _entry("twisted.internet.endpoints.SSL4ClientEndpoint")
        clock = MemoryReactorClock()
        ssl = SSL4ClientEndpoint(  # type: ignore[no-untyped-call]
            clock, "192.0.2.1", 443, _client_tls_options(), 7, ("127.0.0.1", 0)
        )
        try:
            split = split_client_tls(ssl)
        except AttributeError as e:
            self.fail(_changed(entry, str(e)))
        assert split is not None
        plain, _ = split
        self.assertIsInstance(plain, TCP4ClientEndpoint)
        plain.connect(Factory.forProtocol(Protocol))
        host, port, _, timeout, bind = clock.tcpClients[0]
        self.assertEqual((host, port, timeout, bind), ("192.0.2.1", 443, 7, ("127.0.0.1", 0)))


class ServerEndpointGuards(SynchronousTestCase):
    def test_ssl_server_endpoint(self) -> None:
        entry = _entry("twisted.internet.endpoints.SSL4ServerEndpoint")
        clock = MemoryReactorClock()
        context = _server_tls_options()
        ssl = SSL4ServerEndpoint(clock, 8443, context, 17, "127.0.0.1")  # type: ignore[no-untyped-call]
        found = {
            name: getattr(ssl, name, KeyError)
            for name in entry.name.split("(")[1][:-1].replace(".", "").split(", ")
        }
        self.assertEqual(
            found,
            {
                "_reactor": clock,
                "_port": 8443,
                "_backlog": 17,
                "_interface": "127.0.0.1",
                "_sslContextFactory": context,
            },
            _changed(entry, "the attributes differ"),
        )

    def test_tls_server_endpoint(self) -> None:
        entry = _entry("twisted.protocols._sni.TLSServerEndpoint")
        if not hasattr(endpoints, "wrapServerTLS"):
            raise self.skipTest(f"{TWISTED} has no tls: server endpoint (26.4 and later)")
        try:
            from twisted.protocols._sni import TLSServerEndpoint
        except ImportError as e:
            self.fail(_changed(entry, str(e)))
        plain = TCP4ServerEndpoint(MemoryReactorClock(), 0)  # type: ignore[no-untyped-call]
        context = _server_tls_options()
        tls = endpoints.wrapServerTLS(context, plain)  # type: ignore[attr-defined]
        self.assertIsInstance(tls, TLSServerEndpoint, _changed(entry, "wrapServerTLS's type"))
        self.assertIs(tls.endpoint, plain, _changed(entry, ".endpoint"))
        self.assertIs(tls.connectionCreator, context, _changed(entry, ".connectionCreator"))
        self.assertTrue(hasattr(tls, "clock"), _changed(entry, ".clock"))

    def test_server_parsers(self) -> None:
        """The wrapped endpoint's options can still be listed for an error message."""
        from pptwisted.endpoints._server import _inner_options

        entry = _entry("twisted.internet.endpoints._serverParsers")
        parsers = getattr(endpoints, "_serverParsers", None)
        self.assertIsInstance(parsers, dict, _changed(entry, "_serverParsers"))
        self.assertIn("backlog", _inner_options("tcp"), _changed(entry, "tcp's options"))
        if hasattr(endpoints, "wrapServerTLS"):
            self.assertIn("port", _inner_options("tls"), _changed(entry, "tls's options"))

    def test_client_parsers(self) -> None:
        """Twisted's own endpoint types can still be listed for an error message."""
        from pptwisted.endpoints._strings import installed_prefixes

        entry = _entry("twisted.internet.endpoints._clientParsers")
        for name in ("_clientParsers", "_serverParsers"):
            self.assertIsInstance(getattr(endpoints, name, None), dict, _changed(entry, name))
        self.assertIn("tcp", installed_prefixes("client"), _changed(entry, "tcp"))
        self.assertIn("unix", installed_prefixes("server"), _changed(entry, "unix"))


class CompatGuards(SynchronousTestCase):
    def test_haproxy_info(self) -> None:
        entry = _entry("twisted.protocols.haproxy._info.ProxyInfo")
        try:
            from twisted.protocols.haproxy._info import ProxyInfo
            from twisted.protocols.haproxy._interfaces import IProxyInfo
        except ImportError as e:
            self.fail(_changed(entry, str(e)))
        info = ProxyInfo(b"PROXY UNKNOWN", None, None)
        self.assertTrue(IProxyInfo.providedBy(info), _changed(entry, "IProxyInfo"))
        self.assertEqual(
            (info.header, info.source, info.destination), (b"PROXY UNKNOWN", None, None)
        )


class TransportGuards(SynchronousTestCase):
    def test_port_transport_hook(self) -> None:
        """Ports name their connection class in C{transport}."""
        from twisted.internet import tcp, unix

        entry = _entry("twisted.internet.tcp.Port.transport")
        self.assertIs(getattr(tcp.Port, "transport", None), tcp.Server, _changed(entry, "tcp"))
        self.assertIs(getattr(unix.Port, "transport", None), unix.Server, _changed(entry, "unix"))


class PublicReplacementTests(SynchronousTestCase):
    """The public APIs that replaced C{_StandardEndpointFactory} and C{oid._name}."""

    def setUp(self) -> None:
        self.header = ProxyHeader.local()

    def endpoint(self, url: bytes) -> object:
        factory = ProxyEndpointFactory(MemoryReactorClock(), self.header, connectTimeout=3)
        return factory.endpointForURI(URI.fromBytes(url))

    def test_http(self) -> None:
        endpoint = self.endpoint(b"http://backend.internal:8080/")
        assert isinstance(endpoint, ProxyProtocolClientEndpoint)
        self.assertIsInstance(endpoint.endpoint, HostnameEndpoint)
        self.assertEqual(endpoint.header_bytes, self.header.to_bytes())

    def test_https(self) -> None:
        """https: TLS over the same TCP endpoint, below which the header goes."""
        endpoint = self.endpoint(b"https://backend.internal/")
        assert isinstance(endpoint, ProxyProtocolClientEndpoint)
        split = split_client_tls(endpoint.endpoint)
        assert split is not None
        self.assertIsInstance(split[0], HostnameEndpoint)

    def test_other_scheme(self) -> None:
        self.assertRaises(SchemeNotSupported, self.endpoint, b"ftp://backend.internal/")

    def test_sig_alg(self) -> None:
        """C{sig_alg} is OpenSSL's long name for the signature algorithm."""
        from OpenSSL import crypto

        from pptwisted.endpoints._connection_header import _certificate_details

        _, pem = make_self_signed("client.example")
        details = _certificate_details(crypto.load_certificate(crypto.FILETYPE_PEM, pem))
        self.assertEqual(details["sig_alg"], "ecdsa-with-SHA256")
        self.assertEqual(details["cn"], "client.example")
        self.assertEqual(details["key_alg"], "EC256")

"""
Tests for the C{proxy:} server endpoint prefix and
L{pptwisted.ProxyProtocolServerEndpoint}: option parsing, errors, and the
placement of TLS inside the PROXY layer. (C{proxy:systemd:} over a real
socket: tests/net/test_endpoint_systemd.py.)
"""

from __future__ import annotations

import inspect

from twisted.internet import endpoints, reactor
from twisted.internet.endpoints import (
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    UNIXServerEndpoint,
    serverFromString,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import ProxyProtocolPolicy, ProxyProtocolServerEndpoint, ProxyProtocolWrapper
from pptwisted.endpoints._server import SERVER_OPTIONS

from ..certs import write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT, skipIf

try:
    from twisted.plugins.twisted_core import tlsServerEndpointParser
except ImportError:  # Twisted < 26.4
    tlsServerEndpointParser = None


class OptionTests(SynchronousTestCase):
    """Every policy option can be set from the string, and is checked."""

    def parse(self, description: str) -> ProxyProtocolServerEndpoint:
        endpoint = serverFromString(MemoryReactorClock(), description)
        self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint)
        assert isinstance(endpoint, ProxyProtocolServerEndpoint)
        return endpoint

    def test_defaults(self) -> None:
        endpoint = self.parse("proxy:tcp:8080")
        self.assertEqual(endpoint.policy, ProxyProtocolPolicy())
        self.assertIsInstance(endpoint.endpoint, TCP4ServerEndpoint)

    def test_every_option(self) -> None:
        endpoint = self.parse(
            "proxy:tcp:8080:interface=127.0.0.1:proxyHeader=optional"
            r":proxyTrusted=10.0.0.0/8,192.168.1.1,fd00\:\:/8:proxyUntrusted=direct"
            ":proxyVersions=2:proxyTimeout=3.5:proxyMaxV2Length=512"
        )
        policy = endpoint.policy
        self.assertFalse(policy.require_header)
        self.assertEqual(
            [str(n) for n in policy.trusted], ["10.0.0.0/8", "192.168.1.1/32", "fd00::/8"]
        )
        self.assertEqual(policy.untrusted, "direct")
        self.assertEqual(policy.versions, frozenset({2}))
        self.assertEqual(policy.timeout, 3.5)
        self.assertEqual(policy.max_v2_length, 512)
        inner = endpoint.endpoint
        assert isinstance(inner, TCP4ServerEndpoint)
        self.assertEqual(inner._interface, "127.0.0.1")  # type: ignore[attr-defined]
        self.assertEqual(inner._port, 8080)  # type: ignore[attr-defined]

    def test_options_anywhere(self) -> None:
        """Policy options may come before the inner endpoint's options."""
        endpoint = self.parse("proxy:tcp:proxyVersions=1:8080:interface=127.0.0.1")
        self.assertEqual(endpoint.policy.versions, frozenset({1}))

    def test_tcp6_and_unix(self) -> None:
        tcp6 = self.parse(r"proxy:tcp6:8080:interface=\:\:1")
        assert isinstance(tcp6.endpoint, TCP6ServerEndpoint)
        self.assertEqual(tcp6.endpoint._interface, "::1")  # type: ignore[attr-defined]
        unix = self.parse("proxy:unix:/run/app.sock:mode=600")
        self.assertIsInstance(unix.endpoint, UNIXServerEndpoint)

    def test_misspelt_policy_option(self) -> None:
        error = self.assertRaises(
            ValueError, serverFromString, reactor, "proxy:tcp:8080:proxyTimout=3"
        )
        self.assertIn("'proxyTimout'", str(error))
        for name in SERVER_OPTIONS:
            self.assertIn(name, str(error))

    def test_misspelt_inner_option(self) -> None:
        error = self.assertRaises(
            ValueError, serverFromString, reactor, "proxy:tcp:8080:interfce=127.0.0.1"
        )
        self.assertIn("interfce", str(error))
        self.assertIn("interface", str(error))
        self.assertIn("proxyTimeout", str(error))

    def test_every_option_read(self) -> None:
        """Each documented option has its reader, and no reader is undocumented."""
        from pptwisted.endpoints._server import _READERS

        self.assertEqual(set(_READERS), set(SERVER_OPTIONS))

    def test_invalid_values(self) -> None:
        for description, word in [
            ("proxy:tcp:1:proxyHeader=maybe", "proxyHeader"),
            ("proxy:tcp:1:proxyVersions=3", "proxyVersions"),
            ("proxy:tcp:1:proxyTimeout=soon", "proxyTimeout"),
            ("proxy:tcp:1:proxyTimeout=0", "timeout"),
            ("proxy:tcp:1:proxyTrusted=banana", "banana"),
            ("proxy:tcp:1:proxyUntrusted=maybe", "proxyUntrusted"),
            ("proxy:tcp:1:proxyMaxV2Length=big", "proxyMaxV2Length"),
            ("proxy:tcp:1:proxyMaxV2Length=70000", "max_v2_length"),
        ]:
            error = self.assertRaises(ValueError, serverFromString, reactor, description)
            self.assertIn(word, str(error), description)

    def test_no_inner_endpoint(self) -> None:
        error = self.assertRaises(ValueError, serverFromString, reactor, "proxy:proxyTimeout=3")
        self.assertIn("proxy:tcp:8080", str(error))

    def test_no_collision_with_twisted_options(self) -> None:
        """No policy option is also an option of Twisted's own endpoints."""
        theirs: set[str] = set()
        for parser in (
            endpoints._parseTCP,
            endpoints._parseUNIX,
            endpoints._parseSSL,
            endpoints._TCP6ServerParser._parseServer,
            endpoints._SystemdParser._parseServer,
        ):
            theirs.update(inspect.signature(parser).parameters)
        if tlsServerEndpointParser is not None:
            theirs.update(
                inspect.signature(tlsServerEndpointParser._actualParseStreamServer).parameters
            )
        self.assertIn("interface", theirs)
        self.assertIn("privateKey", theirs)
        lowered = {name.lower() for name in theirs}
        for name in SERVER_OPTIONS:
            self.assertNotIn(name.lower(), lowered)


class TLSLayeringTests(SynchronousTestCase):
    """With ssl: and tls:, the PROXY layer is outside TLS."""

    def setUp(self) -> None:
        self.directory = FilePath(self.mktemp())
        self.directory.makedirs()
        self.key, self.cert = write_self_signed(self.directory, "localhost")

    def listen(self, description: str) -> tuple[MemoryReactorClock, Factory]:
        memory = MemoryReactorClock()
        endpoint = serverFromString(memory, description)
        app = Factory.forProtocol(Protocol)
        endpoint.listen(app)
        self.assertEqual(memory.sslServers, [])
        self.assertEqual(len(memory.tcpServers), 1)
        outer = memory.tcpServers[0][1]
        self.assertIsInstance(outer, ProxyProtocolWrapper)
        tls = outer.wrappedFactory
        self.assertIsInstance(tls, TLSMemoryBIOFactory)
        self.assertIs(tls.wrappedFactory, app)
        return memory, app

    def test_ssl(self) -> None:
        memory, _ = self.listen(
            f"proxy:ssl:8443:interface=127.0.0.1:privateKey={self.key.path}:certKey={self.cert.path}"
        )
        port, _, backlog, interface = memory.tcpServers[0]
        self.assertEqual((port, backlog, interface), (8443, 50, "127.0.0.1"))

    @skipIf(NEEDS_TLS_ENDPOINT)
    def test_tls(self) -> None:
        memory, _ = self.listen(f"proxy:tls:{self.directory.path}:port=8443:interface=127.0.0.1")
        port, _, _, interface = memory.tcpServers[0]
        self.assertEqual((port, interface), (8443, "127.0.0.1"))

    def test_plain_untouched(self) -> None:
        memory = MemoryReactorClock()
        app = Factory.forProtocol(Protocol)
        serverFromString(memory, "proxy:tcp:8080").listen(app)
        outer = memory.tcpServers[0][1]
        self.assertIs(outer.wrappedFactory, app)

    def test_stats_shared(self) -> None:
        memory = MemoryReactorClock()
        endpoint = ProxyProtocolServerEndpoint(TCP4ServerEndpoint(memory, 0), clock=memory)
        endpoint.listen(Factory.forProtocol(Protocol))
        endpoint.listen(Factory.forProtocol(Protocol))
        first, second = (server[1] for server in memory.tcpServers)
        self.assertIs(first.stats, endpoint.stats)
        self.assertIs(second.stats, endpoint.stats)

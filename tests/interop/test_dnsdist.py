"""
A Twisted Names server behind Debian's dnsdist (1.7), which sends a PROXY
v2 header on every UDP query (ProxyProtocolDatagramWrapper) and on every
TCP connection (proxy:tcp), with its health checks on (v2 LOCAL headers).
The server answers TXT queries with the client address it sees; clients
query dnsdist from several addresses of 127.0.0.0/8 over UDP and TCP, with
dig and with 100 concurrent sockets, and each must get its own address back.
"""

from __future__ import annotations

import importlib.util
import socket
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from twisted.internet import reactor
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.threads import deferToThread
from twisted.names import dns

from pptwisted import (
    ProxyHeader,
    ProxyProtocolDatagramWrapper,
    ProxyProtocolPolicy,
    ProxyProtocolServerEndpoint,
    get_proxy_header,
)
from pptwisted.codec import Command, Transport
from pptwisted.datagram._sender import datagram_header

from .harness import (
    EXAMPLES,
    InteropTestCase,
    require_address,
    require_binary,
    run_as_deferred,
)

#: dnsdist's frontend; the clients use other addresses of 127.0.0.0/8.
FRONTEND_HOST = "127.0.0.1"
CLIENT_HOSTS = [f"127.0.0.{i}" for i in range(2, 12)]
#: Seconds a client waits for an answer.
TIMEOUT = 5.0


def _example() -> Any:
    """examples/names-behind-dnsdist.py, the docs' server (howto/udp), as a module."""
    path = EXAMPLES / "names-behind-dnsdist.py"
    spec = importlib.util.spec_from_file_location("names_behind_dnsdist", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()


class ClientAddressFactory(EXAMPLE.ClientAddressFactory):  # type: ignore[misc,name-defined]
    """
    The docs' server, which answers TXT queries with the client address
    it sees; records (query name, address seen, header) per query.
    """

    def __init__(self) -> None:
        super().__init__(verbose=0)
        self.seen: list[tuple[str, tuple[str, int], ProxyHeader | None]] = []

    def handleQuery(self, message: dns.Message, protocol: Any, address: Any) -> None:
        seen = address
        if seen is None:
            peer = protocol.transport.getPeer()
            seen = (peer.host, peer.port)
        name = message.queries[0].name.name.decode()
        self.seen.append((name, seen, get_proxy_header(protocol)))
        super().handleQuery(message, protocol, address)


def txt_query(name: str, ident: int) -> bytes:
    message = dns.Message(id=ident, recDes=1)
    message.queries = [dns.Query(name, dns.TXT, dns.IN)]
    data: bytes = message.toStr()
    return data


def txt_answer(data: bytes) -> tuple[int, str]:
    """The id and the TXT text of a response."""
    message = dns.Message()
    message.fromStr(data)
    texts = [b"".join(a.payload.data).decode() for a in message.answers if a.type == dns.TXT]
    assert len(texts) == 1, message
    return message.id, texts[0]


def udp_clients(port: int, count: int) -> list[tuple[str, str]]:
    """
    C{count} UDP sockets, spread over L{CLIENT_HOSTS}, query at once; each
    answer is read by the socket that asked. (expected "host:port", answer)
    per socket. A query lost on the way is sent again, at most twice.
    """
    sockets = []
    try:
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(s)
            s.bind((CLIENT_HOSTS[i % len(CLIENT_HOSTS)], 0))
            s.settimeout(TIMEOUT)
        queries = [txt_query(f"c{i}.whoami.test.", i) for i in range(count)]
        results: list[tuple[str, str]] = []
        for i, s in enumerate(sockets):
            s.sendto(queries[i], (FRONTEND_HOST, port))
        for i, s in enumerate(sockets):
            host, local_port = s.getsockname()
            for attempt in range(3):
                try:
                    ident, text = txt_answer(s.recv(4096))
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
                    s.sendto(queries[i], (FRONTEND_HOST, port))
            assert ident == i
            results.append((f"{host}:{local_port}", text))
        return results
    finally:
        for s in sockets:
            s.close()


def tcp_client(port: int, source: str, name: str) -> tuple[str, str]:
    """One TCP query from C{source}: (expected "host:port", answer)."""
    with socket.create_connection(
        (FRONTEND_HOST, port), timeout=TIMEOUT, source_address=(source, 0)
    ) as s:
        host, local_port = s.getsockname()
        query = txt_query(name, 7)
        s.sendall(struct.pack("!H", len(query)) + query)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} bytes")
            data += chunk
    return f"{host}:{local_port}", txt_answer(data[2:])[1]


def tcp_clients(port: int, count: int) -> list[tuple[str, str]]:
    """C{count} TCP queries at once, from L{CLIENT_HOSTS}."""
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [
            pool.submit(tcp_client, port, CLIENT_HOSTS[i % len(CLIENT_HOSTS)], f"t{i}.whoami.test.")
            for i in range(count)
        ]
        return [f.result(timeout=30) for f in futures]


class DnsdistTests(InteropTestCase):
    def setUp(self) -> None:
        require_binary("dnsdist")
        for host in CLIENT_HOSTS:
            require_address(host)

    async def start(
        self, header_on: str = "every"
    ) -> tuple[int, ClientAddressFactory, ProxyProtocolDatagramWrapper, Any]:
        """
        The Names server on 127.0.0.1 (UDP through the wrapper, TCP on
        proxy:tcp, the same port) and dnsdist in front of it, once dnsdist's
        health checks have been answered: (frontend port, factory, wrapper,
        TCP endpoint).
        """
        factory = ClientAddressFactory()
        policy = ProxyProtocolPolicy(trusted=("127.0.0.1/32",))
        wrapper = ProxyProtocolDatagramWrapper(dns.DNSDatagramProtocol(factory), policy)
        # UDP and TCP on the same port number (dnsdist uses one address for
        # both): a port free for UDP may be taken for TCP, so try a few.
        for attempt in range(20):
            udp: IListeningPort = reactor.listenUDP(  # type: ignore[attr-defined]
                0, wrapper, interface="127.0.0.1", maxPacketSize=65535
            )
            backend = udp.getHost().port  # type: ignore[attr-defined]
            try:
                _port, endpoint = await self.listen(
                    f"proxy:tcp:{backend}:interface=127.0.0.1:proxyTrusted=127.0.0.1", factory
                )
            except CannotListenError:
                await udp.stopListening()
                if attempt == 19:
                    raise
                continue
            self.addCleanup(udp.stopListening)
            break
        assert isinstance(endpoint, ProxyProtocolServerEndpoint)
        self.process, frontend = await self.on_free_frontend(
            self.dnsdist,
            "dnsdist.conf",
            host=FRONTEND_HOST,
            acl="127.0.0.0/8",
            backend=f"127.0.0.1:{backend}",
        )
        await self.wait_until(lambda: wrapper.stats.replies >= 2, seconds=15)
        return frontend, factory, wrapper, endpoint

    def answers_own_address(self, results: list[tuple[str, str]]) -> None:
        for expected, answer in results:
            self.assertEqual(answer, expected)
        self.assertEqual(len({expected for expected, _ in results}), len(results))

    @run_as_deferred
    async def test_health_checks_carry_local_header(self) -> None:
        """dnsdist's checks arrive as v2 LOCAL over UDP and are answered."""
        _frontend, factory, wrapper, _ = await self.start()
        checks = [(a, h) for name, a, h in factory.seen if name == "health.example"]
        self.assertGreaterEqual(len(checks), 2)
        for address, header in checks:
            assert header is not None
            self.assertEqual((header.version, header.command), (2, Command.LOCAL))
            self.assertEqual(address[0], "127.0.0.1")
        self.assertEqual(dict(wrapper.stats.dropped), {})
        self.assertEqual(wrapper.stats.replies_dropped, 0)
        self.assertNotIn("'down'", self.process.output())

    @run_as_deferred
    async def test_dig_udp_and_tcp(self) -> None:
        """dig over UDP and TCP from several addresses: each sees its own."""
        dig = require_binary("dig")
        frontend, factory, wrapper, endpoint = await self.start()
        for source in CLIENT_HOSTS[:4]:
            for transport in ("+notcp", "+tcp"):
                result = await self.run_client(
                    [
                        dig,
                        "+short",
                        "+tries=3",
                        "+time=3",
                        transport,
                        "-b",
                        source,
                        "-p",
                        str(frontend),
                        f"@{FRONTEND_HOST}",
                        "dig.whoami.test.",
                        "TXT",
                    ]
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                host = result.stdout.strip().strip('"').rsplit(":", 1)[0]
                self.assertEqual(host, source, (transport, result.stdout))
        kinds = {
            (a[0], h.transport)
            for name, a, h in factory.seen
            if name == "dig.whoami.test" and h is not None
        }
        expected = {(s, t) for s in CLIENT_HOSTS[:4] for t in (Transport.DGRAM, Transport.STREAM)}
        self.assertEqual(kinds, expected)
        self.assertEqual(dict(wrapper.stats.dropped), {})
        self.assertEqual(dict(endpoint.stats.rejected), {})

    @run_as_deferred
    async def test_100_concurrent_udp_clients(self) -> None:
        """100 UDP clients at once, 10 addresses: each gets its own address back."""
        frontend, factory, wrapper, _ = await self.start()
        results = await deferToThread(udp_clients, frontend, 100)
        self.answers_own_address(results)
        headers = {h for name, _, h in factory.seen if name.startswith("c") and h is not None}
        self.assertGreaterEqual(len(headers), 100)
        self.assertEqual(dict(wrapper.stats.dropped), {})
        self.assertEqual(wrapper.stats.replies_dropped, 0)
        # Many clients, few dnsdist sockets: the flow table routes the replies.
        self.assertLess(len(set(self.real_peers(wrapper, factory))), 10)

    @run_as_deferred
    async def test_concurrent_tcp_clients(self) -> None:
        """40 TCP clients at once (proxy:tcp): each gets its own address back."""
        frontend, _factory, _, endpoint = await self.start()
        results = await deferToThread(tcp_clients, frontend, 40)
        self.answers_own_address(results)
        self.assertEqual(dict(endpoint.stats.rejected), {})

    def real_peers(
        self, wrapper: ProxyProtocolDatagramWrapper, factory: ClientAddressFactory
    ) -> list[Any]:
        """The proxy socket of each client flow still in the table."""
        route: Callable[[Any], Any] = wrapper.route
        return [route(a) for name, a, h in factory.seen if name.startswith("c")]


class ExampleListenTests(InteropTestCase):
    """The docs' listen(), without dnsdist: a header-bearing query over UDP."""

    @run_as_deferred
    async def test_listen(self) -> None:
        _, wrapper, udp, listening = EXAMPLE.listen(0, "127.0.0.1", "127.0.0.1")
        self.addCleanup(udp.stopListening)
        tcp = await listening
        self.addCleanup(tcp.stopListening)
        self.assertIsInstance(wrapper, ProxyProtocolDatagramWrapper)
        port = udp.getHost().port
        header = datagram_header(("192.0.2.7", 5353), ("198.51.100.1", 53))

        def ask() -> tuple[int, str]:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(TIMEOUT)
                s.sendto(header + txt_query("whoami.test.", 9), ("127.0.0.1", port))
                return txt_answer(s.recv(4096))

        self.assertEqual(await deferToThread(ask), (9, "192.0.2.7:5353"))
        self.assertEqual(wrapper.stats.delivered, 1)

"""
C{twist proxy-whoami --udp [HOST:]PORT [--udp-header-on every|first]}: each
datagram is answered with the text report of its PROXY header.
"""

from __future__ import annotations

import socket

from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pptwisted import ProxyProtocolDatagramWrapper
from pptwisted.tools.whoami import Options, WhoamiDatagram, makeService

from ..interop.harness import run_as_deferred
from .test_datagram import CLIENT_A, HEADER_A, LOCAL, PROXY_SOCKET, FakePort


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


class OptionsTests(SynchronousTestCase):
    def test_no_udp_by_default(self) -> None:
        options = parse()
        self.assertIsNone(options["udp"])
        self.assertEqual(options["udp-header-on"], "every")

    def test_udp_port(self) -> None:
        options = parse("--udp", "5353")
        self.assertEqual((options["udp-interface"], options["udp-port"]), ("", 5353))
        options = parse("--udp", "127.0.0.1:53", "--udp-header-on", "first")
        self.assertEqual((options["udp-interface"], options["udp-port"]), ("127.0.0.1", 53))
        self.assertEqual(options["udp-header-on"], "first")
        options = parse("--udp", "[::1]:53")
        self.assertEqual(options["udp-interface"], "::1")

    def test_bad_values(self) -> None:
        for argv in (["--udp", "x"], ["--udp", "70000"], ["--udp-header-on", "some"]):
            self.assertRaises(usage.UsageError, parse, *argv)


class ReportTests(SynchronousTestCase):
    def answer(self, datagram: bytes, header_on: str = "every") -> str:
        wrapper = ProxyProtocolDatagramWrapper(
            WhoamiDatagram(),
            clock=Clock(),
            header_on=header_on,  # type: ignore[arg-type]
        )
        port = FakePort(wrapper)
        wrapper.datagramReceived(datagram, PROXY_SOCKET)
        [(data, to)] = port.written
        self.assertEqual(to, PROXY_SOCKET)
        return data.decode()

    def test_proxy_header(self) -> None:
        text = self.answer(HEADER_A + b"hello")
        self.assertIn("client (getPeer): 192.0.2.10:40000 (UDP)", text)
        self.assertIn("server (getHost): 127.0.0.1:5300 (UDP)", text)
        self.assertIn("real peer:        127.0.0.1:41000 (UDP)", text)
        self.assertIn("PROXY header:     v2 PROXY INET DGRAM", text)
        self.assertIn("  destination:    198.51.100.1:53 (UDP)", text)

    def test_local(self) -> None:
        text = self.answer(LOCAL + b"check")
        self.assertIn("client (getPeer): 127.0.0.1:41000 (UDP)", text)
        self.assertIn("PROXY header:     v2 LOCAL UNSPEC UNSPEC", text)

    def test_first_mode_header_only(self) -> None:
        wrapper = ProxyProtocolDatagramWrapper(WhoamiDatagram(), clock=Clock(), header_on="first")
        port = FakePort(wrapper)
        wrapper.datagramReceived(HEADER_A, PROXY_SOCKET)
        self.assertEqual(port.written, [])
        wrapper.datagramReceived(b"next", PROXY_SOCKET)
        self.assertIn(
            f"client (getPeer): {CLIENT_A[0]}:{CLIENT_A[1]} (UDP)", port.written[0][0].decode()
        )


class ServiceTests(TestCase):
    @run_as_deferred
    async def test_udp_beside_tcp(self) -> None:
        """makeService with --udp listens on both; a datagram gets its report."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            udp_port = s.getsockname()[1]
        options = parse(
            "--listen", "proxy:tcp:0:interface=127.0.0.1", "--udp", f"127.0.0.1:{udp_port}"
        )
        service = makeService(options)
        service.startService()
        self.addCleanup(service.stopService)

        def exchange() -> bytes:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.bind(("127.0.0.1", 0))
                s.sendto(HEADER_A + b"hi", ("127.0.0.1", udp_port))
                return s.recv(65536)

        text = (await deferToThread(exchange)).decode()
        self.assertIn("client (getPeer): 192.0.2.10:40000 (UDP)", text)
        self.assertEqual(len(list(service)), 2)  # type: ignore[call-overload]

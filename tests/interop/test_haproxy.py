"""
pptwisted behind a real HAProxy (Debian's haproxy 2.6), started by each test
with a config from examples/: send-proxy (v1) and send-proxy-v2 in TCP and
HTTP mode, TLS termination with every proxy-v2-option TLV, TLS passthrough
to proxy:ssl, health checks carrying the header, an IPv6 client, and
HAProxy's accept-proxy receiving the headers pptwisted sends.
"""

from __future__ import annotations

import json
import re

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import EventLoggingObserver
from twisted.internet.threads import deferToThread
from twisted.logger import globalLogPublisher
from twisted.web.server import Site

from pptwisted import InvalidHeader, parse_header
from pptwisted.codec import V2_SIGNATURE, Command, Rule

from ..certs import make_self_signed
from .clients import answers_to_our_headers, http_get, read_report, tls_read
from .harness import (
    CLIENT_HOST,
    InteropTestCase,
    require_address,
    require_binary,
)
from .servers import CaptureFactory, ReportFactory, ReportResource, v2_header_length, web_site

#: What HAProxy 2.6 sends as the health check of a send-proxy-v2 server: a
#: v2 LOCAL header, family UNSPEC, no address block, nothing after it.
V2_LOCAL_CHECK = bytes.fromhex("0d0a0d0a000d0a515549540a 20 00 0000")
#: The check of a send-proxy server with check-send-proxy: a v1 line with
#: the check connection's own addresses (HAProxy's socket, the server).
V1_CHECK = re.compile(rb"PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 (\d+) (\d+)\r\n")
HTTP_CHECK = b"GET /health HTTP/1.0\r\n\r\n"


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), bit by bit: independent of pptwisted's."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def walk_tlvs(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, offset of the value, value) of each TLV in C{data}, by hand."""
    tlvs, i = [], 0
    while i < len(data):
        t, length = data[i], int.from_bytes(data[i + 1 : i + 3], "big")
        tlvs.append((t, i + 3, data[i + 3 : i + 3 + length]))
        i += 3 + length
    return tlvs


class HAProxyTests(InteropTestCase):
    def setUp(self) -> None:
        require_binary("haproxy")
        require_address(CLIENT_HOST)

    async def check_tcp_mode(self, send_proxy: str, version: int) -> None:
        factory = ReportFactory()
        port, endpoint = await self.listen("proxy:tcp:0:interface=127.0.0.1", factory)
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-send-proxy.cfg",
            mode="tcp",
            backend=f"127.0.0.1:{port}",
            send_proxy=send_proxy,
        )
        report, (host, client_port) = await deferToThread(read_report, frontend)
        client = IPv4Address("TCP", CLIENT_HOST, client_port)
        self.assertEqual(host, CLIENT_HOST)
        self.assertEqual(factory.addresses, [client])
        self.assertEqual(factory.peers, [client])
        self.assertEqual(factory.hosts, [IPv4Address("TCP", "127.0.0.1", frontend)])
        header = factory.headers[0]
        assert header is not None
        self.assertEqual((header.version, header.command), (version, Command.PROXY))
        self.assertEqual(report["real_peer"]["host"], "127.0.0.1")
        self.assertEqual(report["peer"], {"type": "TCP", "host": CLIENT_HOST, "port": client_port})
        self.assertEqual(endpoint.stats.accepted, 1)
        self.assertEqual(dict(endpoint.stats.rejected), {})

    async def test_send_proxy_v1_tcp(self) -> None:
        """send-proxy, mode tcp: getPeer() is the client, getHost() the frontend."""
        await self.check_tcp_mode("send-proxy", 1)

    async def test_send_proxy_v2_tcp(self) -> None:
        """send-proxy-v2, mode tcp: getPeer() is the client, getHost() the frontend."""
        await self.check_tcp_mode("send-proxy-v2", 2)

    async def check_http_mode(self, send_proxy: str, version: int) -> None:
        port, endpoint = await self.listen("proxy:tcp:0:interface=127.0.0.1", web_site())
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-send-proxy.cfg",
            mode="http",
            backend=f"127.0.0.1:{port}",
            send_proxy=send_proxy,
        )
        status, report, (_, client_port) = await deferToThread(http_get, frontend)
        client = {"type": "TCP", "host": CLIENT_HOST, "port": client_port}
        self.assertEqual(status, 200)
        self.assertEqual(report["client_address"], client)
        self.assertEqual(report["peer"], client)
        self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": frontend})
        self.assertEqual(report["proxy"]["version"], version)
        self.assertEqual(dict(endpoint.stats.rejected), {})

    async def test_send_proxy_v1_http(self) -> None:
        """send-proxy, mode http: request.getClientAddress() is the client."""
        await self.check_http_mode("send-proxy", 1)

    async def test_send_proxy_v2_http(self) -> None:
        """send-proxy-v2, mode http: request.getClientAddress() is the client."""
        await self.check_http_mode("send-proxy-v2", 2)

    async def check_ipv6_client(self, send_proxy: str) -> None:
        require_address("::1")
        factory = ReportFactory()
        port, _ = await self.listen("proxy:tcp:0:interface=127.0.0.1", factory)
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-send-proxy.cfg",
            host="::1",
            mode="tcp",
            backend=f"127.0.0.1:{port}",
            send_proxy=send_proxy,
        )
        _, (_, client_port) = await deferToThread(read_report, frontend, "::1", "::1")
        self.assertEqual(factory.peers, [IPv6Address("TCP", "::1", client_port)])
        self.assertIsInstance(factory.addresses[0], IPv6Address)
        self.assertEqual(factory.hosts, [IPv6Address("TCP", "::1", frontend)])

    async def test_ipv6_client_v1(self) -> None:
        """A client on ::1 through HAProxy (TCP6 line) is an IPv6Address."""
        await self.check_ipv6_client("send-proxy")

    async def test_ipv6_client_v2(self) -> None:
        """A client on ::1 through HAProxy (v2 INET6) is an IPv6Address."""
        await self.check_ipv6_client("send-proxy-v2")

    async def tls_frontend(self, backend_port: int) -> tuple[int, dict[str, str]]:
        """HAProxy terminating TLS with client certificates, sending every TLV."""
        directory = self.make_directory()
        server_key, server_cert = make_self_signed("app.example")
        client_key, client_cert = make_self_signed("alice")
        files = {
            "server": directory / "server.pem",
            "server_cert": directory / "server-cert.pem",
            "client_ca": directory / "client-ca.pem",
            "client": directory / "client.pem",
        }
        files["server"].write_bytes(server_cert + server_key)
        files["server_cert"].write_bytes(server_cert)
        files["client_ca"].write_bytes(client_cert)
        files["client"].write_bytes(client_cert + client_key)
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-tls-tlvs.cfg",
            certificate=files["server"],
            client_ca=files["client_ca"],
            backend=f"127.0.0.1:{backend_port}",
        )
        return frontend, {name: str(path) for name, path in files.items()}

    async def test_tls_termination_with_tlvs(self) -> None:
        """
        HAProxy terminates TLS (client certificate included) and passes the
        details as v2 TLVs: the application reads SNI, unique id, TLS version,
        cipher, client CN, signature and key algorithms; the CRC32C checks out.
        """
        factory = ReportFactory()
        port, endpoint = await self.listen("proxy:tcp:0:interface=127.0.0.1", factory)
        frontend, files = await self.tls_frontend(port)
        data, (_, client_port), cipher, version = await deferToThread(
            tls_read, frontend, "app.example", files["server_cert"], files["client"]
        )
        self.assertEqual(json.loads(data)["peer"]["port"], client_port)
        self.assertEqual(factory.peers, [IPv4Address("TCP", CLIENT_HOST, client_port)])
        header = factory.headers[0]
        assert header is not None
        self.assertEqual(header.authority, "app.example")
        # unique-id-format %{+X}o%ci:%cp_%fi:%fp_...: hex of this very connection.
        unique_id = header.unique_id
        assert unique_id is not None
        self.assertTrue(
            unique_id.startswith(f"7F000002:{client_port:04X}_7F000001:{frontend:04X}_".encode()),
            unique_id,
        )
        self.assertIsNotNone(header.crc32c)  # present, and verified (else rejected)
        details = header.ssl
        assert details is not None
        self.assertTrue(details.client_ssl)
        self.assertTrue(details.client_cert_conn)
        self.assertTrue(details.verified)
        self.assertEqual(details.version, version)
        self.assertEqual(details.cipher, cipher)
        self.assertEqual(details.cn, "alice")
        self.assertEqual(details.sig_alg, "ecdsa-with-SHA256")
        self.assertEqual(details.key_alg, "EC256")
        self.assertEqual(endpoint.stats.accepted, 1)
        self.assertEqual(dict(endpoint.stats.rejected), {})

    async def test_tls_termination_raw_header(self) -> None:
        """
        The same header as HAProxy wrote it, captured by a plain server: its
        CRC32C is right by an independent computation, pptwisted's parse agrees
        with a hand walk of the TLVs, and one flipped bit makes it reject.
        """

        def answer(data: bytes) -> bytes | None:
            length = v2_header_length(data)
            return b"captured\n" if length is not None and len(data) >= length else None

        capture = CaptureFactory(answer)
        listening = reactor.listenTCP(0, capture, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        frontend, files = await self.tls_frontend(listening.getHost().port)
        data, (_, client_port), cipher, _ = await deferToThread(
            tls_read, frontend, "app.example", files["server_cert"], files["client"]
        )
        self.assertEqual(data, b"captured\n")
        (_, raw), *_ = capture.captured
        self.assertEqual(raw[:13], V2_SIGNATURE + b"\x21")
        length = v2_header_length(raw)
        self.assertEqual(len(raw), length)
        tlvs = walk_tlvs(raw[16 + 12 :])
        types = [t for t, _, _ in tlvs]
        self.assertEqual(sorted(types), [0x02, 0x03, 0x05, 0x20])
        (crc_at,) = [16 + 12 + at for t, at, _ in tlvs if t == 0x03]
        zeroed = raw[:crc_at] + bytes(4) + raw[crc_at + 4 :]
        self.assertEqual(crc32c(zeroed), int.from_bytes(raw[crc_at : crc_at + 4], "big"))
        ssl_value = next(v for t, _, v in tlvs if t == 0x20)
        subtypes = {t: v for t, _, v in walk_tlvs(ssl_value[5:])}
        self.assertEqual(sorted(subtypes), [0x21, 0x22, 0x23, 0x24, 0x25])

        header, rest = parse_header(raw)
        self.assertEqual(rest, b"")
        self.assertEqual(header.source, IPv4Address("TCP", CLIENT_HOST, client_port))
        self.assertEqual(header.crc32c, int.from_bytes(raw[crc_at : crc_at + 4], "big"))
        self.assertEqual(header.authority, next(v for t, _, v in tlvs if t == 0x02).decode())
        self.assertEqual(header.unique_id, next(v for t, _, v in tlvs if t == 0x05))
        assert header.ssl is not None
        self.assertEqual(header.ssl.cipher, subtypes[0x23].decode())
        self.assertEqual(header.ssl.cipher, cipher)
        self.assertEqual(header.ssl.cn, subtypes[0x22].decode())
        corrupt = bytearray(raw)
        corrupt[-1] ^= 0x01
        with self.assertRaises(InvalidHeader) as caught:
            parse_header(bytes(corrupt))
        self.assertEqual(caught.exception.rule, Rule.V2_CRC32C_MISMATCH)

    async def test_tls_passthrough_with_curl(self) -> None:
        """
        HAProxy in TCP mode with send-proxy-v2 before proxy:ssl (the header
        comes before the TLS handshake); curl over HTTPS through it reaches a
        twisted.web resource that sees curl's own address and port.
        """
        curl = require_binary("curl")
        directory = self.make_directory()
        key, cert = make_self_signed("localhost")
        (directory / "key.pem").write_bytes(key)
        (directory / "cert.pem").write_bytes(cert)
        port, endpoint = await self.listen(
            f"proxy:ssl:0:interface=127.0.0.1:privateKey={directory / 'key.pem'}"
            f":certKey={directory / 'cert.pem'}",
            web_site(),
        )
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-tls-passthrough.cfg",
            backend=f"127.0.0.1:{port}",
        )
        result = await self.run_client(
            [
                curl,
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--interface",
                CLIENT_HOST,
                "--cacert",
                str(directory / "cert.pem"),
                "--resolve",
                f"localhost:{frontend}:127.0.0.1",
                "--write-out",
                "\n%{local_ip} %{local_port} %{ssl_verify_result} %{http_version}",
                f"https://localhost:{frontend}/",
            ]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        body, written = result.stdout.rsplit("\n", 1)
        local_ip, local_port, verify, version = written.split()
        report = json.loads(body)
        # curl offers h2: Twisted's TLS negotiates it when twisted.web can
        # speak it (the http2 extra), and the request sees the header anyway.
        from twisted.web.http import H2_ENABLED

        self.assertEqual(
            (version, report["protocol"]), ("2", "HTTP/2") if H2_ENABLED else ("1.1", "HTTP/1.1")
        )
        self.assertEqual(
            report["client_address"], {"type": "TCP", "host": local_ip, "port": int(local_port)}
        )
        self.assertEqual(local_ip, CLIENT_HOST)
        self.assertEqual(verify, "0")
        self.assertEqual(report["proxy"]["version"], 2)
        self.assertEqual(report["host"]["port"], frontend)
        self.assertEqual(report["real_peer"]["host"], "127.0.0.1")
        self.assertEqual(dict(endpoint.stats.rejected), {})


class HealthCheckTests(InteropTestCase):
    """HAProxy health checks that carry the PROXY header."""

    def setUp(self) -> None:
        require_binary("haproxy")

    async def test_what_haproxy_sends(self) -> None:
        """
        The exact bytes of HAProxy's checks, captured by plain servers: v2
        LOCAL (16 bytes) for send-proxy-v2, a v1 line with the check's own
        addresses for check-send-proxy, the same before option httpchk's
        request; pptwisted's parser reads each.
        """
        http_ok = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
        layer4 = [CaptureFactory(), CaptureFactory()]
        layer7 = [
            CaptureFactory(lambda d: http_ok if d.endswith(HTTP_CHECK) else None) for _ in "12"
        ]
        ports = []
        for factory in layer4 + layer7:
            listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
            self.addCleanup(listening.stopListening)
            ports.append(listening.getHost().port)
        haproxy, _ = await self.on_free_frontend(
            self.haproxy,
            "haproxy-health-checks.cfg",
            backend1=f"127.0.0.1:{ports[0]}",
            backend2=f"127.0.0.1:{ports[1]}",
            web1=f"127.0.0.1:{ports[2]}",
            web2=f"127.0.0.1:{ports[3]}",
        )
        await self.wait_until(lambda: all(len(f.captured) >= 2 for f in layer4 + layer7))
        for _, data in layer4[0].captured:
            self.assertEqual(data, V2_LOCAL_CHECK)
        for _, data in layer7[0].captured:
            self.assertEqual(data, V2_LOCAL_CHECK + HTTP_CHECK)
        for factory, after, port in ((layer4[1], b"", ports[1]), (layer7[1], HTTP_CHECK, ports[3])):
            for peer, data in factory.captured:
                assert isinstance(peer, IPv4Address)
                line = f"PROXY TCP4 127.0.0.1 127.0.0.1 {peer.port} {port}\r\n"
                self.assertEqual(data, line.encode() + after)
                self.assertTrue(V1_CHECK.fullmatch(data[: len(line)]))
        header, rest = parse_header(V2_LOCAL_CHECK + HTTP_CHECK)
        self.assertEqual((header.version, header.command, header.source), (2, Command.LOCAL, None))
        self.assertEqual(rest, HTTP_CHECK)
        servers = await deferToThread(haproxy.servers)
        self.assertEqual(servers["web1"]["check_status"], "L7OK")
        self.assertEqual(servers["web2"]["check_status"], "L7OK")

    async def test_checks_are_served_not_rejected(self) -> None:
        """
        Against proxy:tcp servers: layer-4 checks arrive as v2 LOCAL (getPeer()
        is HAProxy's socket) or v1, HTTP checks are answered by twisted.web
        (HAProxy sees L7OK), and nothing is counted or logged as a rejection.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        v2, v1 = ReportFactory(), ReportFactory()
        port_v2, endpoint_v2 = await self.listen("proxy:tcp:0:interface=127.0.0.1", v2)
        port_v1, endpoint_v1 = await self.listen("proxy:tcp:0:interface=127.0.0.1", v1)
        sites = [Site(ReportResource()), Site(ReportResource())]
        web_v2, endpoint_web_v2 = await self.listen("proxy:tcp:0:interface=127.0.0.1", sites[0])
        web_v1, endpoint_web_v1 = await self.listen("proxy:tcp:0:interface=127.0.0.1", sites[1])
        haproxy, _ = await self.on_free_frontend(
            self.haproxy,
            "haproxy-health-checks.cfg",
            backend1=f"127.0.0.1:{port_v2}",
            backend2=f"127.0.0.1:{port_v1}",
            web1=f"127.0.0.1:{web_v2}",
            web2=f"127.0.0.1:{web_v1}",
        )
        endpoints = [endpoint_v2, endpoint_v1, endpoint_web_v2, endpoint_web_v1]
        await self.wait_until(lambda: all(e.stats.accepted >= 3 for e in endpoints))
        servers = await deferToThread(haproxy.servers)
        for name in ("app1", "app2"):
            self.assertEqual(servers[name]["status"], "UP", servers[name])
            self.assertEqual(servers[name]["check_status"], "L4OK", servers[name])
        for name in ("web1", "web2"):
            self.assertEqual(servers[name]["status"], "UP", servers[name])
            self.assertEqual(servers[name]["check_status"], "L7OK", servers[name])

        for header, peer in zip(v2.headers, v2.peers, strict=True):
            assert header is not None
            self.assertEqual((header.version, header.command), (2, Command.LOCAL))
            self.assertEqual(header.source, None)
            self.assertEqual(peer.host, "127.0.0.1")  # type: ignore[attr-defined]
        for header, report in zip(v1.headers, v1.reports, strict=True):
            assert header is not None
            self.assertEqual(header.version, 1)
            # v1 checks carry the check connection's own addresses.
            self.assertEqual(report["peer"], report["real_peer"])
            self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": port_v1})
        for endpoint in endpoints:
            self.assertEqual(dict(endpoint.stats.rejected), {})
            self.assertEqual(endpoint.stats.timed_out, 0)
            self.assertEqual(endpoint.stats.direct, 0)
        self.assertEqual([e for e in events if e.get("log_namespace") == "pptwisted"], [])


class AcceptProxyTests(InteropTestCase):
    """HAProxy's accept-proxy receiving the headers pptwisted's client sends."""

    async def test_haproxy_accept_proxy(self) -> None:
        require_binary("haproxy")
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-accept-proxy.cfg",
        )
        await answers_to_our_headers(self, frontend)

"""
Web applications users run, behind a real HAProxy (Debian's 2.6), each the
docs' example file run in a subprocess (docs/apps/): Klein's
C{request.getClientAddress()}, a Flask app's C{REMOTE_ADDR} and
C{wsgi.url_scheme} on twisted.web's C{WSGIResource}, Autobahn's
C{onConnect(request).peer}. HAProxy sends C{send-proxy-v2} from a mode tcp
and a mode http frontend (examples/haproxy-web-apps.cfg), or terminates TLS
(examples/haproxy-tls-secure.cfg); the clients connect from CLIENT_HOST, so
the application must name it, not HAProxy's 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import sys
from typing import IO, Any

from twisted.internet.threads import deferToThread

from ..compat import Started, twist_command, twist_env
from .clients import TIMEOUT, http_get
from .harness import (
    CLIENT_HOST,
    REPO,
    HAProxy,
    InteropTestCase,
    on_free_ports,
    require_address,
    require_binary,
    require_module,
)

EXAMPLES = REPO / "docs" / "examples"
#: The endpoint the examples listen on: HAProxy (127.0.0.1) is trusted.
PROXY = "proxy:tcp:0:interface=127.0.0.1:proxyTrusted=127.0.0.1"
#: A second client address, for a second client through the same HAProxy.
OTHER_CLIENT = "127.0.0.3"
#: RFC 6455's GUID, for the Sec-WebSocket-Accept check.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def https_get(port: int, cafile: str) -> tuple[int, Any, tuple[str, int]]:
    """GET / over TLS from CLIENT_HOST: the status, the JSON body, the client's local address."""
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=TIMEOUT, source_address=(CLIENT_HOST, 0), context=context
    )
    try:
        connection.connect()
        assert connection.sock is not None
        local: tuple[str, int] = connection.sock.getsockname()[:2]
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, json.loads(response.read()), local
    finally:
        connection.close()


def flask_saw(host: str, port: int, scheme: str, frontend: int) -> dict[str, Any]:
    """What wsgi_app.py answers a client at C{host}:C{port} through C{frontend}."""
    return {
        "remote_addr": host,
        "remote_port": port,
        "scheme": scheme,
        "url": f"{scheme}://127.0.0.1:{frontend}/",
    }


def _read_frame(reader: IO[bytes]) -> bytes:
    """The payload of one unmasked WebSocket frame (the server's)."""
    first, second = reader.read(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(reader.read(2), "big")
    elif length == 127:
        length = int.from_bytes(reader.read(8), "big")
    payload = reader.read(length)
    if first & 0x0F not in (0x1, 0x2) or len(payload) != length:
        raise AssertionError(f"not a whole data frame: {first:#x} {payload!r}")
    return payload


def _masked(opcode: int, payload: bytes) -> bytes:
    """A final client frame (masked, as RFC 6455 requires) of a short payload."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def websocket_exchange(
    port: int, message: bytes, source: str = CLIENT_HOST
) -> tuple[str, bytes, tuple[str, int]]:
    """
    Open a WebSocket from C{source} to 127.0.0.1:C{port}, read the server's
    first message, send C{message} and read its echo: the first message, the
    echo, and the client's local address.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.socket() as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        local: tuple[str, int] = sock.getsockname()[:2]
        sock.sendall(
            (
                "GET / HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        with sock.makefile("rb") as reader:
            status = reader.readline()
            if not status.startswith(b"HTTP/1.1 101"):
                raise AssertionError(f"no upgrade: {status!r} {reader.read(2000)!r}")
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            expected = hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()
            if headers.get("sec-websocket-accept") != base64.b64encode(expected).decode():
                raise AssertionError(f"bad handshake: {headers}")
            greeting = _read_frame(reader)
            sock.sendall(_masked(0x1, message))
            echo = _read_frame(reader)
            sock.sendall(_masked(0x8, b""))
    return greeting.decode(), echo, local


class WebAppTestCase(InteropTestCase):
    """Start the docs' examples and HAProxy in front of them."""

    def setUp(self) -> None:
        require_binary("haproxy")
        require_address(CLIENT_HOST)

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> Started:
        """Start a server that logs "starting on PORT"; stopped at cleanup."""
        started = Started(argv, cwd=REPO, env=env or twist_env())
        self.addCleanup(deferToThread, started.stop)
        return started

    async def example(self, name: str, endpoint: str = PROXY) -> tuple[Started, int]:
        """Run C{docs/examples/NAME} on C{endpoint}: the process and its port."""
        started = self.start([sys.executable, "-u", str(EXAMPLES / name), endpoint])
        port: int = await deferToThread(started.port)
        return started, port

    async def web_apps_haproxy(self, backend: int) -> tuple[HAProxy, int, int]:
        """examples/haproxy-web-apps.cfg in front of C{backend}: the tcp and http frontends."""

        def start(ports: list[int]) -> Any:
            return self.haproxy(
                "haproxy-web-apps.cfg",
                [("127.0.0.1", p) for p in ports],
                tcp_frontend=f"127.0.0.1:{ports[0]}",
                http_frontend=f"127.0.0.1:{ports[1]}",
                backend=f"127.0.0.1:{backend}",
            )

        haproxy, (tcp_frontend, http_frontend) = await on_free_ports(start, 2)
        return haproxy, tcp_frontend, http_frontend

    async def stopped_cleanly(self, started: Started, returncode: int = 0) -> None:
        """
        Stop C{started} (SIGTERM): its reactor stops (the WSGI thread pool
        with it) and it exits with C{returncode}, without a traceback.
        """
        output = await deferToThread(started.stop)
        self.assertEqual(started.process.returncode, returncode, output)
        self.assertIn("Main loop terminated.", output)
        self.assertNotIn("Traceback", output)


class KleinTests(WebAppTestCase):
    async def test_klein_client_address(self) -> None:
        """
        Klein's C{request.getClientAddress()} is the client (host and port),
        through mode tcp and mode http, for two clients from two addresses
        (mode http reuses a server connection only for the same header).
        """
        require_module("klein")
        require_address(OTHER_CLIENT)
        app, backend = await self.example("klein_app.py")
        _, tcp_frontend, http_frontend = await self.web_apps_haproxy(backend)
        for frontend, source in [
            (tcp_frontend, CLIENT_HOST),
            (http_frontend, CLIENT_HOST),
            (http_frontend, OTHER_CLIENT),
            (http_frontend, CLIENT_HOST),
        ]:
            status, seen, (host, port) = await deferToThread(
                http_get, frontend, "127.0.0.1", source
            )
            self.assertEqual((status, seen), (200, {"host": host, "port": port, "secure": False}))
            self.assertEqual(host, source)
        await self.stopped_cleanly(app)


class WSGITests(WebAppTestCase):
    async def test_flask_behind_tls_termination(self) -> None:
        """
        A Flask app on C{WSGIResource} behind HAProxy terminating TLS
        (examples/haproxy-tls-secure.cfg): C{REMOTE_ADDR}/C{REMOTE_PORT} are
        the client's; the scheme is https through the TLS frontend to the
        server on C{proxySecure=yes}, http through the plain frontend and to
        the server without the option. Both stop cleanly (the thread pool).
        """
        require_module("flask")
        secure_app, secure_port = await self.example("wsgi_app.py", f"{PROXY}:proxySecure=yes")
        other_app, other_port = await self.example("wsgi_app.py")
        cafile, tls_frontend, plain_frontend, other_frontend = await self.tls_terminating_haproxy(
            secure_port, other_port
        )
        for frontend, tls, scheme in [
            (tls_frontend, True, "https"),
            (plain_frontend, False, "http"),
            (other_frontend, True, "http"),
        ]:
            if tls:
                status, seen, (host, port) = await deferToThread(https_get, frontend, cafile)
            else:
                status, seen, (host, port) = await deferToThread(http_get, frontend)
            self.assertEqual(host, CLIENT_HOST)
            self.assertEqual((status, seen), (200, flask_saw(host, port, scheme, frontend)))
        await self.stopped_cleanly(secure_app)
        await self.stopped_cleanly(other_app)

    async def test_twist_web_wsgi(self) -> None:
        """
        The docs' other way to run it, C{twist web --listen proxy:...
        --wsgi wsgi_app.app}: C{REMOTE_ADDR} is the client through mode tcp
        and mode http, the scheme http; it stops cleanly.
        """
        require_module("flask")
        env = twist_env()
        env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), env["PYTHONPATH"]])
        app = self.start(
            [
                *twist_command(),
                "--log-format=text",
                "web",
                "--listen",
                PROXY,
                "--wsgi",
                "wsgi_app.app",
            ],
            env=env,
        )
        backend: int = await deferToThread(app.port)
        _, tcp_frontend, http_frontend = await self.web_apps_haproxy(backend)
        for frontend in (tcp_frontend, http_frontend):
            status, seen, (host, port) = await deferToThread(http_get, frontend)
            self.assertEqual(host, CLIENT_HOST)
            self.assertEqual((status, seen), (200, flask_saw(host, port, "http", frontend)))
        # twist exits with the signal that stopped it.
        await self.stopped_cleanly(app, -signal.SIGTERM)


class WebSocketTests(WebAppTestCase):
    async def test_autobahn_peer(self) -> None:
        """
        Autobahn's C{onConnect(request).peer} is C{tcp4:CLIENT:PORT} through
        HAProxy in mode tcp and in mode http (the upgrade passed through),
        for two clients from two addresses; messages echo both ways.
        """
        require_module("autobahn")
        require_address(OTHER_CLIENT)
        app, backend = await self.example("websocket_app.py")
        _, tcp_frontend, http_frontend = await self.web_apps_haproxy(backend)
        for frontend, source in [
            (tcp_frontend, CLIENT_HOST),
            (http_frontend, CLIENT_HOST),
            (http_frontend, OTHER_CLIENT),
        ]:
            greeting, echo, (host, port) = await deferToThread(
                websocket_exchange, frontend, b"ping", source
            )
            self.assertEqual(host, source)
            self.assertEqual((greeting, echo), (f"you are tcp4:{host}:{port}", b"ping"))
        await self.stopped_cleanly(app)

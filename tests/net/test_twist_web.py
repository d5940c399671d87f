"""
The one-line change the README promises: C{twist web --listen proxy:tcp:...}
run as a real process, on 127.0.0.1, with requests from a raw socket that
start with a PROXY header. The access log, C{request.getClientAddress()} and
C{pptwisted.get_proxy_header(request)} must all show the header's client.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address, IPv6Address

from pptwisted import ProxyHeader

from ..compat import twist_command

#: The repository root: put on the child's path so that its twisted/plugins
#: dropin is found whether pptwisted is installed normally or editable.
ROOT = Path(__file__).resolve().parents[2]
#: Seconds twist has to start listening.
START = 20.0
#: Seconds any other wait may take.
WAIT = 10.0

WHOAMI_RPY = """\
import json

from twisted.web.resource import Resource

import pptwisted


def describe(address):
    if address is None:
        return None
    return [type(address).__name__, address.host, address.port]


class WhoAmI(Resource):
    isLeaf = True

    def render_GET(self, request):
        header = pptwisted.get_proxy_header(request)
        body = {
            "client": describe(request.getClientAddress()),
            "host": describe(request.getHost()),
            "source": describe(header.source) if header is not None else None,
            "version": header.version if header is not None else None,
        }
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(body).encode()


resource = WhoAmI()
"""


class Twist:
    """A running C{twist} process whose output is read by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The first new output line matching C{pattern}, within C{timeout}."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self.lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match is not None:
                return match
        output = "".join(self.seen)
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout}s"
            f" (exit status {self.process.poll()}); twist printed:\n{output}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The directory served: a file and the whoami.rpy resource script."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "whoami.rpy").write_text(WHOAMI_RPY)
    return root


@pytest.fixture
def twist(tmp_path: Path, site: Path) -> Iterator[tuple[Twist, int]]:
    """C{twist web} listening on proxy:tcp:0 on 127.0.0.1, and its port."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [
            *twist_command(),
            "--log-format=text",
            "web",
            "--listen",
            "proxy:tcp:0:interface=127.0.0.1:proxyTimeout=5",
            "--path",
            str(site),
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Twist(process)
    try:
        match = server.wait_for(r"\(PROXY\) starting on (\d+)", START)
        yield server, int(match.group(1))
    finally:
        server.stop()


def request(port: int, header: bytes, path: str) -> tuple[int, bytes]:
    """Send C{header} and a GET for C{path}; return the status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        s.sendall(
            header + f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    assert status is not None, response[:200]
    return int(status.group(1)), body


def test_access_log_shows_the_client(twist: tuple[Twist, int]) -> None:
    server, port = twist
    header = f"PROXY TCP4 203.0.113.9 127.0.0.1 5555 {port}\r\n".encode("ascii")
    status, body = request(port, header, "/hello.txt")
    assert status == 200
    assert body == b"hello\n"
    line = server.wait_for(r'"GET /hello\.txt HTTP/1\.1" 200 ').string
    assert "203.0.113.9" in line
    assert "127.0.0.1" not in line.split('"GET', 1)[0]


def test_directory_listing(twist: tuple[Twist, int]) -> None:
    server, port = twist
    header = f"PROXY TCP4 203.0.113.9 127.0.0.1 5555 {port}\r\n".encode("ascii")
    status, body = request(port, header, "/")
    assert status == 200
    assert b"hello.txt" in body
    line = server.wait_for(r'"GET / HTTP/1\.1" 200 ').string
    assert "203.0.113.9" in line


def test_resource_sees_the_client_v1(twist: tuple[Twist, int]) -> None:
    server, port = twist
    header = f"PROXY TCP4 203.0.113.9 127.0.0.1 5555 {port}\r\n".encode("ascii")
    status, body = request(port, header, "/whoami.rpy")
    assert status == 200, body
    assert json.loads(body) == {
        "client": ["IPv4Address", "203.0.113.9", 5555],
        "host": ["IPv4Address", "127.0.0.1", port],
        "source": ["IPv4Address", "203.0.113.9", 5555],
        "version": 1,
    }
    assert "203.0.113.9" in server.wait_for(r'"GET /whoami\.rpy HTTP/1\.1" 200 ').string


def test_resource_sees_the_client_v2_ipv6(twist: tuple[Twist, int]) -> None:
    server, port = twist
    header = ProxyHeader.proxy(
        IPv6Address("TCP", "2001:db8::9", 40000),
        IPv6Address("TCP", "2001:db8::1", 443),
        version=2,
    ).to_bytes()
    status, body = request(port, header, "/whoami.rpy")
    assert status == 200, body
    assert json.loads(body) == {
        "client": ["IPv6Address", "2001:db8::9", 40000],
        "host": ["IPv6Address", "2001:db8::1", 443],
        "source": ["IPv6Address", "2001:db8::9", 40000],
        "version": 2,
    }
    assert "2001:db8::9" in server.wait_for(r'"GET /whoami\.rpy HTTP/1\.1" 200 ').string


def test_no_header_is_refused(twist: tuple[Twist, int]) -> None:
    """Without a header the connection is closed, and nothing is served."""
    server, port = twist
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""
    server.wait_for(r"Rejected connection from 127\.0\.0\.1:\d+")
    # The server still serves proxied clients afterwards.
    source = IPv4Address("TCP", "198.51.100.20", 1234)
    destination = IPv4Address("TCP", "127.0.0.1", port)
    status, _ = request(port, ProxyHeader.proxy(source, destination, version=1).to_bytes(), "/")
    assert status == 200

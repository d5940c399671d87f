"""
Every example of the docs runs (issue 20): each Python file of
C{docs/examples/} is started in a fresh interpreter, listening on
127.0.0.1 port 0 where it listens, answers what its page says it answers,
and is stopped; the doctest file passes; every endpoint string parses; the
systemd units' command serves under C{systemd-socket-activate}; the plugin
cache command runs. (The load balancer configs of C{examples/} are checked
by C{tests/interop/test_readme_snippets.py} and run by the interop tests.)
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactorClock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import ProxyHeader, ProxyProtocolClientEndpoint, ProxyProtocolServerEndpoint
from pptwisted.tlv import aws_vpce_tlv

from ..certs import write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT, Started, twist_command, twist_env

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
#: Seconds any one example may take to start, answer or finish.
TIMEOUT = 60


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run C{docs/examples/NAME} to its end in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=REPO,
        env=twist_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def start_example(name: str, *args: str) -> Started:
    """Start C{docs/examples/NAME}, a server that logs "starting on PORT"."""
    return Started([sys.executable, "-u", str(EXAMPLES / name), *args], cwd=REPO, env=twist_env())


def exchange(port: int, data: bytes, wait: float = 0) -> bytes:
    """Send C{data} to 127.0.0.1:C{port} and read until the server closes."""
    deadline = time.monotonic() + wait
    while True:
        try:
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        break
    with client:
        client.sendall(data)
        reply = b""
        while chunk := client.recv(4096):
            reply += chunk
    return reply


def free_port() -> int:
    """A port free on 127.0.0.1 now (for programs that cannot say which they got)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerExampleTests(SynchronousTestCase):
    def test_hello(self) -> None:
        """hello.py (the README's ten lines) greets the client the header names."""
        code = (EXAMPLES / "hello.py").read_text()
        self.assertIn('"proxy:tcp:8080"', code)
        port = free_port()
        code = code.replace('"proxy:tcp:8080"', f'"proxy:tcp:{port}:interface=127.0.0.1"')
        server = Started([sys.executable, "-u", "-c", code], cwd=REPO, env=twist_env())
        try:
            header = f"PROXY TCP4 203.0.113.9 127.0.0.1 4321 {port}\r\n".encode()
            reply = exchange(port, header, wait=TIMEOUT)
        finally:
            output = server.stop()
        self.assertEqual(reply, b"hello 203.0.113.9\n", output)

    def test_server_endpoint(self) -> None:
        """The server starts, answers a client behind a header, logs a rejection, stops."""
        server = start_example("server_endpoint.py", "0")
        try:
            port = server.port()
            reply = exchange(port, b"PROXY TCP4 203.0.113.9 127.0.0.1 4321 8080\r\n")
            self.assertEqual(reply, b"hello 203.0.113.9 (None)\n")
            # No header: refused, and the log says so.
            self.assertEqual(exchange(port, b"GET / HTTP/1.0\r\n\r\n"), b"")
        finally:
            output = server.stop()
        self.assertIn(f"(PROXY) starting on {port}", output)
        self.assertIn("Rejected connection from 127.0.0.1:", output)
        self.assertNotIn("Traceback", output)

    def test_policy_check(self) -> None:
        """Only the allowed VPC endpoint ids get through; the rest under rule policy."""

        def header(vpce: str) -> bytes:
            return ProxyHeader.proxy(
                IPv4Address("TCP", "203.0.113.9", 4321),
                IPv4Address("TCP", "10.0.0.1", 8081),
                tlvs=[aws_vpce_tlv(vpce)],
            ).to_bytes()

        server = start_example("policy_check.py", "0")
        try:
            port = server.port()
            reply = exchange(port, header("vpce-0a1b2c3d4e5f6a7b8"))
            self.assertEqual(reply, b"hello 203.0.113.9 via vpce-0a1b2c3d4e5f6a7b8\n")
            self.assertEqual(exchange(port, header("vpce-0fffffffffffffff0")), b"")
            self.assertEqual(exchange(port, b"PROXY TCP4 203.0.113.9 10.0.0.1 1 2\r\n"), b"")
        finally:
            output = server.stop()
        self.assertEqual(output.count(": policy: "), 1, output)
        self.assertIn("version-not-accepted", output)
        self.assertNotIn("Traceback", output)

    def test_treq_agent(self) -> None:
        """Both requests reach a proxy-whoami and report the header's client."""
        server = Started(
            [
                *twist_command(),
                "--log-format=text",
                "proxy-whoami",
                "--listen",
                "proxy:tcp:0:interface=127.0.0.1",
            ],
            cwd=REPO,
            env=twist_env({"PYTHONUNBUFFERED": "1"}),
        )
        try:
            port = server.port()
            result = run_example("treq_agent.py", f"http://127.0.0.1:{port}/")
        finally:
            server.stop()
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertTrue(lines[0].startswith("200 "), result.stdout)
        self.assertIn("203.0.113.7", result.stdout)
        self.assertEqual(lines[-1], "200")

    def test_systemd_units(self) -> None:
        """
        The service's command serves on the socket the .socket unit describes,
        passed as systemd passes it (systemd-socket-activate).
        """
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            raise self.skipTest("systemd-socket-activate is not installed")
        socket_unit = (EXAMPLES / "twisted-app.socket").read_text()
        self.assertIn("\nListenStream=8080\n", socket_unit)
        service = (EXAMPLES / "twisted-app.service").read_text()
        self.assertIn("\nRequires=twisted-app.socket\n", service)
        (exec_start,) = re.findall(r"^ExecStart=(.*)$", service, re.M)
        argv = shlex.split(exec_start)
        self.assertEqual(argv[0], "/opt/twisted-app/.venv/bin/twist")
        # This machine's twist, a loopback client trusted, a folder to serve.
        www = FilePath(self.mktemp())
        www.makedirs()
        www.child("index.html").setContent(b"served through systemd\n")
        argv = [*twist_command(), *argv[1:]]
        argv = [a.replace("proxyTrusted=10.0.0.0/8", "proxyTrusted=127.0.0.0/8") for a in argv]
        argv[argv.index("/srv/www")] = www.path
        port = free_port()
        # systemd-socket-activate gives the child only the variables named by
        # -E; and Twisted wants LISTEN_FDNAMES, which systemd (227 and later)
        # always sets and systemd-socket-activate sets with --fdname.
        pythonpath = twist_env()["PYTHONPATH"]
        activation = [activate, "-l", f"127.0.0.1:{port}", "--fdname=twisted-app.socket"]
        process = subprocess.Popen(
            [*activation, "-E", f"PYTHONPATH={pythonpath}", *argv],
            cwd=REPO,
            env=twist_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            request = b"PROXY TCP4 203.0.113.9 127.0.0.1 4321 8080\r\nGET / HTTP/1.0\r\n\r\n"
            reply = exchange(port, request, wait=TIMEOUT)
        finally:
            process.terminate()
            output = process.communicate(timeout=TIMEOUT)[0]
        self.assertTrue(reply.startswith(b"HTTP/1.0 200 "), reply + output)
        self.assertTrue(reply.endswith(b"served through systemd\n"), reply)
        self.assertIn(b"203.0.113.9", output)  # twist web's access log


class RunToEndExampleTests(SynchronousTestCase):
    def test_testing_app(self) -> None:
        result = run_example("testing_app.py")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "the application saw 203.0.113.9\n")

    def test_client_endpoint(self) -> None:
        result = run_example("client_endpoint.py")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_codec_doctest(self) -> None:
        text = (EXAMPLES / "codec.txt").read_text()
        test = doctest.DocTestParser().get_doctest(text, {}, "codec.txt", "codec.txt", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        self.assertEqual(runner.summarize(verbose=False).failed, 0)
        self.assertGreater(len(test.examples), 3)

    def test_dropin_cache_command(self) -> None:
        """The command that writes Twisted's plugin cache runs (with this Python)."""
        (command,) = [
            line
            for line in (EXAMPLES / "dropin-cache.sh").read_text().splitlines()
            if line and not line.startswith("#")
        ]
        argv = shlex.split(command)
        self.assertEqual(argv[:2], ["python3", "-c"])
        result = subprocess.run(
            [sys.executable, *argv[1:]],
            env=twist_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)


class EndpointStringTests(SynchronousTestCase):
    """Each endpoint string of the endpoints page parses."""

    def test_server_strings(self) -> None:
        strings = (EXAMPLES / "server-strings.txt").read_text().split()
        self.assertIn("proxy:tcp:8080", strings)
        directory = FilePath(self.mktemp())
        directory.makedirs()
        key, cert = write_self_signed(directory, "localhost")
        for description in strings:
            if description.startswith("proxy:systemd:"):
                continue  # needs descriptors from systemd (test_systemd_units has them)
            if description.startswith("proxy:tls:") and NEEDS_TLS_ENDPOINT:
                continue
            description = (
                description.replace("privateKey=key.pem", f"privateKey={key.path}")
                .replace("certKey=cert.pem", f"certKey={cert.path}")
                .replace("/etc/app/certs", directory.path)
            )
            endpoint = serverFromString(MemoryReactorClock(), description)
            self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint, description)

    def test_client_strings(self) -> None:
        strings = (EXAMPLES / "client-strings.txt").read_text().split()
        self.assertGreater(len(strings), 3)
        for description in strings:
            endpoint = clientFromString(MemoryReactorClock(), description)
            self.assertIsInstance(endpoint, ProxyProtocolClientEndpoint, description)

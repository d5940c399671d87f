"""
The README stays true: its two commands are the ones CI runs, every option
of the proxy: endpoints is documented, and every Python block runs as pasted
(the doctest through doctest; a server block starts, answers and is stopped).
"""

from __future__ import annotations

import doctest
import re
import socket
import subprocess
import sys
from pathlib import Path

from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactorClock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import ProxyProtocolServerEndpoint
from pptwisted.endpoints._client import CLIENT_OPTIONS
from pptwisted.endpoints._server import SERVER_OPTIONS

from ..certs import write_self_signed
from ..compat import NEEDS_TLS_ENDPOINT, Started, twist_command, twist_env

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def shell_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


class ReadmeTests(SynchronousTestCase):
    def test_two_commands_first(self) -> None:
        """The README starts with the main job's command, then the test command."""
        blocks = shell_blocks(README)
        main, test = blocks[0], blocks[1]
        self.assertEqual(len(main.splitlines()), 1)
        self.assertEqual(len(test.splitlines()), 1)
        self.assertIn("pip install .", main)
        self.assertIn("proxy:tcp:", main)
        self.assertIn("apt-get install -y", test)
        self.assertIn("python -m pytest", test)

    def test_ci_runs_the_readme_test_command(self) -> None:
        test = shell_blocks(README)[1]
        ci = (REPO / ".ci" / "run").read_text()
        self.assertIn("\n" + test + "\n", ci)
        self.assertIn("PPTWISTED_REQUIRE_INTEROP=1", ci)
        for lint in ("ruff check", "ruff format --check", "mypy --strict pptwisted"):
            self.assertIn(lint, ci)

    def test_every_option_documented(self) -> None:
        for name in [*SERVER_OPTIONS, *CLIENT_OPTIONS]:
            self.assertIn(f"`{name}`", README, name)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def block_with(marker: str) -> str:
    """The one Python block of the README that contains C{marker}."""
    (block,) = [b for b in python_blocks(README) if marker in b]
    return block


#: What identifies each Python block of the README, and so its test below.
SERVER = "pptwisted.ProxyProtocolServerEndpoint(listener, policy)"
TESTING = "proxied_connection(site,"
CODEC = ">>> from pptwisted import parse_header"
CLIENT = "ProxyProtocolClientEndpoint(\n"
TREQ = "proxied_treq(reactor, header)"
CHECK = "def through_our_endpoints(header, real_peer):"
#: Run by tests/test_metrics.py (MetricsReadmeTests).
METRICS = "MetricsResource()"
#: examples/names-behind-dnsdist.py, shown verbatim (tests/interop/test_readme_snippets.py)
#: and run behind dnsdist by tests/interop/test_dnsdist.py.
NAMES = "# A Twisted Names server behind dnsdist"


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run C{code} as a script in a fresh interpreter, from the checkout."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=twist_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ReadmePythonBlockTests(SynchronousTestCase):
    """Every Python block of the README runs as pasted."""

    def test_every_block_has_a_test(self) -> None:
        markers = (SERVER, TESTING, CODEC, CLIENT, TREQ, METRICS, NAMES, CHECK)
        for block in python_blocks(README):
            self.assertEqual(
                sum(marker in block for marker in markers), 1, f"which test runs:\n{block}"
            )

    def test_codec_doctest(self) -> None:
        test = doctest.DocTestParser().get_doctest(block_with(CODEC), {}, "README", "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        self.assertEqual(runner.summarize(verbose=False).failed, 0)

    def test_testing_block(self) -> None:
        result = run_python(block_with(TESTING))
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_client_endpoint_block(self) -> None:
        result = run_python(block_with(CLIENT))
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_server_block(self) -> None:
        """The server starts, answers a client behind a header, logs, and is stopped."""
        block = block_with(SERVER)
        self.assertIn("TCP4ServerEndpoint(reactor, 8080, ", block)
        code = block.replace(
            "TCP4ServerEndpoint(reactor, 8080, ", "TCP4ServerEndpoint(reactor, 0, "
        )
        server = Started([sys.executable, "-u", "-c", code], cwd=REPO, env=twist_env())
        try:
            port = server.port()
            reply = b""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 4321 8080\r\n")
                while chunk := client.recv(1024):
                    reply += chunk
            self.assertEqual(reply, b"hello 203.0.113.9 (None)\n")
            # No header: refused, and the log says so.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"GET / HTTP/1.0\r\n\r\n")
                self.assertEqual(client.recv(1024), b"")
        finally:
            output = server.stop()
        self.assertIn(f"(PROXY) starting on {port}", output)
        self.assertIn("Rejected connection from 127.0.0.1:", output)
        self.assertNotIn("Traceback", output)

    def test_check_block(self) -> None:
        """Only the allowed VPC endpoint ids get through; the rest under rule policy."""
        from twisted.internet.address import IPv4Address

        from pptwisted import ProxyHeader
        from pptwisted.tlv import aws_vpce_tlv

        block = block_with(CHECK)
        self.assertIn("TCP4ServerEndpoint(reactor, 8081, ", block)
        code = block.replace(
            "TCP4ServerEndpoint(reactor, 8081, ", "TCP4ServerEndpoint(reactor, 0, "
        )
        port = 0

        def header(vpce: str) -> bytes:
            return ProxyHeader.proxy(
                IPv4Address("TCP", "203.0.113.9", 4321),
                IPv4Address("TCP", "10.0.0.1", 8081),
                tlvs=[aws_vpce_tlv(vpce)],
            ).to_bytes()

        def exchange(data: bytes) -> bytes:
            reply = b""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(data)
                while chunk := client.recv(1024):
                    reply += chunk
            return reply

        server = Started([sys.executable, "-u", "-c", code], cwd=REPO, env=twist_env())
        try:
            port = server.port()
            reply = exchange(header("vpce-0a1b2c3d4e5f6a7b8"))
            self.assertEqual(reply, b"hello 203.0.113.9 via vpce-0a1b2c3d4e5f6a7b8\n")
            self.assertEqual(exchange(header("vpce-0fffffffffffffff0")), b"")
            self.assertEqual(exchange(b"PROXY TCP4 203.0.113.9 10.0.0.1 1 2\r\n"), b"")
        finally:
            output = server.stop()
        self.assertEqual(output.count(": policy: "), 1, output)
        self.assertIn("version-not-accepted", output)
        self.assertNotIn("Traceback", output)

    def test_treq_block(self) -> None:
        """Both requests reach a proxy-whoami on the block's port and report the header."""
        block = block_with(TREQ)
        self.assertEqual(block.count("http://127.0.0.1:8080/"), 2)
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
            result = run_python(block.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        finally:
            server.stop()
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertTrue(lines[0].startswith("200 "), result.stdout)
        self.assertIn("203.0.113.7", result.stdout)
        self.assertEqual(lines[-1], "200")


class ReadmeEndpointExampleTests(SynchronousTestCase):
    """Each example string of the proxy: endpoint section parses."""

    def test_examples_parse(self) -> None:
        start = README.index("Examples:\n\n```\n") + len("Examples:\n\n```\n")
        examples = README[start : README.index("```", start)].split()
        self.assertIn("proxy:tcp:8080", examples)
        directory = FilePath(self.mktemp())
        directory.makedirs()
        key, cert = write_self_signed(directory, "localhost")
        for example in examples:
            if example.startswith("proxy:systemd:"):
                continue  # needs descriptors from systemd (tests/test_endpoint.py adopts one)
            if example.startswith("proxy:tls:") and NEEDS_TLS_ENDPOINT:
                continue
            description = (
                example.replace("privateKey=key.pem", f"privateKey={key.path}")
                .replace("certKey=cert.pem", f"certKey={cert.path}")
                .replace("/etc/app/certs", directory.path)
            )
            endpoint = serverFromString(MemoryReactorClock(), description)
            self.assertIsInstance(endpoint, ProxyProtocolServerEndpoint, example)

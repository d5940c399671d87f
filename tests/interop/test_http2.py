"""
HTTP/2 behind a real HAProxy (Debian's 2.6) that terminates TLS in
C{mode tcp} and sends the client's ALPN in the PROXY v2 header
(examples/haproxy-h2.cfg), to the docs' twisted.web site
(docs/examples/http2_site.py, run as a subprocess) on C{proxyALPN=yes}: curl
gets HTTP/2 or HTTP/1.1 as it asked, on one frontend; every request, several
of them multiplexed on one connection included, sees the client's address
and https; curl runs the commands of the docs' page (docs/howto/http2.rst).
Without the option an h2 client fails. The option is refused without
C{proxyTrusted} and on C{proxy:ssl:}.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import deferToThread
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import ProxyProtocolPolicy

from ..certs import make_self_signed, write_self_signed
from ..compat import REPO, twist_command, twist_env
from .harness import (
    InteropTestCase,
    Managed,
    require_address,
    require_binary,
    require_module,
)
from .test_docs_tutorial import sh_blocks

SITE = REPO / "docs" / "examples" / "http2_site.py"
PAGE = REPO / "docs" / "howto" / "http2.rst"
#: The site in the page's curl commands, which the tests replace with theirs.
PAGE_SITE = "https://www.example.com/"
#: The address curl connects from: neither HAProxy's 127.0.0.1 nor the other
#: tests' CLIENT_HOST, so that the site's answer can only come from the header.
CURL_HOST = "127.0.0.5"
#: The name in the URLs and in HAProxy's certificate.
NAME = "app.example"
#: What curl writes after each transfer, on its own line.
WRITE_OUT = "curl: %{http_version} %{local_port} %{num_connects}\n"
#: The site's endpoint, without the options each test adds.
LISTEN = "proxy:tcp:0:interface=127.0.0.1:proxyTrusted=127.0.0.1"


def page_commands() -> list[list[str]]:
    """The page's curl commands (its C{code-block:: sh} of curl lines), split."""
    [block] = [b for b in sh_blocks(PAGE.read_text()) if b and b[0].startswith("curl ")]
    return [shlex.split(line) for line in block]


class Written:
    """What curl says of one transfer (C{WRITE_OUT})."""

    def __init__(self, line: str) -> None:
        _, self.http_version, port, connects = line.split()
        self.local_port = int(port)
        self.connects = int(connects)


def parse(output: str) -> tuple[list[dict[str, Any]], list[Written]]:
    """
    The site's JSON answers and curl's C{WRITE_OUT} lines in curl's output
    (with C{--parallel} they may come in any order, but each is a whole line).
    """
    lines = output.splitlines()
    reports = [json.loads(line) for line in lines if line.startswith("{")]
    written = [Written(line) for line in lines if line.startswith("curl: ")]
    return reports, written


class HTTP2BehindHAProxyTests(InteropTestCase):
    def setUp(self) -> None:
        require_binary("haproxy")
        self.curl_path = require_binary("curl")
        require_address(CURL_HOST)
        require_module("h2")
        require_module("priority")

    async def start(self, options: str) -> int:
        """
        The docs' site on C{LISTEN} plus C{options}, behind HAProxy on the
        example config: the frontend's port.
        """
        directory = self.make_directory()
        argv = [sys.executable, "-u", str(SITE), LISTEN + options]
        site = Managed(argv, directory, "site", cwd=REPO, env=twist_env())
        self.addCleanup(deferToThread, site.stop)
        backend = await deferToThread(site.logged_port)
        key, cert = make_self_signed(NAME)
        (directory / "site.pem").write_bytes(cert + key)
        (directory / "ca.pem").write_bytes(cert)
        self.cafile = directory / "ca.pem"
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-h2.cfg",
            certificate=directory / "site.pem",
            backend=f"127.0.0.1:{backend}",
        )
        return frontend

    async def curl(self, frontend: int, command: list[str]) -> Any:
        """
        Run one of the page's curl commands from CURL_HOST, on
        https://app.example:FRONTEND/ (HAProxy), trusting its certificate.
        """
        self.assertEqual(command[0], "curl")
        site = f"https://{NAME}:{frontend}/"
        return await self.run_client(
            [
                self.curl_path,
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                "--interface",
                CURL_HOST,
                "--cacert",
                str(self.cafile),
                "--resolve",
                f"{NAME}:{frontend}:127.0.0.1",
                "--write-out",
                WRITE_OUT,
                *(word.replace(PAGE_SITE, site) for word in command[1:]),
            ]
        )

    def assertClient(
        self, report: dict[str, Any], local_port: int, frontend: int, protocol: str
    ) -> None:
        """The site saw curl's own address (from C{local_port}), https and C{protocol}."""
        self.assertEqual(
            report,
            {
                "client": [CURL_HOST, local_port],
                "protocol": protocol,
                "secure": True,
                "url": f"https://{NAME}:{frontend}/",
            },
        )

    async def test_h2_and_http11_on_one_frontend(self) -> None:
        """Each client gets the protocol it chose with HAProxy; the site sees it."""
        frontend = await self.start(":proxyALPN=yes:proxySecure=yes")
        h2, http11, _ = page_commands()
        self.assertIn("--http2", h2)
        self.assertIn("--http1.1", http11)
        for command, version, protocol in ((h2, "2", "HTTP/2"), (http11, "1.1", "HTTP/1.1")):
            result = await self.curl(frontend, command)
            self.assertEqual(result.returncode, 0, result.stderr)
            [report], [written] = parse(result.stdout)
            self.assertEqual(written.http_version, version)
            self.assertClient(report, written.local_port, frontend, protocol)

    async def test_multiplexed_requests(self) -> None:
        """
        Requests multiplexed on one HTTP/2 connection (curl --parallel waits
        for the first connection and adds streams to it): each sees the
        client's address.
        """
        frontend = await self.start(":proxyALPN=yes:proxySecure=yes")
        command = page_commands()[2]
        self.assertIn("--parallel", command)
        count = sum(word.startswith(PAGE_SITE) for word in command)
        self.assertGreaterEqual(count, 3)
        result = await self.curl(frontend, command)
        self.assertEqual(result.returncode, 0, result.stderr)
        reports, written = parse(result.stdout)
        self.assertEqual((len(reports), len(written)), (count, count))
        # One TCP connection, seen from both ends: curl connected once, from
        # one port, and every request the site served came from that port.
        self.assertEqual(sum(w.connects for w in written), 1)
        [local_port] = {w.local_port for w in written}
        self.assertEqual({w.http_version for w in written}, {"2"})
        for report in reports:
            self.assertClient(report, local_port, frontend, "HTTP/2")

    async def test_without_option_h2_fails(self) -> None:
        """
        Without proxyALPN the site speaks HTTP/1.1 to a client that chose
        h2 with HAProxy: the client gets no answer it can read. HTTP/1.1
        clients are served.
        """
        frontend = await self.start(":proxySecure=yes")
        h2, http11, _ = page_commands()
        result = await self.curl(frontend, h2)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        reports, [written] = parse(result.stdout)
        self.assertEqual((reports, written.http_version), ([], "0"))
        result = await self.curl(frontend, http11)
        self.assertEqual(result.returncode, 0, result.stderr)
        [report], [written] = parse(result.stdout)
        self.assertClient(report, written.local_port, frontend, "HTTP/1.1")


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run C{argv} from the checkout, so the dropin there is found."""
    return subprocess.run(
        argv, cwd=REPO, env=twist_env(), capture_output=True, text=True, timeout=60, check=False
    )


class ProxyALPNRefusedTests(SynchronousTestCase):
    """Where the header's ALPN cannot be trusted or is not needed, the option is refused."""

    def test_without_trusted(self) -> None:
        """Any peer could choose the protocol: proxyTrusted is required."""
        description = "proxy:tcp:0:proxyALPN=yes"
        error = self.assertRaises(ValueError, serverFromString, reactor, description)
        self.assertIn("proxyTrusted", str(error))
        error = self.assertRaises(ValueError, ProxyProtocolPolicy, alpn_from_header=True)
        self.assertIn("proxyTrusted", str(error))

    def test_on_ssl(self) -> None:
        """proxy:ssl: negotiates ALPN in its own TLS."""
        directory = FilePath(self.mktemp())
        directory.makedirs()
        key, cert = write_self_signed(directory, NAME)
        description = (
            f"proxy:ssl:0:privateKey={key.path}:certKey={cert.path}"
            ":proxyTrusted=127.0.0.1:proxyALPN=yes"
        )
        error = self.assertRaises(ValueError, serverFromString, reactor, description)
        self.assertIn("proxyALPN", str(error))

    def test_twist_web(self) -> None:
        """
        twist web exits non-zero; the last line of its output names
        proxyTrusted (Twisted's twist prints the traceback before it).
        """
        result = run([*twist_command(), "web", "--listen", "proxy:tcp:0:proxyALPN=yes"])
        self.assertNotEqual(result.returncode, 0)
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("needs proxyTrusted", last)

    def test_twist_proxy_whoami(self) -> None:
        """pptwisted's own tool says it in one line, without a traceback."""
        result = run([*twist_command(), "proxy-whoami", "--listen", "proxy:tcp:0:proxyALPN=yes"])
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        [line] = result.stderr.strip().splitlines()
        self.assertIn("needs proxyTrusted", line)

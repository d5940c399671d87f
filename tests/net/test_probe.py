"""
Tests for C{python -m pptwisted.probe} and for the C{twist} subcommands
being discoverable.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor, threads
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from pptwisted.tools.whoami import WhoamiFactory

from ..compat import twist_command, twist_env

try:
    from twisted.web.pages import notFound
except ImportError:  # twisted.web.pages is from Twisted 23.10
    from twisted.web.resource import NoResource as notFound

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=60
    )


class ProbeTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def whoami(self) -> Any:
        port = yield serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            WhoamiFactory()
        )
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @inlineCallbacks
    def test_v2_with_tlv(self):  # type: ignore[no-untyped-def]
        port = yield self.whoami()
        result = yield threads.deferToThread(
            run,
            "-m",
            "pptwisted.probe",
            f"http://127.0.0.1:{port}/?format=json",
            "--source",
            "192.0.2.5:1234",
            "--tlv",
            "authority=example.com",
            "--crc32c",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        status, _, body = result.stdout.partition("\n")
        self.assertEqual(status, "HTTP 200 OK")
        report = json.loads(body)
        self.assertEqual(report["peer"], {"type": "TCP", "host": "192.0.2.5", "port": 1234})
        self.assertEqual(report["host"], {"type": "TCP", "host": "127.0.0.1", "port": port})
        self.assertEqual(report["proxy"]["decoded"]["authority"], "example.com")
        self.assertIn("crc32c", report["proxy"]["decoded"])

    @inlineCallbacks
    def test_v1_ipv6_claim(self):  # type: ignore[no-untyped-def]
        port = yield self.whoami()
        result = yield threads.deferToThread(
            run,
            "-m",
            "pptwisted.probe",
            f"http://127.0.0.1:{port}/",
            "--header-version",
            "1",
            "--source",
            "[2001:db8::5]:99",
            "--destination",
            "[2001:db8::1]:80",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("client (getPeer): [2001:db8::5]:99 (TCP)", result.stdout)
        self.assertIn("PROXY TCP6 2001:db8::5 2001:db8::1 99 80", result.stderr)

    @inlineCallbacks
    def test_error_status(self):  # type: ignore[no-untyped-def]
        port = yield serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1").listen(
            Site(notFound())
        )
        self.addCleanup(port.stopListening)
        result = yield threads.deferToThread(
            run, "-m", "pptwisted.probe", f"http://127.0.0.1:{port.getHost().port}/missing"
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertTrue(result.stdout.startswith("HTTP 404"), result.stdout)

    @inlineCallbacks
    def test_no_response(self):  # type: ignore[no-untyped-def]
        # Bound, never listening, held to the end: connections are refused
        # and no other process can take the port meanwhile.
        probe = socket.socket()
        self.addCleanup(probe.close)
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        result = yield threads.deferToThread(
            run, "-m", "pptwisted.probe", f"http://127.0.0.1:{dead}/", "--timeout", "5"
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn("no response", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    @inlineCallbacks
    def test_bad_arguments(self):  # type: ignore[no-untyped-def]
        result = yield threads.deferToThread(
            run, "-m", "pptwisted.probe", "http://127.0.0.1:1/", "--source", "nonsense"
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn("ADDRESS:PORT", result.stderr)
        self.assertNotIn("Traceback", result.stderr)


class TwistSubcommandTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_listed(self):  # type: ignore[no-untyped-def]
        result = yield threads.deferToThread(
            subprocess.run,
            [*twist_command(), "--help"],
            cwd=REPO,
            env=twist_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertIn("proxy-whoami", result.stdout)
        self.assertIn("proxy-relay", result.stdout)

"""
A bad endpoint string or a missing optional dependency gets one line that
names the option (or the extra to install) and what is valid, and the tools
exit with their documented status, without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from pptwisted.endpoints import _server as _endpoint

from ..compat import REPO, twist_command, twist_env


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run C{argv} from the checkout, so the dropin there is found."""
    return subprocess.run(
        argv, cwd=REPO, env=twist_env(), capture_output=True, text=True, timeout=60, check=False
    )


def python(code: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", code])


class EndpointStringTests(SynchronousTestCase):
    def error(self, description: str) -> str:
        return str(
            self.assertRaises(ValueError, serverFromString, MemoryReactorClock(), description)
        )

    def test_port_not_a_number(self) -> None:
        message = self.error("proxy:tcp:notaport")
        self.assertIn("invalid port 'notaport' for the tcp: endpoint inside proxy:", message)
        self.assertIn("0 to 65535", message)

    def test_port_out_of_range(self) -> None:
        self.assertIn("invalid port '65536'", self.error("proxy:tcp6:port=65536"))

    def test_ssl_port(self) -> None:
        self.assertIn("invalid port 'x' for the ssl:", self.error("proxy:ssl:x:privateKey=k.pem"))

    def test_tls_on_old_twisted(self) -> None:
        """Before Twisted 26.4 there is no tls: server endpoint: say which release has it."""
        self.patch(_endpoint, "_HAS_TLS_ENDPOINT", False)
        message = self.error("proxy:tls:/etc/app/certs:port=443")
        self.assertIn("proxy:tls: needs Twisted 26.4 or later", message)
        self.assertIn("proxy:ssl:", message)

    def test_ssl_without_pyopenssl(self) -> None:
        with mock.patch.dict(sys.modules, {"OpenSSL": None}):
            message = self.error("proxy:ssl:443:privateKey=key.pem")
        self.assertIn("needs pyOpenSSL", message)
        self.assertIn("pip install pyOpenSSL", message)

    def test_misspelt_option(self) -> None:
        """A misspelt proxy* option: the closest name, then the names alone, short."""
        message = self.error("proxy:tcp:8080:proxytrusted=10.0.0.0/8")
        self.assertIn("unknown proxy: option 'proxytrusted'; did you mean proxyTrusted?", message)
        self.assertIn("valid: proxyHeader, proxyTrusted,", message)
        self.assertLess(len(message), 300)
        self.assertIn("did you mean proxyMaxTLVs?", self.error("proxy:tcp:8080:proxyMaxTLV=3"))

    def test_unrelated_option(self) -> None:
        """Nothing close: no guess, the valid names."""
        message = self.error("proxy:tcp:8080:proxyZZZ=1")
        self.assertNotIn("did you mean", message)
        self.assertIn("valid: proxyHeader,", message)

    def test_misspelt_client_option(self) -> None:
        message = str(
            self.assertRaises(
                ValueError,
                clientFromString,
                MemoryReactorClock(),
                "proxy:tcp:host=h:port=1:proxyLocal=yes:proxyVersoin=1",
            )
        )
        self.assertIn("unknown proxy: client option 'proxyVersoin'", message)
        self.assertIn("did you mean proxyVersion?", message)
        self.assertLess(len(message), 300)

    def test_unknown_inner_type(self) -> None:
        """An unknown type inside proxy: says so and lists the installed types."""
        message = self.error("proxy:nonsense:1")
        self.assertIn("unknown endpoint type 'nonsense' inside proxy:", message)
        self.assertNotIn("did you mean", message)
        self.assertRegex(message, r"installed server endpoint types: .*\btcp\b.*\bunix\b")
        self.assertIn("did you mean tcp?", self.error("proxy:tcpp:8080"))

    def test_unknown_inner_client_type(self) -> None:
        message = str(
            self.assertRaises(
                ValueError,
                clientFromString,
                MemoryReactorClock(),
                "proxy:nonsense:1:proxyLocal=yes",
            )
        )
        self.assertIn("unknown endpoint type 'nonsense' inside proxy:", message)
        self.assertRegex(message, r"installed client endpoint types: .*\btcp\b")

    def test_good_strings_pass(self) -> None:
        for description in ("proxy:tcp:8080", "proxy:tcp:port=0", "proxy:unix:/tmp/x.sock"):
            serverFromString(MemoryReactorClock(), description)


class TwistOneLineTests(SynchronousTestCase):
    """Under twist, a bad string is one line on stderr and a non-zero exit."""

    def check(self, argv: list[str], expected: str) -> None:
        result = run([*twist_command(), *argv])
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn("Traceback", result.stderr + result.stdout)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(expected, lines[0])

    def test_whoami_bad_port(self) -> None:
        self.check(
            ["proxy-whoami", "--listen", "proxy:tcp:notaport"],
            "twist proxy-whoami: --listen 'proxy:tcp:notaport': invalid port 'notaport'",
        )

    def test_whoami_bad_option(self) -> None:
        self.check(
            ["proxy-whoami", "--listen", "proxy:tcp:0:proxyTimout=3"],
            "unknown proxy: option 'proxyTimout'; did you mean proxyTimeout? valid: proxyHeader",
        )

    def test_relay_bad_connect(self) -> None:
        self.check(
            [
                "proxy-relay",
                "--listen",
                "tcp:0",
                "--connect",
                "proxy:tcp:host=x:port=1:proxyVersion=3",
            ],
            "twist proxy-relay: --connect",
        )


class VersionTests(SynchronousTestCase):
    """C{--version} names pptwisted's version (then Twisted's), and exits 0."""

    def check(self, argv: list[str]) -> None:
        import pptwisted
        import twisted

        result = run(argv)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.strip(),
            f"pptwisted {pptwisted.__version__} (Twisted {twisted.__version__})",
        )

    def test_whoami(self) -> None:
        self.check([*twist_command(), "proxy-whoami", "--version"])

    def test_relay(self) -> None:
        self.check([*twist_command(), "proxy-relay", "--version"])

    def test_probe(self) -> None:
        self.check([sys.executable, "-m", "pptwisted.probe", "--version"])

    def test_one_source(self) -> None:
        """The package's version is the one pyproject.toml reads: 0.2.0 and on."""
        import pptwisted
        from pptwisted import _version

        self.assertIs(pptwisted.__version__, _version.__version__)
        pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
        self.assertIn('version = { attr = "pptwisted._version.__version__" }', pyproject)
        major, minor = (int(part) for part in pptwisted.__version__.split(".")[:2])
        self.assertGreaterEqual((major, minor), (0, 2))


class MissingDependencyTests(SynchronousTestCase):
    def test_probe_without_treq(self) -> None:
        result = python(
            "import sys; sys.modules['treq'] = None\n"
            "from pptwisted.probe import main; sys.exit(main(['http://127.0.0.1:1/']))"
        )
        self.assertEqual(result.returncode, 2)
        self.assertEqual(
            result.stderr.strip(),
            "probe: needs treq, which is not installed:"
            " pip install treq (or apt-get install python3-treq)",
        )

    def test_probe_https_without_pyopenssl(self) -> None:
        result = python(
            "import sys; sys.modules['OpenSSL'] = None\n"
            "from pptwisted.probe import main; sys.exit(main(['https://127.0.0.1:1/']))"
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn("pip install pyOpenSSL", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_proxied_treq_without_treq(self) -> None:
        from pptwisted.http import proxied_treq

        with mock.patch.dict(sys.modules, {"treq.client": None}):
            error = self.assertRaises(ImportError, proxied_treq, MemoryReactorClock(), None)
        self.assertIn("pip install treq", str(error))

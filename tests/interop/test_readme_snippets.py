"""
The docs' load balancer configurations are the configs the interop tests
run: each file of examples/ is shown by a page of docs/ (C{literalinclude}),
filled in with the sample values below it is a complete file that
C{haproxy -c} or C{nginx -t} accepts, and the docs' C{examples/fill.py}
command (C{docs/examples/fill.sh}) writes it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from ..certs import write_self_signed
from .harness import EXAMPLES, render, require_binary, require_nginx_stream

REPO = Path(__file__).resolve().parent.parent.parent

DOCS = REPO / "docs"

#: Sample values for each example's placeholders (those of the docs' fill.py
#: command for haproxy-send-proxy.cfg).
SAMPLES: dict[str, dict[str, str]] = {
    "haproxy-send-proxy.cfg": {
        "mode": "tcp",
        "frontend": "*:80",
        "backend": "10.0.0.11:8080",
        "send_proxy": "send-proxy-v2",
    },
    "haproxy-tls-tlvs.cfg": {
        "frontend": "*:443",
        "certificate": "/etc/haproxy/site.pem",
        "client_ca": "/etc/haproxy/clients-ca.pem",
        "backend": "10.0.0.11:8080",
    },
    "haproxy-tls-passthrough.cfg": {"frontend": "*:443", "backend": "10.0.0.11:8443"},
    "haproxy-h2.cfg": {
        "frontend": "*:443",
        "certificate": "/etc/haproxy/site.pem",
        "backend": "10.0.0.11:8080",
    },
    "haproxy-tls-secure.cfg": {
        "tls_frontend": "*:443",
        "plain_frontend": "*:80",
        "other_frontend": "*:8443",
        "certificate": "/etc/haproxy/site.pem",
        "secure_backend": "10.0.0.11:8080",
        "other_backend": "10.0.0.12:8080",
    },
    "haproxy-health-checks.cfg": {
        "frontend": "*:80",
        "backend1": "10.0.0.11:8080",
        "backend2": "10.0.0.12:8080",
        "web1": "10.0.0.21:8080",
        "web2": "10.0.0.22:8080",
    },
    "haproxy-scale-out.cfg": {
        "frontend": "*:80",
        "backend1": "127.0.0.1:8081",
        "backend2": "127.0.0.1:8082",
    },
    "haproxy-smtp.cfg": {"frontend": "*:25", "backend": "10.0.0.11:2525"},
    "nginx-stream.conf": {"frontend": "443", "backend": "10.0.0.11:8080"},
    "haproxy-accept-proxy.cfg": {"frontend": "*:8080"},
    "haproxy-web-apps.cfg": {
        "tcp_frontend": "*:8081",
        "http_frontend": "*:80",
        "backend": "10.0.0.11:8080",
    },
    "nginx-accept-proxy.conf": {"frontend": "8080"},
    "dnsdist.conf": {"frontend": "0.0.0.0:53", "acl": "0.0.0.0/0", "backend": "10.0.0.11:5300"},
    "names-behind-dnsdist.py": {},
}


def example_names() -> list[str]:
    """The configuration templates of examples/ (not the fill.py helper)."""
    return sorted(
        p.name
        for p in EXAMPLES.iterdir()
        if p.suffix in (".cfg", ".conf", ".py") and p.name != "fill.py"
    )


class ReadmeSnippetTests(SynchronousTestCase):
    def test_every_example_in_docs(self) -> None:
        """Each example is shown, whole, by a page of the docs."""
        self.assertEqual(sorted(SAMPLES), example_names())
        included = {
            Path(match).name
            for page in DOCS.rglob("*.rst")
            for match in re.findall(
                r"^\.\. literalinclude:: (\S*examples/[^\s]+)$", page.read_text(), re.M
            )
            if "docs/examples" not in str((page.parent / match).resolve())
        }
        for name in SAMPLES:
            self.assertIn(name, included, name)

    def test_haproxy_accepts_each_snippet(self) -> None:
        """haproxy -c accepts every HAProxy example, filled in."""
        haproxy = require_binary("haproxy")
        directory = FilePath(self.mktemp())
        directory.makedirs()
        _, cert = write_self_signed(directory, "localhost")
        for name, values in SAMPLES.items():
            if not name.startswith("haproxy-"):
                continue
            config = render(name, values)
            # The TLS example names files under /etc/haproxy: this machine's
            # stand-ins (a certificate and key, used as the CA as well).
            config = config.replace("/etc/haproxy/site.pem", cert.path)
            config = config.replace("/etc/haproxy/clients-ca.pem", cert.path)
            path = directory.child(name)
            path.setContent(config.encode())
            check = subprocess.run(
                [haproxy, "-c", "-f", path.path], capture_output=True, text=True, timeout=30
            )
            self.assertEqual(check.returncode, 0, f"{name}:\n{check.stdout}{check.stderr}")

    def test_nginx_accepts_each_snippet(self) -> None:
        """nginx -t accepts every nginx example, filled in, as a whole nginx.conf."""
        nginx = require_nginx_stream()
        for name, values in SAMPLES.items():
            if not name.startswith("nginx-"):
                continue
            directory = FilePath(self.mktemp())
            directory.makedirs()
            path = directory.child("nginx.conf")
            path.setContent(render(name, values).encode())
            check = subprocess.run(
                [nginx, "-t", "-c", path.path, "-p", directory.path + "/", "-e", "stderr"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            self.assertEqual(check.returncode, 0, f"{name}:\n{check.stderr}")

    def test_fill_command(self) -> None:
        """The docs' fill.py command writes the HAProxy example with its values."""
        command = (DOCS / "examples" / "fill.sh").read_text().strip()
        argv, _, output = command.partition(" > ")
        words = shlex.split(argv)
        self.assertEqual(words[:2], ["python3", "examples/fill.py"])
        self.assertEqual(output, "haproxy.cfg")
        result = subprocess.run(
            [sys.executable, *words[1:]], cwd=REPO, capture_output=True, text=True, timeout=30
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        name = Path(words[2]).name
        self.assertEqual(result.stdout, render(name, SAMPLES[name]))

    def test_fill_every_example(self) -> None:
        """fill.py fills each example as the interop tests do, and names what is missing."""
        for name, values in SAMPLES.items():
            pairs = [f"{key}={value}" for key, value in values.items()]
            result = subprocess.run(
                [sys.executable, "examples/fill.py", f"examples/{name}", *pairs],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=30,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, render(name, values))
        missing = subprocess.run(
            [sys.executable, "examples/fill.py", "examples/nginx-stream.conf", "frontend=443"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(missing.returncode, 2)
        self.assertIn("needs values for: backend", missing.stderr)

"""
The README's load balancer snippets are the configs the interop tests run:
each file of examples/, filled in with the README's sample values, appears
in the README verbatim.
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from .harness import EXAMPLES, render

README = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text()

#: The values the README shows for each example's placeholders.
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
    "nginx-stream.conf": {"frontend": "443", "backend": "10.0.0.11:8080"},
    "haproxy-accept-proxy.cfg": {"frontend": "*:8080"},
    "nginx-accept-proxy.conf": {"frontend": "8080"},
    "dnsdist.conf": {"frontend": "0.0.0.0:53", "acl": "0.0.0.0/0", "backend": "10.0.0.11:5300"},
    "names-behind-dnsdist.py": {},
}


class ReadmeSnippetTests(SynchronousTestCase):
    def test_every_example_in_readme(self) -> None:
        self.assertEqual(sorted(SAMPLES), sorted(p.name for p in EXAMPLES.iterdir()))
        for name, values in SAMPLES.items():
            self.assertIn(render(name, values), README, name)

"""
The documentation's sources (issue 20): every example is a file that a page
includes, no page carries an inline Python block, every option of the
C{proxy:} strings is documented, and pydoctor reads every docstring without a
syntax error.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from pptwisted.endpoints._client import CLIENT_OPTIONS
from pptwisted.endpoints._server import SERVER_OPTIONS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
INCLUDE = re.compile(r"^\s*\.\. (?:literalinclude|include|image):: (\S+)\s*$", re.M)
#: Directives that would put code in a page instead of in a file.
INLINE_PYTHON = re.compile(
    r"^\s*\.\. (?:code-block|code|sourcecode)::\s*(?:python|py|python3|pycon|ipython)\b"
    r"|^\s*\.\. (?:doctest|testcode)::"
    r"|^\s*>>> ",
    re.M,
)


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


def targets(page: Path) -> list[Path]:
    return [(page.parent / target).resolve() for target in INCLUDE.findall(page.read_text())]


class DocsSourceTests(SynchronousTestCase):
    def test_pages(self) -> None:
        names = {str(p.relative_to(DOCS)) for p in pages()}
        for name in (
            "index.rst",
            "tutorial.rst",
            "howto/endpoints.rst",
            "howto/tls.rst",
            "howto/attack.rst",
            "howto/python-api.rst",
            "howto/http-clients.rst",
            "howto/udp.rst",
            "howto/testing.rst",
            "howto/metrics.rst",
            "howto/http2.rst",
            "apps/klein.rst",
            "apps/websocket.rst",
            "apps/wsgi.rst",
            "apps/smtp.rst",
            "apps/ssh.rst",
            "deployment/haproxy.rst",
            "deployment/nginx.rst",
            "deployment/dnsdist.rst",
            "deployment/aws.rst",
            "deployment/gcp.rst",
            "deployment/azure.rst",
            "deployment/kubernetes.rst",
            "deployment/processes.rst",
            "deployment/installing.rst",
            "tools.rst",
            "from-haproxy.rst",
            "versions.rst",
            "benchmarks.rst",
            "changelog.rst",
            "contributing.rst",
            "api/index.rst",
        ):
            self.assertIn(name, names)

    def test_included_files_exist(self) -> None:
        for page in pages():
            for target in targets(page):
                self.assertTrue(target.is_file(), f"{page.relative_to(DOCS)}: {target}")

    def test_no_inline_python(self) -> None:
        """Python in the docs is in files (literalinclude), which tests run."""
        for page in pages():
            match = INLINE_PYTHON.search(page.read_text())
            self.assertIsNone(match, f"{page.relative_to(DOCS)}: {match and match.group(0)}")

    def test_every_example_shown(self) -> None:
        """Each file of docs/examples/ is included by a page."""
        included = {target for page in pages() for target in targets(page)}
        for example in sorted(EXAMPLES.iterdir()):
            if example.name != "__pycache__":
                self.assertIn(example.resolve(), included, example.name)

    def test_cloud_commands_marked_untested(self) -> None:
        """What only a cloud can run says so, in the file and on its page."""
        for name in ("aws-nlb.sh", "gcp-tcp-proxy.sh", "gcp-psc.sh", "azure-private-link.sh"):
            self.assertIn("UNTESTED", (EXAMPLES / name).read_text(), name)
        self.assertIn("UNTESTED", (EXAMPLES / "k8s-service.yaml").read_text())
        for page in ("aws", "gcp", "azure", "kubernetes"):
            self.assertIn(
                "**not run by the tests**", (DOCS / "deployment" / f"{page}.rst").read_text()
            )

    def test_every_option_documented(self) -> None:
        """Each option of the proxy: strings has its entry on the endpoints page."""
        text = (DOCS / "howto" / "endpoints.rst").read_text()
        for name in [*SERVER_OPTIONS, *CLIENT_OPTIONS]:
            self.assertIsNotNone(re.search(rf"(?m)^(?:``\w+``, )*``{name}``", text), name)

    def test_docs_build_command(self) -> None:
        """The contributing page names CI's docs build."""
        command = "pip install '.[docs]' && python -m sphinx -W -b html docs docs/_build/html"
        self.assertIn(command, (DOCS / "contributing.rst").read_text())

    def test_docstrings_parse(self) -> None:
        """
        pydoctor finds no syntax error in the epytext docstrings. The docs
        build runs it quieter (it cannot resolve links into Python's and
        Twisted's documentation offline), which would hide these too.
        """
        try:
            import pydoctor  # noqa: F401
        except ImportError:
            raise self.skipTest("pydoctor is not installed (pip install '.[docs]')") from None
        output = self.mktemp()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pydoctor",
                "--quiet",
                "--docformat=epytext",
                f"--html-output={output}",
                f"--project-base-dir={REPO}",
                str(REPO / "pptwisted"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        bad = [line for line in result.stdout.splitlines() if "bad docstring" in line]
        self.assertEqual(bad, [], result.stdout)

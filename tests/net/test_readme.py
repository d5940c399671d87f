"""
The README stays true and short: its two commands come first and are the
ones CI runs, its one Python block is the docs' C{hello.py} (run by
C{tests/net/test_docs_examples.py}), it stays under 150 lines, and nothing in
it breaks on PyPI (every link and image is absolute).
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def shell_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


class ReadmeTests(SynchronousTestCase):
    def test_two_commands_first(self) -> None:
        """The README starts with the main job's command, then the test command."""
        blocks = re.findall(r"```(\w*)\n(.*?)```", README, re.DOTALL)
        (main_lang, main), (test_lang, test) = blocks[0], blocks[1]
        self.assertEqual((main_lang, test_lang), ("sh", "sh"))
        main, test = main.strip(), test.strip()
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

    def test_short(self) -> None:
        self.assertLessEqual(len(README.splitlines()), 150)

    def test_python_block_is_the_docs_example(self) -> None:
        """The ten-line example is docs/examples/hello.py, which a test runs."""
        (block,) = python_blocks(README)
        hello = (REPO / "docs" / "examples" / "hello.py").read_text()
        self.assertEqual(block, hello)
        code_lines = [line for line in block.splitlines() if line.strip()]
        self.assertLessEqual(len(code_lines), 10)

    def test_links_absolute(self) -> None:
        """No relative link or image: the README is also the PyPI page."""
        targets = re.findall(r"\]\(([^)]*)\)", README) + re.findall(
            r"<img [^>]*src=\"([^\"]*)", README
        )
        self.assertTrue(targets)
        for target in targets:
            self.assertRegex(target, r"^https://", target)
        self.assertNotIn("](#", README)

    def test_docs_links_exist(self) -> None:
        """Each link into the docs names a page of docs/."""
        base = "https://pptwisted.readthedocs.io/en/latest/"
        for page in re.findall(re.escape(base) + r"([^)#\s]+)\.html", README):
            self.assertTrue((REPO / "docs" / f"{page}.rst").exists(), page)

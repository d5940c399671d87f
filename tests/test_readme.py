"""
The README stays true: its two commands are the ones CI runs, and every
option of the proxy: endpoints is documented.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from pptwisted._client import CLIENT_OPTIONS
from pptwisted._endpoint import SERVER_OPTIONS

REPO = Path(__file__).resolve().parent.parent
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

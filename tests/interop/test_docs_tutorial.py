"""
The tutorial's commands, as its page shows them (C{docs/tutorial.rst}): the
whoami server, curl sending a v1 header, then HAProxy filled in with
C{examples/fill.py} in front of the server, curl through it. Ports are made
free ones on 127.0.0.1; the rest is as written.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from ..compat import Started, twist_command, twist_env
from .harness import require_binary

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = (REPO / "docs" / "tutorial.rst").read_text()


def sh_blocks(text: str) -> list[list[str]]:
    """The lines of each C{.. code-block:: sh} of a page."""
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: sh\n\n((?:   .*\n|\n)+)", text, re.M):
        blocks.append([line[3:] for line in match.group(1).splitlines() if line.strip()])
    return blocks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TutorialTests(SynchronousTestCase):
    def test_commands(self) -> None:
        curl = require_binary("curl")
        haproxy = require_binary("haproxy")
        install, (whoami,), curls, (fill, run_haproxy) = sh_blocks(TUTORIAL)
        self.assertEqual(install, ["python3 -m venv .venv && .venv/bin/pip install ."])
        self.assertEqual(whoami, ".venv/bin/twist proxy-whoami --listen proxy:tcp:8080")

        # 1. whoami (this environment's twist; text logs, port 0).
        argv = shlex.split(whoami)
        argv = [*twist_command(), "--log-format=text", *argv[1:]]
        argv[-1] = argv[-1].replace("proxy:tcp:8080", "proxy:tcp:0:interface=127.0.0.1")
        server = Started(argv, cwd=REPO, env=twist_env())
        self.addCleanup(server.stop)
        port = server.port()

        # 2. curl, sending a v1 header with its own addresses.
        answers = []
        for command in curls:
            words = shlex.split(command.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
            self.assertEqual(words[0], "curl")
            answers.append(
                subprocess.run(
                    [curl, "-sS", "--max-time", "10", *words[1:]],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                ).stdout
            )
        self.assertIn("127.0.0.1", answers[0])
        self.assertIsInstance(json.loads(answers[1]), dict)

        # 3. HAProxy, filled in by fill.py, in front of the server.
        front = free_port()
        directory = FilePath(self.mktemp())
        directory.makedirs()
        argv, _, output = fill.partition(" > ")
        self.assertEqual(output, "haproxy.cfg")
        words = shlex.split(argv)
        self.assertEqual(words[:2], ["python3", "examples/fill.py"])
        words = [
            w.replace("127.0.0.1:8000", f"127.0.0.1:{front}").replace(
                "127.0.0.1:8080", f"127.0.0.1:{port}"
            )
            for w in words
        ]
        config = directory.child("haproxy.cfg")
        filled = subprocess.run(
            [sys.executable, *words[1:]], cwd=REPO, capture_output=True, text=True, timeout=30
        )
        self.assertEqual(filled.returncode, 0, filled.stderr)
        config.setContent(filled.stdout.encode())
        self.assertEqual(run_haproxy, "haproxy -f haproxy.cfg")
        balancer = subprocess.Popen(
            [haproxy, "-db", "-f", config.path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(balancer.wait, 10)
        self.addCleanup(balancer.terminate)
        deadline = time.monotonic() + 20
        while True:
            through = subprocess.run(
                [curl, "-sS", "--max-time", "5", f"http://127.0.0.1:{front}/?format=json"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if through.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(through.returncode, 0, through.stderr)
        report = json.loads(through.stdout)
        self.assertEqual(report["proxy"]["version"], 2, report)
        # The header names curl's connection to HAProxy; the real peer is HAProxy.
        self.assertEqual(report["proxy"]["destination"]["port"], front, report)
        self.assertNotEqual(report["real_peer"]["port"], report["peer"]["port"], report)

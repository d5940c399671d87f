"""
Scale-out: HAProxy (roundrobin, send-proxy-v2, health checks with the
header) in front of two separate twist web processes on proxy:tcp. 200
requests with treq from 127.0.0.2: both processes serve, every access log
line has the true client address; one process is stopped mid-run, HAProxy's
health check takes it out, and the remaining requests all succeed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from .harness import free_port, render, require, start_haproxy, temp_dir, wait_for_port

REPO = Path(__file__).resolve().parent.parent.parent
CLIENT_HOST = "127.0.0.2"
REQUESTS = 200


class _BoundEndpoints:
    """Agent endpoints that connect from CLIENT_HOST."""

    def endpointForURI(self, uri: Any) -> TCP4ClientEndpoint:
        return TCP4ClientEndpoint(
            reactor, uri.host.decode(), uri.port, timeout=5, bindAddress=(CLIENT_HOST, 0)
        )


def start_twist_web(port: int, root: Path, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twisted",
            "--log-format=text",
            "web",
            "--listen",
            f"proxy:tcp:{port}:interface=127.0.0.1",
            "--path",
            str(root),
        ],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port, process, 20)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class ScaleOutTests(TestCase):
    timeout = 120

    async def test_two_processes_behind_haproxy(self) -> None:
        require("haproxy")
        directory = temp_dir()
        root = directory / "www"
        root.mkdir()
        (root / "index.html").write_text("hello\n")
        ports = [free_port(), free_port()]
        logs = [directory / "app1.log", directory / "app2.log"]
        processes = []
        for port, log in zip(ports, logs, strict=True):
            process = await deferToThread(start_twist_web, port, root, log)
            self.addCleanup(stop, process)
            processes.append(process)
        frontend = free_port()
        config = render(
            "haproxy-scale-out.cfg",
            {
                "frontend": f"127.0.0.1:{frontend}",
                "backend1": f"127.0.0.1:{ports[0]}",
                "backend2": f"127.0.0.1:{ports[1]}",
            },
        )
        haproxy, _ = await deferToThread(start_haproxy, config, [("127.0.0.1", frontend)])
        self.addCleanup(haproxy.stop)
        await deferToThread(time.sleep, 0.5)  # the first health checks

        pool = HTTPConnectionPool(reactor, persistent=False)
        client = treq.client.HTTPClient(
            Agent.usingEndpointFactory(reactor, _BoundEndpoints(), pool)
        )
        statuses: list[int] = []
        stopped_at = None
        for number in range(REQUESTS):
            if number == REQUESTS // 2:
                stop(processes[1])
                stopped_at = number
            response = await client.get(f"http://127.0.0.1:{frontend}/index.html").addTimeout(
                10, reactor
            )
            await treq.content(response)
            statuses.append(response.code)
        self.assertEqual(stopped_at, REQUESTS // 2)
        self.assertEqual(statuses, [200] * REQUESTS)
        # HAProxy's health check (with the PROXY header) took the stopped one out.
        deadline = time.monotonic() + 10
        while "app2 is DOWN" not in haproxy.output() and time.monotonic() < deadline:
            await deferToThread(time.sleep, 0.1)
        self.assertIn("app2 is DOWN", haproxy.output())
        self.assertNotIn("app1 is DOWN", haproxy.output())

        served = []
        for log in logs:
            text = log.read_text(errors="replace")
            lines = [line for line in text.splitlines() if '"GET /index.html' in line]
            served.append(len(lines))
            for line in lines:
                match = re.search(r'"(\d+\.\d+\.\d+\.\d+)" - - \[', line)
                self.assertIsNotNone(match, line)
                assert match is not None
                self.assertEqual(match.group(1), CLIENT_HOST, line)
        self.assertGreater(served[0], 0)
        self.assertGreater(served[1], 0)
        self.assertEqual(sum(served), REQUESTS)
        # After the stop, only the first process served.
        self.assertGreaterEqual(served[0], REQUESTS // 2)

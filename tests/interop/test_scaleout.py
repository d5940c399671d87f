"""
Scale-out, the way to run on more than one core or machine: HAProxy
(roundrobin, send-proxy-v2, health checks carrying the header) in front of
two separate C{twist web} processes on proxy:tcp. 200 requests with treq
from 127.0.0.2, a few at a time: both processes serve, and every request is
answered and logged with the true client address. Half way, one process is
stopped: HAProxy's health check takes it out and the remaining requests
all succeed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.threads import deferToThread
from twisted.web.client import Agent, HTTPConnectionPool

from ..compat import twist_command, twist_env
from .harness import (
    CLIENT_HOST,
    REPO,
    HAProxy,
    InteropTestCase,
    Managed,
    require_address,
    require_binary,
    sleep,
)

REQUESTS = 200
#: Requests in flight at once.
CONCURRENCY = 4
#: After the stop, each worker waits this long before each request, so that
#: requests keep coming while the health checks notice, and after.
PACE = 0.03
#: Twisted's access log: the client host in quotes, then the request line.
ACCESS_LINE = re.compile(
    r'"(?P<host>[^"]+)" - - \[[^]]+\] "GET /scale-out/(?P<n>\d+) HTTP/1.1" 200'
)


@dataclass
class Outcome:
    """One request: when it started and ended, and what came back."""

    number: int
    started: float
    ended: float = 0.0
    status: int = 0
    report: Any = None
    error: str = ""


class BoundEndpoints:
    """Agent endpoints that connect from CLIENT_HOST, recording each local port."""

    def __init__(self) -> None:
        self.local_ports: list[int] = []

    def endpointForURI(self, uri: Any) -> Any:
        endpoint = TCP4ClientEndpoint(
            reactor, uri.host.decode(), uri.port, timeout=5, bindAddress=(CLIENT_HOST, 0)
        )
        ports = self.local_ports

        class Recording:
            def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
                def record(protocol: Any) -> Any:
                    ports.append(protocol.transport.getHost().port)
                    return protocol

                return endpoint.connect(factory).addCallback(record)

        return Recording()


async def start_twist_web(directory: Path, name: str) -> tuple[Managed, int]:
    """A C{twist web} process on proxy:tcp:0 serving ReportResource; its port."""
    process = Managed(
        [
            *twist_command(),
            "--log-format=text",
            "web",
            "--listen",
            "proxy:tcp:0:interface=127.0.0.1",
            "--class",
            "tests.interop.servers.ReportResource",
        ],
        directory,
        name,
        cwd=REPO,
        env=twist_env({"PYTHONUNBUFFERED": "1"}),
    )
    deadline = time.monotonic() + 20
    while (match := re.search(r"starting on (\d+)", process.output())) is None:
        if process.process.poll() is not None or time.monotonic() > deadline:
            await deferToThread(process.stop)
            raise RuntimeError(f"twist web did not start:\n{process.output()}")
        await sleep(0.05)
    return process, int(match.group(1))


class ScaleOutTests(InteropTestCase):
    timeout = 90

    def setUp(self) -> None:
        require_binary("haproxy")
        require_address(CLIENT_HOST)

    async def test_two_processes_behind_haproxy(self) -> None:
        directory = self.make_directory()
        apps: list[Managed] = []
        ports: list[int] = []
        for name in ("app1", "app2"):
            app, port = await start_twist_web(directory, name)
            self.addCleanup(deferToThread, app.stop)
            apps.append(app)
            ports.append(port)
        haproxy, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-scale-out.cfg",
            backend1=f"127.0.0.1:{ports[0]}",
            backend2=f"127.0.0.1:{ports[1]}",
        )
        # Both UP by their health checks (v2 LOCAL headers) before traffic.
        await self.wait_for_checks(haproxy, {"app1": "L4OK", "app2": "L4OK"})

        endpoints = BoundEndpoints()
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = HTTPClient(Agent.usingEndpointFactory(reactor, endpoints, pool))
        outcomes: list[Outcome] = []
        numbers = iter(range(REQUESTS))
        stopped: Deferred[None] = Deferred()
        stopped_at: list[float] = []
        down_at: list[float] = []

        async def worker() -> None:
            for number in numbers:
                if number >= REQUESTS // 2:
                    if number == REQUESTS // 2:
                        await deferToThread(apps[1].stop)
                        stopped_at.append(time.monotonic())
                        stopped.callback(None)
                    await sleep(PACE)
                outcome = Outcome(number, time.monotonic())
                outcomes.append(outcome)
                try:
                    response = await client.get(
                        f"http://127.0.0.1:{frontend}/scale-out/{number}"
                    ).addTimeout(10, reactor)
                    outcome.status = response.code
                    outcome.report = json.loads(await treq.content(response))
                except Exception as e:
                    outcome.error = repr(e)
                outcome.ended = time.monotonic()

        async def watch_health() -> None:
            await stopped
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                servers = await deferToThread(haproxy.servers)
                if servers["app2"]["status"] == "DOWN":
                    down_at.append(time.monotonic())
                    return
                await sleep(0.02)

        await gatherResults(
            [Deferred.fromCoroutine(worker()) for _ in range(CONCURRENCY)]
            + [Deferred.fromCoroutine(watch_health())]
        )
        await self.close_pool(pool)
        # Stop the survivor too, so that its log is complete.
        await deferToThread(apps[0].stop)

        # Every request answered, by twisted.web, seeing the true client.
        self.assertEqual(len(outcomes), REQUESTS)
        failed = [o for o in outcomes if o.status != 200]
        self.assertEqual(failed, [])
        for outcome in outcomes:
            self.assertEqual(outcome.report["client_address"]["host"], CLIENT_HOST)
            self.assertEqual(outcome.report["peer"]["host"], CLIENT_HOST)
            self.assertEqual(
                outcome.report["host"], {"type": "TCP", "host": "127.0.0.1", "port": frontend}
            )
            self.assertEqual(outcome.report["proxy"]["version"], 2)
        # ... down to the port: one connection per request, and the ports the
        # application saw are the ones the client's sockets had.
        client_ports = [o.report["client_address"]["port"] for o in outcomes]
        self.assertEqual(sorted(client_ports), sorted(endpoints.local_ports))

        # Both processes served before the stop; only the survivor after the
        # health check took the stopped one out, and requests kept coming.
        pids = [apps[0].process.pid, apps[1].process.pid]
        first_half = [o.report["pid"] for o in outcomes if o.number < REQUESTS // 2]
        self.assertGreater(first_half.count(pids[0]), REQUESTS // 8)
        self.assertGreater(first_half.count(pids[1]), REQUESTS // 8)
        self.assertEqual(len(down_at), 1, "HAProxy never marked app2 DOWN")
        after_stop = [o for o in outcomes if o.started > stopped_at[0]]
        after_down = [o for o in outcomes if o.started > down_at[0]]
        self.assertEqual({o.report["pid"] for o in after_stop}, {pids[0]})
        self.assertGreater(len(after_down), REQUESTS // 10)
        log = haproxy.output()
        self.assertRegex(log, r"Server twisted/app2 is DOWN, reason: Layer4 connection problem")
        self.assertNotIn("app1 is DOWN", log)

        # Each process's access log: a line for every request it answered,
        # each with the true client address; nothing rejected by pptwisted.
        # The stopped process may also have logged a request whose answer
        # its shutdown cut off: HAProxy replayed it (retry-on
        # empty-response), so the survivor answered it.
        answered_by = {o.number: o.report["pid"] for o in outcomes}
        for app, pid in zip(apps, pids, strict=True):
            text = app.output()
            logged = [m for m in ACCESS_LINE.finditer(text)]
            self.assertEqual({m["host"] for m in logged}, {CLIENT_HOST})
            served = {o.number for o in outcomes if o.report["pid"] == pid}
            numbers = {int(m["n"]) for m in logged}
            self.assertLessEqual(served, numbers)
            for number in numbers - served:
                self.assertEqual(pid, pids[1], f"request {number} logged by the survivor")
                self.assertEqual(answered_by[number], pids[0], f"request {number} not replayed")
            self.assertNotIn("Rejected connection", text)
            self.assertNotIn("Timed out", text)

    async def wait_for_checks(self, haproxy: HAProxy, expected: dict[str, str]) -> None:
        """Wait until each server is UP with the given last check status."""
        deadline = time.monotonic() + 10
        while True:
            servers = await deferToThread(haproxy.servers)
            seen = {
                name: (servers[name]["status"], servers[name]["check_status"]) for name in expected
            }
            if seen == {name: ("UP", status) for name, status in expected.items()}:
                return
            if time.monotonic() > deadline:
                self.fail(f"servers not UP by their checks: {seen}")
            await sleep(0.05)

    async def close_pool(self, pool: HTTPConnectionPool) -> None:
        await pool.closeCachedConnections()

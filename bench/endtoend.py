"""
End to end behind a real HAProxy: requests per second of twisted.web behind
HAProxy in TCP mode, one new connection per request (C{ab} from
apache2-utils, HTTP/1.0), for the server on plain C{tcp:} (HAProxy sends no
header), on C{proxy:tcp}, on Twisted's C{haproxy:tcp} and on the floor
(parsing and one dispatch, see L{bench._server.listen_floor}) (HAProxy sends
a v2 header).

Two shapes of the header on the wire, each with its own tcp baseline:

- C{alone}: HAProxy connects to the server as soon as the client connects,
  so the header usually comes in a read of its own (HAProxy 2.6's habit);
- C{with data}: HAProxy waits for the client's request first
  (C{tcp-request inspect-delay}), so the header and the request come
  together.

The server processes run on one CPU; HAProxy and C{ab} on the other. Rounds
alternate the contenders; each ratio is the median over rounds of the ratio
within a round.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.connections import LOAD_CPU, SERVER_CPU, Server, _taskset

SHAPES = {
    "alone": "",
    "with data": "    tcp-request inspect-delay 2s\n"
    "    tcp-request content accept if { req.len gt 0 }\n",
}
#: The floor (bench._server.listen_floor): what parsing and one dispatch
#: cost at least, for a reading of how close to it a target is.
KINDS = {
    "tcp": "",
    "proxy": " send-proxy-v2",
    "haproxy": " send-proxy-v2",
    "floor": " send-proxy-v2",
}


def available() -> str | None:
    """Why this benchmark cannot run here, or C{None}."""
    for binary in ("haproxy", "ab"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed"
    return None


def _free_port() -> int:
    # The frontends of the HAProxy under test (HAProxy takes no port 0).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The start of every benchmark HAProxy config: TCP mode, room for the load.
HAPROXY_DEFAULTS = [
    "global",
    "    maxconn 8192",
    "defaults",
    "    mode tcp",
    "    timeout connect 5s",
    "    timeout client 30s",
    "    timeout server 30s",
]


@contextlib.contextmanager
def running_haproxy(config: str) -> Iterator[None]:
    """
    HAProxy running C{config} on the load generator's CPU, for the block:
    started, given a second to bind (or its error raised), stopped after.
    """
    with tempfile.TemporaryDirectory(prefix="bench-haproxy-") as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(config)
        haproxy = subprocess.Popen(
            [*_taskset(LOAD_CPU), "haproxy", "-db", "-f", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(1.0)
            if haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited: {haproxy.stderr.read()!r}")  # type: ignore[union-attr]
            yield
        finally:
            haproxy.terminate()
            haproxy.wait(10)


def _config(backends: dict[str, int], frontends: dict[tuple[str, str], int]) -> str:
    lines = list(HAPROXY_DEFAULTS)
    for (kind, shape), port in frontends.items():
        name = f"{kind}_{shape.replace(' ', '_')}"
        lines += [
            f"frontend f_{name}",
            f"    bind 127.0.0.1:{port}",
            SHAPES[shape].rstrip("\n"),
            f"    default_backend b_{name}",
            f"backend b_{name}",
            f"    server s 127.0.0.1:{backends[kind]}{KINDS[kind]}",
        ]
    return "\n".join(line for line in lines if line) + "\n"


def _ab(port: int, requests: int, concurrency: int) -> float:
    result = subprocess.run(
        [
            *_taskset(LOAD_CPU),
            "ab",
            "-q",
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = re.search(r"Requests per second:\s+([\d.]+)", result.stdout)
    failed = re.search(r"Failed requests:\s+(\d+)", result.stdout)
    # ab counts a 404 as served: a benchmark of error pages is worthless.
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", result.stdout)
    if result.returncode != 0 or found is None or (failed and int(failed[1])) or non_2xx:
        raise RuntimeError(f"ab failed: {result.stdout[-800:]} {result.stderr[-400:]}")
    return float(found[1])


def run(quick: bool = False, seed: int = 1) -> dict[str, Any]:
    """Requests per second by contender, and each one's ratio to tcp of its shape."""
    requests, rounds, concurrency = (1000, 2, 4) if quick else (3000, 5, 4)
    servers = {kind: Server(kind, "web") for kind in KINDS}
    frontends = {(kind, shape): _free_port() for kind in KINDS for shape in SHAPES}
    try:
        with running_haproxy(_config({k: s.port for k, s in servers.items()}, frontends)):
            for port in frontends.values():
                _ab(port, 200, concurrency)  # warm up
            rng = random.Random(seed)
            samples: dict[str, list[float]] = {}
            ratios: dict[str, list[float]] = {}
            for _ in range(rounds):
                order = list(frontends)
                rng.shuffle(order)
                this_round = {}
                for kind, shape in order:
                    time.sleep(0.3)
                    this_round[(kind, shape)] = _ab(frontends[kind, shape], requests, concurrency)
                for (kind, shape), rps in this_round.items():
                    label = f"{kind}, header {shape}"
                    samples.setdefault(label, []).append(rps)
                    ratios.setdefault(label, []).append(rps / this_round["tcp", shape])
    finally:
        for server in servers.values():
            server.close()
    return {
        "requests": requests,
        "rounds": rounds,
        "rps": {label: statistics.median(v) for label, v in samples.items()},
        "ratio_vs_tcp": {label: statistics.median(v) for label, v in ratios.items()},
    }


__all__ = ["SERVER_CPU", "available", "run"]

"""
Connection benchmarks: what the PROXY layer costs a server, measured side by
side in one run against plain C{tcp:} and Twisted's C{haproxy:}.

Each server is its own process (C{bench._server}); the load comes from
another process (C{bench._load}), on loopback. Figures:

- server CPU per connection: user+system CPU of the server process, read
  from the OS (C{/proc/PID/task/*/schedstat}, nanoseconds), over many short
  connections (header, one request line, one response, close), for
  C{proxy:tcp} and C{haproxy:tcp} with v1 and v2 headers, and C{tcp} with no
  header. Rounds alternate the contenders in a shuffled order; the median
  round is reported.
- bulk throughput: bytes after the header through a discard server, proxy
  vs tcp, as seen by the client; median of rounds.
- memory per pending connection: RSS growth of the server with many
  connections that sent half a v1 header, vs the same number of idle plain
  tcp connections; and with connections holding a v2 header one byte short
  of the 16 KiB cap, to show the bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "tcp": "tcp:0:interface=127.0.0.1:backlog=1024",
    "proxy": "proxy:tcp:0:interface=127.0.0.1:backlog=1024:proxyTimeout=300",
    "haproxy": "haproxy:tcp:0:interface=127.0.0.1:backlog=1024",
    # Parsing, one dispatch, an armed timer: see bench._server.listen_floor.
    "floor": "floor",
}
MiB = 1024 * 1024


def _cpus() -> list[int]:
    """The CPUs this process may run on (all of them where that is unknown)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return sorted(affinity(0))
    return list(range(os.cpu_count() or 1))


# On a machine with two CPUs or more, the server runs on one and the load
# generator on another, the same for every contender: otherwise where the
# scheduler happens to put them (sharing a CPU or not) dominates the figures.
_CPUS = _cpus()
SERVER_CPU = _CPUS[0]
LOAD_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]


#: Seconds between two measured runs, for the previous one's aftermath
#: (closing sockets, freeing buffers) to finish.
SETTLE = 0.3


def pin(pid: int, cpu: int) -> None:
    """Keep process C{pid} on C{cpu} (where the OS lets us)."""
    setaffinity = getattr(os, "sched_setaffinity", None)
    if setaffinity is not None:
        setaffinity(pid, {cpu})


def _taskset(cpu: int) -> list[str]:
    """The command prefix that runs a process on C{cpu}, if there is one."""
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


@dataclass(frozen=True)
class Scale:
    """How much work each figure does."""

    connections: int
    rounds: int
    concurrency: int
    bulk_bytes: int
    bulk_rounds: int
    pending: int
    pending_cap: int
    instructions: int
    instructions_warm: int


FULL = Scale(
    connections=3000,
    rounds=9,
    concurrency=16,
    bulk_bytes=1024 * MiB,
    bulk_rounds=7,
    pending=5000,
    pending_cap=1000,
    instructions=400,
    instructions_warm=50,
)
QUICK = Scale(
    connections=1500,
    rounds=2,
    concurrency=16,
    bulk_bytes=256 * MiB,
    bulk_rounds=3,
    pending=1000,
    pending_cap=200,
    instructions=100,
    instructions_warm=20,
)


class Server:
    """A benchmark server process."""

    def __init__(self, kind: str, app: str, endpoint: str | None = None) -> None:
        """Start the server; C{endpoint} (else C{ENDPOINTS[kind]}) is its description."""
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench._server", endpoint or ENDPOINTS[kind], app],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        pin(self.process.pid, SERVER_CPU)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"{kind} server did not start: {line!r} {error[-500:]}")
        self.port = int(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User+system CPU time of all the server's threads."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def servers(app: str, kinds: list[str]) -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    try:
        for kind in kinds:
            started[kind] = Server(kind, app)
        yield started
    finally:
        for server in started.values():
            server.close()


def load(*args: object, timeout: float = 600) -> dict[str, Any]:
    """Run the load generator to completion; its JSON result."""
    result = subprocess.run(
        [*_taskset(LOAD_CPU), sys.executable, "-m", "bench._load", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load {args} failed: {result.stderr[-1000:]}")
    data: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return data


# (label, server kind, header sent)
CPU_CONTENDERS = [
    ("tcp", "tcp", "none"),
    ("proxy v1", "proxy", "v1"),
    ("proxy v2", "proxy", "v2"),
    ("haproxy v1", "haproxy", "v1"),
    ("haproxy v2", "haproxy", "v2"),
    ("floor v1", "floor", "v1"),
    ("floor v2", "floor", "v2"),
]


def cpu_per_connection(scale: Scale, seed: int = 1) -> dict[str, dict[str, float]]:
    """
    Server CPU µs per connection for each contender (median over rounds),
    and each contender's ratio to plain tcp: the median over rounds of the
    ratio within a round, where all contenders run back to back, so that a
    slow spell of the machine weighs on both sides of a ratio.
    """
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {label: [] for label, _, _ in CPU_CONTENDERS}
    ratios: dict[str, list[float]] = {label: [] for label, _, _ in CPU_CONTENDERS}
    with servers("line", ["tcp", "proxy", "haproxy", "floor"]) as running:
        # Warm up every server (first-use costs, heap growth) before measuring.
        for _, kind, header in CPU_CONTENDERS:
            load("conns", running[kind].port, header, scale.connections, scale.concurrency)
        for _ in range(scale.rounds):
            order = list(CPU_CONTENDERS)
            rng.shuffle(order)
            this_round: dict[str, float] = {}
            for label, kind, header in order:
                server = running[kind]
                time.sleep(SETTLE)
                before = server.cpu_seconds()
                load("conns", server.port, header, scale.connections, scale.concurrency)
                spent = server.cpu_seconds() - before
                this_round[label] = spent / scale.connections * 1e6
            for label, value in this_round.items():
                samples[label].append(value)
                ratios[label].append(value / this_round["tcp"])
    return {
        "us": {label: statistics.median(values) for label, values in samples.items()},
        "ratio_vs_tcp": {label: statistics.median(values) for label, values in ratios.items()},
    }


def _callgrind_one(kind: str, header: str, count: int, warm: int) -> float:
    """
    User-space instructions per connection of one server (callgrind), over
    C{count} connections made one at a time after C{warm} uncounted ones.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        process = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench._server",
                ENDPOINTS[kind],
                "line",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.strip().isdigit():
                raise RuntimeError(f"{kind} server under callgrind did not start: {line!r}")
            port = int(line)
            load("serial", port, header, warm)
            subprocess.run(
                ["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True
            )
            load("serial", port, header, count)
            # Off before the exit, whose teardown is no connection's cost.
            subprocess.run(
                ["callgrind_control", "-i", "off", str(process.pid)],
                check=True,
                capture_output=True,
            )
            process.terminate()
            process.wait(600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        totals = [
            line
            for line in out.read_text().splitlines()
            if line.startswith(("totals:", "summary:"))
        ]
        if not totals:
            raise RuntimeError(f"no totals in the callgrind output of {kind}")
        return int(totals[-1].split()[1]) / count


def instructions(scale: Scale) -> dict[str, float]:
    """User-space instructions per connection, by contender (deterministic)."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return {}
    # The minimum of two runs: a run can only gain instructions (an event
    # loop turn more when the machine is busy), never lose some.
    return {
        label: min(
            _callgrind_one(kind, header, scale.instructions, scale.instructions_warm)
            for _ in range(2)
        )
        for label, kind, header in CPU_CONTENDERS
    }


def throughput(scale: Scale) -> dict[str, float]:
    """Median MiB/s through a discard server, proxy (v2 header) vs tcp."""
    samples: dict[str, list[float]] = {"tcp": [], "proxy": []}
    order = [("tcp", "none"), ("proxy", "v2")]
    with servers("discard", ["tcp", "proxy"]) as running:
        for _ in range(scale.bulk_rounds):
            order.reverse()
            for kind, header in order:
                time.sleep(SETTLE)
                result = load("bulk", running[kind].port, header, scale.bulk_bytes)
                samples[kind].append(result["bytes"] / MiB / result["seconds"])
    return {kind: statistics.median(values) for kind, values in samples.items()}


def _pending_growth(kind: str, sent: str, count: int) -> float:
    """RSS growth of a server per pending connection, KiB."""
    with servers("idle", [kind]) as running:
        server = running[kind]
        load("conns", server.port, "none", 0, 1)
        time.sleep(0.3)
        base_fds = server.fds()
        before = server.rss_kib()
        holder = subprocess.Popen(
            [sys.executable, "-m", "bench._load", "pending", str(server.port), sent, str(count)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            holder.stdout.readline()
            deadline = time.monotonic() + 60
            while server.fds() < base_fds + count and time.monotonic() < deadline:
                time.sleep(0.05)
            # Let the server read what was sent.
            time.sleep(1.0)
            settled = server.rss_kib()
            time.sleep(0.5)
            after = max(settled, server.rss_kib())
            if server.fds() < base_fds + count:
                raise RuntimeError(f"only {server.fds() - base_fds} of {count} connections")
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(60)
        return (after - before) / count


def memory(scale: Scale) -> dict[str, float]:
    """KiB per pending connection: idle tcp, half a v1 header, v2 at the cap."""
    return {
        "tcp idle": _pending_growth("tcp", "idle", scale.pending),
        "proxy half v1": _pending_growth("proxy", "half-v1", scale.pending),
        "proxy v2 at cap": _pending_growth("proxy", "v2-cap", scale.pending_cap),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """All connection figures."""
    scale = QUICK if quick else FULL
    return {
        "scale": scale.__dict__,
        "instructions_per_connection": instructions(scale),
        "cpu_us_per_connection": cpu_per_connection(scale),
        "throughput_mib_s": throughput(scale),
        "memory_kib_per_pending_connection": memory(scale),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))

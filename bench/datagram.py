"""
PROXY over UDP: the CPU that L{pptwisted.ProxyProtocolDatagramWrapper} adds
per datagram, in both framings, and a Twisted Names server's queries per
second through it.

    python -m bench.datagram [--quick] [--json]

Method. Every figure is a paired measurement: each round times the wrapped
case and its bare twin one after the other (shuffled order, best of a few
batches each, garbage collector off), and the figure is the median over
rounds of the per-round difference (µs added) or ratio. Both twins run the
same statement shape on the same inputs, so loop and call overheads cancel.

Rows:

  - CPU added per datagram (target: at most 1 µs; a pure-Python floor is
    about 0.8 µs, most of it C{parse_header}). The application is a
    C{DatagramProtocol} that does nothing; the bare twin is that protocol's
    C{datagramReceived(payload, client)}. Cases: C{every} with a new client
    per datagram (as from dnsdist, one query per client port) in a table
    full at C{max_flows} (so each datagram evicts the oldest flow); C{every}
    with one client (a flow hit); C{first}, a bare datagram of a live flow;
    C{first}, a header on each datagram (a new flow each time).
  - Twisted Names queries per second: C{DNSDatagramProtocol} and
    C{DNSServerFactory} (a resolver answering TXT at once) fed DNS queries
    in process, each from a new client, through the wrapper (C{every}) vs
    bare (target: at least 0.9x). No sockets: the kernel's share per query
    is the same with and without the header, so leaving it out makes the
    ratio stricter, not looser.
  - The largest flow table tried: µs per datagram while a table of that size
    turns over, and its memory per flow (tracemalloc).
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.names import common, dns, server

if not __package__:  # run as a script: python bench/datagram.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench._timing as timing
from pptwisted import ProxyProtocolDatagramWrapper
from pptwisted._datagram import datagram_header

__all__ = ["CPU_TARGET_US", "LARGEST_TABLE", "QPS_TARGET", "run"]

#: Most µs the wrapper may add per datagram.
CPU_TARGET_US = 1.0
#: Least ratio of queries/s through the wrapper to queries/s bare.
QPS_TARGET = 0.9
#: The largest flow table measured (flows).
LARGEST_TABLE = 1_000_000
#: Distinct clients cycled through (more than the table holds in the eviction case).
CLIENTS = 4096
PROXY = ("127.0.0.1", 40000)
FRONTEND = ("198.51.100.1", 53)
PAYLOAD = b"\x12\x34" + b"\x00" * 38  # the size of a small DNS query


class _Port:
    """The bits of a UDP port the wrapper and the DNS protocol use."""

    maxPacketSize = 65535

    def write(self, data: bytes, addr: Any = None) -> None:
        pass

    def getHost(self) -> Any:
        return None


class _Null(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        pass


def _clients(count: int) -> list[tuple[str, int]]:
    return [
        (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1024 + i % 60000) for i in range(count)
    ]


class _Clock(Clock):
    """A clock telling the time as the reactor does (a C function), not in Python."""

    seconds = staticmethod(time.time)  # type: ignore[assignment]


def _wrapper(protocol: Any, **kwargs: Any) -> ProxyProtocolDatagramWrapper:
    wrapper = ProxyProtocolDatagramWrapper(protocol, clock=_Clock(), **kwargs)
    wrapper.makeConnection(_Port())  # type: ignore[arg-type]
    return wrapper


def _cpu_cases() -> dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """Row -> (wrapped statement, namespace, bare statement, namespace)."""
    clients = _clients(CLIENTS)
    headed = [(datagram_header(c, FRONTEND) + PAYLOAD, PROXY) for c in clients]
    bare = [(PAYLOAD, c) for c in clients]
    null = _Null()
    cases: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {}

    every_full = _wrapper(_Null(), max_flows=CLIENTS // 4)
    cases["every: new client per datagram, table full (evicts)"] = (
        "f(*n())",
        {"f": every_full.datagramReceived, "n": itertools.cycle(headed).__next__},
        "f(*n())",
        {"f": null.datagramReceived, "n": itertools.cycle(bare).__next__},
    )
    every_one = _wrapper(_Null())
    cases["every: one client (flow hit)"] = (
        "f(*n())",
        {"f": every_one.datagramReceived, "n": itertools.repeat(headed[0]).__next__},
        "f(*n())",
        {"f": null.datagramReceived, "n": itertools.repeat(bare[0]).__next__},
    )
    first_hit = _wrapper(_Null(), header_on="first")
    first_hit.datagramReceived(headed[0][0], PROXY)
    cases["first: bare datagram of a live flow"] = (
        "f(*n())",
        {"f": first_hit.datagramReceived, "n": itertools.repeat((PAYLOAD, PROXY)).__next__},
        "f(*n())",
        {"f": null.datagramReceived, "n": itertools.repeat(bare[0]).__next__},
    )
    first_new = _wrapper(_Null(), header_on="first", max_flows=CLIENTS // 4)
    sockets = [(d, ("127.0.0.1", 20000 + i)) for i, (d, _) in enumerate(headed)]
    cases["first: header on each datagram (new flow)"] = (
        "f(*n())",
        {"f": first_new.datagramReceived, "n": itertools.cycle(sockets).__next__},
        "f(*n())",
        {"f": null.datagramReceived, "n": itertools.cycle(bare).__next__},
    )
    return cases


class _TXTResolver(common.ResolverBase):
    """Answers every TXT query at once."""

    def _lookup(
        self, name: bytes, cls: int, type: int, timeout: Any
    ) -> Deferred[tuple[list[Any], list[Any], list[Any]]]:
        record = dns.Record_TXT(b"192.0.2.1:5353", ttl=0)
        answer = dns.RRHeader(name, dns.TXT, dns.IN, 0, record)
        return succeed(([answer], [], []))


def _names_cases() -> dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]]:
    query = _query_datagrams(False)[0]
    clients = _clients(CLIENTS)
    headed = [(datagram_header(c, FRONTEND) + query, PROXY) for c in clients]
    bare = [(query, c) for c in clients]
    plain = _names_protocol()
    plain.makeConnection(_Port())  # type: ignore[arg-type]
    wrapped = _wrapper(_names_protocol())
    return {
        "Twisted Names queries/s, every": (
            "f(*n())",
            {"f": wrapped.datagramReceived, "n": itertools.cycle(headed).__next__},
            "f(*n())",
            {"f": plain.datagramReceived, "n": itertools.cycle(bare).__next__},
        )
    }


def _paired(
    cases: Mapping[str, tuple[str, dict[str, Any], str, dict[str, Any]]],
    settings: timing.Settings,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per row: median µs of each twin, median per-round difference and ratio."""
    timers: list[tuple[str, str, timeit.Timer, int]] = []
    cost = 0.0
    for row, (stmt, ns, bare_stmt, bare_ns) in cases.items():
        for twin, s, n in (("wrapped", stmt, ns), ("bare", bare_stmt, bare_ns)):
            timer = timeit.Timer(s, globals=n)
            number, per_call = timing._calibrate(timer, settings.batch_s)
            timers.append((row, twin, timer, number))
            cost += settings.repeats * number * per_call
    rounds = max(settings.min_rounds, int(settings.budget_s / cost))
    rng = random.Random(seed)
    per_round: dict[tuple[str, str], list[float]] = {(r, t): [] for r, t, _, _ in timers}
    for _ in range(rounds):
        rng.shuffle(timers)
        for row, twin, timer, number in timers:
            best = min(timer.timeit(number) for _ in range(settings.repeats))
            per_round[row, twin].append(best / number * 1e6)
    result = {}
    for row in cases:
        wrapped, bare = per_round[row, "wrapped"], per_round[row, "bare"]
        result[row] = {
            "wrapped_us": statistics.median(wrapped),
            "bare_us": statistics.median(bare),
            "added_us": statistics.median(w - b for w, b in zip(wrapped, bare, strict=True)),
            "ratio": statistics.median(w / b for w, b in zip(wrapped, bare, strict=True)),
            "rounds": rounds,
        }
    return result


def _names_protocol() -> dns.DNSDatagramProtocol:
    factory = server.DNSServerFactory(clients=[_TXTResolver()])
    factory.noisy = False
    return dns.DNSDatagramProtocol(factory)


def serve(kind: str) -> None:
    """The server process: Twisted Names on UDP loopback, bare or behind the wrapper."""
    from twisted.internet import reactor

    protocol: Any = _names_protocol()
    if kind == "proxy":
        protocol = ProxyProtocolDatagramWrapper(protocol)
    port = reactor.listenUDP(0, protocol, interface="127.0.0.1")  # type: ignore[attr-defined]
    print(port.getHost().port, flush=True)
    reactor.run()  # type: ignore[attr-defined]


def _query_datagrams(proxy: bool) -> list[bytes]:
    message = dns.Message(id=4660, recDes=1)
    message.queries = [dns.Query(b"whoami.example.", dns.TXT, dns.IN)]
    query: bytes = message.toStr()
    if not proxy:
        return [query]
    return [datagram_header(c, FRONTEND) + query for c in _clients(CLIENTS)]


def _load(port: int, datagrams: list[bytes], seconds: float, window: int = 16) -> float:
    """Queries per second answered by the server on C{port}, C{window} in flight."""
    target = ("127.0.0.1", port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        send = s.sendto
        nxt = itertools.cycle(datagrams).__next__
        for _ in range(window):
            send(nxt(), target)
        answered = 0
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            try:
                s.recv(4096)
            except TimeoutError:  # lost in a full socket buffer: refill the window
                for _ in range(window):
                    send(nxt(), target)
                continue
            answered += 1
            send(nxt(), target)
        return answered / (time.perf_counter() - start)


def socket_qps(quick: bool) -> dict[str, float]:
    """
    Twisted Names over real UDP on loopback, each server in its own process:
    queries/s bare and behind the wrapper, in paired rounds (shuffled order);
    the ratio is the median of the per-round ratios.
    """
    processes = {}
    ports = {}
    try:
        for kind in ("plain", "proxy"):
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.datagram", "--serve", kind],
                stdout=subprocess.PIPE,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            )
            processes[kind] = process
            assert process.stdout is not None
            ports[kind] = int(process.stdout.readline())
        datagrams = {"plain": _query_datagrams(False), "proxy": _query_datagrams(True)}
        seconds, rounds = (0.3, 3) if quick else (1.0, 9)
        for kind in ports:  # warm up
            _load(ports[kind], datagrams[kind], seconds / 2)
        rng = random.Random(0)
        results: dict[str, list[float]] = {"plain": [], "proxy": []}
        for _ in range(rounds):
            order = ["plain", "proxy"]
            rng.shuffle(order)
            for kind in order:
                results[kind].append(_load(ports[kind], datagrams[kind], seconds))
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(5)
    ratios = [p / b for p, b in zip(results["proxy"], results["plain"], strict=True)]
    return {
        "bare": statistics.median(results["plain"]),
        "wrapped": statistics.median(results["proxy"]),
        "ratio": statistics.median(ratios),
        "rounds": rounds,
    }


def largest_table(flows: int) -> dict[str, float]:
    """Fill a table of C{flows} clients, then turn it over: µs per datagram, bytes per flow."""
    dst = FRONTEND
    gc.collect()
    tracemalloc.start()
    wrapper = _wrapper(_Null(), max_flows=flows)
    before = tracemalloc.get_traced_memory()[0]
    chunk = 50_000
    for start in range(0, flows, chunk):
        batch = [
            datagram_header((f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1024 + i % 60000), dst)
            + PAYLOAD
            for i in range(start, min(flows, start + chunk))
        ]
        for data in batch:
            wrapper.datagramReceived(data, PROXY)
        del batch
    per_flow = (tracemalloc.get_traced_memory()[0] - before) / flows
    tracemalloc.stop()
    assert wrapper.flow_count == flows
    turnover = [
        datagram_header((f"11.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 2000), dst) + PAYLOAD
        for i in range(20_000)
    ]
    f = wrapper.datagramReceived
    gc.disable()
    try:
        t = timeit.default_timer()
        for data in turnover:
            f(data, PROXY)
        elapsed = timeit.default_timer() - t
    finally:
        gc.enable()
    assert wrapper.stats.flows_evicted == len(turnover)
    return {"flows": flows, "bytes_per_flow": per_flow, "us_per_datagram": elapsed / 20_000 * 1e6}


def _all_cases() -> list[tuple[str, tuple[str, dict[str, Any], str, dict[str, Any]]]]:
    return [*_cpu_cases().items(), *_names_cases().items()]


def count(index: int, twin: str, calls: int) -> None:
    """Run case C{index}'s C{twin} C{calls} times (for callgrind)."""
    _, (stmt, ns, bare_stmt, bare_ns) = _all_cases()[index]
    code, namespace = (stmt, ns) if twin == "wrapped" else (bare_stmt, bare_ns)
    timer = timeit.Timer(code, globals=namespace)
    timer.timeit(200)
    timer.timeit(calls)


def _instructions(index: int, twin: str, calls: int) -> int:
    out = f"/tmp/pptwisted-bench-callgrind-{os.getpid()}.out"
    try:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                *[sys.executable, "-m", "bench.datagram", "--count", str(index), twin, str(calls)],
            ],
            check=True,
            capture_output=True,
            timeout=600,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        with open(out) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    finally:
        if os.path.exists(out):
            os.unlink(out)
    raise RuntimeError("no totals in callgrind's output")


def instructions() -> dict[str, dict[str, float]] | None:
    """
    Instructions (callgrind Ir) per datagram, wrapped and bare, for every case:
    deterministic, unlike the times. The difference of two runs of different
    lengths cancels start-up. C{None} without valgrind.
    """
    if shutil.which("valgrind") is None:
        return None
    result = {}
    for index, (row, _) in enumerate(_all_cases()):
        per: dict[str, float] = {}
        for twin in ("wrapped", "bare"):
            short, long = _instructions(index, twin, 1000), _instructions(index, twin, 5000)
            per[twin] = (long - short) / 4000
        result[row] = {
            "wrapped_ir": per["wrapped"],
            "bare_ir": per["bare"],
            "added_ir": per["wrapped"] - per["bare"],
            "ratio": per["wrapped"] / per["bare"],
        }
    return result


def run(quick: bool = False, *, callgrind: bool | None = None) -> dict[str, Any]:
    """Every figure of this benchmark (callgrind counts only in a full run by default)."""
    settings = timing.QUICK if quick else timing.FULL
    cpu = _paired(_cpu_cases(), settings)
    names = _paired(_names_cases(), settings)
    row = names[_NAMES]
    in_process = {
        "bare": 1e6 / row["bare_us"],
        "wrapped": 1e6 / row["wrapped_us"],
        # queries/s through the wrapper over bare: the inverse of the time ratio.
        "ratio": 1 / row["ratio"],
        "added_us": row["added_us"],
    }
    table = largest_table(100_000 if quick else LARGEST_TABLE)
    if callgrind is None:
        callgrind = not quick
    return {
        "cpu_us_added": cpu,
        "names_qps_in_process": in_process,
        "names_qps_loopback": socket_qps(quick),
        "instructions": instructions()
        if (callgrind if callgrind is not None else not quick)
        else None,
        "largest_table": table,
    }


_EVICTING = "every: new client per datagram, table full (evicts)"
_FIRST_HIT = "first: bare datagram of a live flow"
_NAMES = "Twisted Names queries/s, every"


def rows(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The figures as rows for C{python -m bench}."""
    out = []
    ir = figures["instructions"] or {}
    for name in (_EVICTING, _FIRST_HIT):
        f = figures["cpu_us_added"][name]
        counted = ir.get(name)
        extra = f", {counted['added_ir']:.0f} instructions added" if counted else ""
        out.append(
            {
                "row": f"UDP: CPU added per datagram, {name}",
                "unit": "µs",
                "pptwisted": f["added_us"],
                "peers": f"bare call {f['bare_us']:.2f} µs{extra}",
                "ratio": f["ratio"],
                "target": f"<= {CPU_TARGET_US:g} µs added",
                "met": f["added_us"] <= CPU_TARGET_US,
            }
        )
    for key, label in (
        ("names_qps_loopback", "over loopback UDP"),
        ("names_qps_in_process", "in process, no sockets"),
    ):
        q = figures[key]
        counted = ir.get(_NAMES) if key == "names_qps_in_process" else None
        extra = f", {1 / counted['ratio']:.3f}x in instructions" if counted else ""
        out.append(
            {
                "row": f"UDP: Twisted Names queries/s through the wrapper, {label}",
                "unit": "q/s",
                "pptwisted": q["wrapped"],
                "peers": f"bare {q['bare']:.0f}{extra}",
                "ratio": q["ratio"],
                "target": f">= {QPS_TARGET:g}x bare",
                "met": q["ratio"] >= QPS_TARGET,
            }
        )
    t = figures["largest_table"]
    out.append(
        {
            "row": f"UDP: flow table of {t['flows']} flows turning over",
            "unit": "µs",
            "pptwisted": t["us_per_datagram"],
            "peers": f"{t['bytes_per_flow'] / 1024:.2f} KiB per flow",
            "ratio": t["us_per_datagram"] / figures["cpu_us_added"][_EVICTING]["wrapped_us"],
            "target": "bounded",
            "met": True,
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--callgrind", action="store_true", help="count instructions too")
    parser.add_argument("--serve", choices=["plain", "proxy"], help=argparse.SUPPRESS)
    parser.add_argument("--count", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.count:
        count(int(args.count[0]), args.count[1], int(args.count[2]))
        return 0
    figures = run(args.quick, callgrind=True if args.callgrind else None)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    for name, f in figures["cpu_us_added"].items():
        print(
            f"CPU added per datagram, {name}: {f['added_us']:.3f} µs"
            f" (wrapped {f['wrapped_us']:.3f}, bare {f['bare_us']:.3f}; {f['rounds']} rounds)"
        )
    for name, c in (figures["instructions"] or {}).items():
        print(
            f"instructions per datagram, {name}: {c['wrapped_ir']:.0f} wrapped,"
            f" {c['bare_ir']:.0f} bare, {c['added_ir']:.0f} added ({c['ratio']:.3f}x)"
        )
    print()
    for r in rows(figures):
        print(
            f"{r['row']}: {r['pptwisted']:.3f} {r['unit']} ({r['peers']}; {r['ratio']:.3f}x;"
            f" target {r['target']}: {'met' if r['met'] else 'NOT MET'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

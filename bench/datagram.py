"""
PROXY over UDP: the CPU that L{pptwisted.ProxyProtocolDatagramWrapper} adds
per datagram, in both framings, and a Twisted Names server's queries per
second through it.

    python -m bench.datagram [--quick] [--json]

Method. Every figure is a paired measurement: each round times the wrapped
case and its twins (bare; the floor) one after the other (shuffled order,
best of a few batches each, garbage collector off), and the figure is the
median over rounds of the per-round difference (µs added) or ratio. The
twins run the same statement shape on the same inputs, so loop and call
overheads cancel.

Rows:

  - CPU added per datagram, against the bare call to the application and
    against a floor: the least pure-Python work a receiver must do per
    datagram (the codec's C{parse_header} of that header, the client address
    as a tuple, one dict store, the call to the application; no flow order,
    clock, counters or current-header bookkeeping). The application is a
    C{DatagramProtocol} that does nothing; the bare twin is its
    C{datagramReceived(payload, client)}, the floor twin that floor. Cases:
      - C{every}, many clients through one proxy socket, each already in a
        table that is not full: the client's entry is updated (dnsdist's
        steady state; the headline row; target: at most 1 µs added);
      - C{every}, a new client per datagram in a table full at C{max_flows},
        so each datagram evicts the oldest flow (the worst case; target: at
        most 1.5 µs added, the typical work plus an eviction);
      - C{every}, one client (a flow hit);
      - C{first}, a bare datagram of a live flow (target: at most 1 µs);
      - C{first}, a header on each datagram (a new flow each time).
    Where the floor alone adds more than a target, the row says so: that
    target cannot be met by any pure-Python receiver on that machine.
  - Twisted Names queries per second: C{DNSDatagramProtocol} and
    C{DNSServerFactory} (a resolver answering TXT at once) through the
    wrapper (C{every}) vs bare (target: at least 0.9x), over loopback UDP
    (each server in its own process, the load generator in this one) and in
    process (fed DNS queries, each from a new client, no sockets: the
    stricter ratio, as the kernel's share per query is left out).
  - The largest flow table tried: µs per datagram while a table of that size
    turns over, and its memory per flow (tracemalloc).

C{--callgrind} adds instruction counts (valgrind), which the machine's load
does not change, for every twin.
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
from pptwisted.codec._parser import parse_header
from pptwisted.datagram._sender import datagram_header

__all__ = ["CPU_TARGET_US", "EVICT_TARGET_US", "LARGEST_TABLE", "QPS_TARGET", "run"]

#: Most µs the wrapper may add per datagram (the typical case, and first mode).
CPU_TARGET_US = 1.0
#: Most µs it may add in the worst case, a new client evicting the oldest
#: flow of a full table: the typical work, plus an OrderedDict pop, a new
#: entry and a counter (measured at 0.2 to 0.3 µs).
EVICT_TARGET_US = 1.5
#: Least ratio of queries/s through the wrapper to queries/s bare.
QPS_TARGET = 0.9
#: The largest flow table measured (flows).
LARGEST_TABLE = 1_000_000
#: Distinct clients cycled through (more than the table holds in the eviction case).
CLIENTS = 4096
PROXY = ("127.0.0.1", 40000)
FRONTEND = ("198.51.100.1", 53)
PAYLOAD = b"\x12\x34" + b"\x00" * 38  # the size of a small DNS query
_V2 = frozenset({2})

TYPICAL = "every: many clients, table not full (entry updated)"
EVICTING = "every: new client per datagram, table full (evicts)"
FIRST_HIT = "first: bare datagram of a live flow"
NAMES = "Twisted Names queries/s, every"


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


Case = dict[str, tuple[str, dict[str, Any]]]


def _floor_every(flows: dict[Any, Any], app: Any) -> Any:
    """
    The floor of C{every} mode: the least pure-Python work a receiver must
    do per datagram. The codec's parse of the header (C{parse_header}), the
    client address as a tuple, one dict store (client -> proxy socket) and
    the call to the application; no flow order, no clock, no counters, no
    current-header bookkeeping, no error handling.
    """

    def floor(datagram: bytes, addr: Any) -> None:
        header, payload = parse_header(datagram, _V2)
        source = header.source
        client = (source.host, source.port)
        flows[client] = addr
        app(payload, client)

    return floor


def _floor_first_hit(flows: dict[Any, Any], app: Any) -> Any:
    """The floor of a bare datagram of a live C{first} flow: one lookup, the call."""

    def floor(datagram: bytes, addr: Any) -> None:
        app(datagram, flows[addr])

    return floor


def _floor_first_new(flows: dict[Any, Any], clients: dict[Any, Any], app: Any) -> Any:
    """The floor of a C{first} datagram with a header: the parse, a store each way, the call."""

    def floor(datagram: bytes, addr: Any) -> None:
        header, payload = parse_header(datagram, _V2)
        source = header.source
        client = (source.host, source.port)
        flows[addr] = client
        clients[client] = addr
        app(payload, client)

    return floor


def _cpu_cases() -> dict[str, Case]:
    """Row -> twin ("wrapped", "bare", "floor") -> (statement, namespace)."""
    clients = _clients(CLIENTS)
    headed = [(datagram_header(c, FRONTEND) + PAYLOAD, PROXY) for c in clients]
    bare = [(PAYLOAD, c) for c in clients]
    null = _Null()
    app = null.datagramReceived
    cases: dict[str, Case] = {}

    def case(wrapped: Any, bare_inputs: Any, floor: Any, inputs: Any) -> Case:
        return {
            "wrapped": ("f(*n())", {"f": wrapped, "n": inputs()}),
            "bare": ("f(*n())", {"f": app, "n": bare_inputs()}),
            "floor": ("f(*n())", {"f": floor, "n": inputs()}),
        }

    # The typical case (dnsdist): many clients through one proxy socket, each
    # already in the table, which is not full: the client's entry is updated.
    typical = _wrapper(_Null())
    for data, addr in headed:
        typical.datagramReceived(data, addr)
    cases[TYPICAL] = case(
        typical.datagramReceived,
        lambda: itertools.cycle(bare).__next__,
        _floor_every({c: PROXY for c in clients}, app),
        lambda: itertools.cycle(headed).__next__,
    )
    every_full = _wrapper(_Null(), max_flows=CLIENTS // 4)
    cases[EVICTING] = case(
        every_full.datagramReceived,
        lambda: itertools.cycle(bare).__next__,
        _floor_every({}, app),
        lambda: itertools.cycle(headed).__next__,
    )
    every_one = _wrapper(_Null())
    cases["every: one client (flow hit)"] = case(
        every_one.datagramReceived,
        lambda: itertools.repeat(bare[0]).__next__,
        _floor_every({}, app),
        lambda: itertools.repeat(headed[0]).__next__,
    )
    first_hit = _wrapper(_Null(), header_on="first")
    first_hit.datagramReceived(headed[0][0], PROXY)
    cases[FIRST_HIT] = case(
        first_hit.datagramReceived,
        lambda: itertools.repeat(bare[0]).__next__,
        _floor_first_hit({PROXY: clients[0]}, app),
        lambda: itertools.repeat((PAYLOAD, PROXY)).__next__,
    )
    first_new = _wrapper(_Null(), header_on="first", max_flows=CLIENTS // 4)
    sockets = [(d, ("127.0.0.1", 20000 + i)) for i, (d, _) in enumerate(headed)]
    cases["first: header on each datagram (new flow)"] = case(
        first_new.datagramReceived,
        lambda: itertools.cycle(bare).__next__,
        _floor_first_new({}, {}, app),
        lambda: itertools.cycle(sockets).__next__,
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


def _names_cases() -> dict[str, Case]:
    query = _query_datagrams(False)[0]
    clients = _clients(CLIENTS)
    headed = [(datagram_header(c, FRONTEND) + query, PROXY) for c in clients]
    bare = [(query, c) for c in clients]
    plain = _names_protocol()
    plain.makeConnection(_Port())  # type: ignore[arg-type]
    wrapped = _wrapper(_names_protocol())
    return {
        NAMES: {
            "wrapped": (
                "f(*n())",
                {"f": wrapped.datagramReceived, "n": itertools.cycle(headed).__next__},
            ),
            "bare": ("f(*n())", {"f": plain.datagramReceived, "n": itertools.cycle(bare).__next__}),
        }
    }


def _paired(
    cases: Mapping[str, Case], settings: timing.Settings, seed: int = 0
) -> dict[str, dict[str, float]]:
    """
    Per row: median µs of each twin, and the medians of the per-round
    differences (wrapped - bare, floor - bare, wrapped - floor) and ratio.
    """
    timers: list[tuple[str, str, timeit.Timer, int]] = []
    cost = 0.0
    for row, twins in cases.items():
        for twin, (s, n) in twins.items():
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

    def diff(a: list[float], b: list[float]) -> float:
        return statistics.median(x - y for x, y in zip(a, b, strict=True))

    result = {}
    for row, twins in cases.items():
        wrapped, bare = per_round[row, "wrapped"], per_round[row, "bare"]
        figures = {
            "wrapped_us": statistics.median(wrapped),
            "bare_us": statistics.median(bare),
            "added_us": diff(wrapped, bare),
            "ratio": statistics.median(w / b for w, b in zip(wrapped, bare, strict=True)),
            "rounds": rounds,
        }
        if "floor" in twins:
            floor = per_round[row, "floor"]
            figures["floor_us"] = statistics.median(floor)
            figures["floor_added_us"] = diff(floor, bare)
            figures["over_floor_us"] = diff(wrapped, floor)
        result[row] = figures
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
    Twisted Names over real UDP on loopback, each server in its own process
    (both pinned to one CPU, the load generator to another):
    queries/s bare and behind the wrapper, in paired rounds (shuffled order);
    the ratio is the median of the per-round ratios.
    """
    processes = {}
    ports = {}
    # Both servers on one CPU, the load generator (this process) on another,
    # as bench/connections.py does: otherwise where the scheduler happens to
    # put them (sharing a CPU or not) weighs more than the wrapper.
    affinity = hasattr(os, "sched_getaffinity")
    mine = os.sched_getaffinity(0) if affinity else set()
    cpus = sorted(mine)
    try:
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[1]})
        for kind in ("plain", "proxy"):
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.datagram", "--serve", kind],
                stdout=subprocess.PIPE,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            )
            processes[kind] = process
            if len(cpus) > 1:
                os.sched_setaffinity(process.pid, {cpus[0]})
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
        if len(cpus) > 1:
            os.sched_setaffinity(0, mine)
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


def _all_cases() -> list[tuple[str, Case]]:
    return [*_cpu_cases().items(), *_names_cases().items()]


def count(index: int, twin: str, calls: int) -> None:
    """Run case C{index}'s C{twin} C{calls} times (for callgrind)."""
    code, namespace = _all_cases()[index][1][twin]
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
    for index, (row, twins) in enumerate(_all_cases()):
        per: dict[str, float] = {}
        for twin in twins:
            short, long = _instructions(index, twin, 1000), _instructions(index, twin, 5000)
            per[twin] = (long - short) / 4000
        result[row] = {
            "wrapped_ir": per["wrapped"],
            "bare_ir": per["bare"],
            "added_ir": per["wrapped"] - per["bare"],
            "ratio": per["wrapped"] / per["bare"],
        }
        if "floor" in per:
            result[row]["floor_ir"] = per["floor"]
            result[row]["floor_added_ir"] = per["floor"] - per["bare"]
            result[row]["over_floor_ir"] = per["wrapped"] - per["floor"]
    return result


def run(quick: bool = False, *, callgrind: bool | None = None) -> dict[str, Any]:
    """Every figure of this benchmark (callgrind counts only in a full run by default)."""
    settings = timing.QUICK if quick else timing.FULL
    cpu = _paired(_cpu_cases(), settings)
    names = _paired(_names_cases(), settings)
    row = names[NAMES]
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


def rows(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The figures as rows for C{python -m bench}."""
    out = []
    ir = figures["instructions"] or {}
    for name, target in (
        (TYPICAL, CPU_TARGET_US),
        (EVICTING, EVICT_TARGET_US),
        (FIRST_HIT, CPU_TARGET_US),
    ):
        f = figures["cpu_us_added"][name]
        counted = ir.get(name)
        extra = (
            f"; instructions: {counted['added_ir']:.0f} added, floor"
            f" {counted['floor_added_ir']:.0f}, {counted['over_floor_ir']:.0f} over it"
            if counted
            else ""
        )
        out.append(
            {
                "row": f"UDP: CPU added per datagram, {name}",
                "unit": "µs",
                "pptwisted": f["added_us"],
                "peers": f"bare call {f['bare_us']:.2f} µs; floor adds {f['floor_added_us']:.2f}"
                f" µs, pptwisted {f['over_floor_us']:.2f} µs over the floor{extra}",
                # The time per datagram as a multiple of the floor's.
                "ratio": f["wrapped_us"] / f["floor_us"],
                "target": f"<= {target:g} µs added"
                + (" (below the floor here)" if f["floor_added_us"] > target else ""),
                "met": f["added_us"] <= target,
            }
        )
    for key, label in (
        ("names_qps_loopback", "over loopback UDP"),
        ("names_qps_in_process", "in process, no sockets"),
    ):
        q = figures[key]
        counted = ir.get(NAMES) if key == "names_qps_in_process" else None
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
            "ratio": t["us_per_datagram"] / figures["cpu_us_added"][EVICTING]["wrapped_us"],
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
            f"CPU added per datagram, {name}: {f['added_us']:.3f} µs (floor adds"
            f" {f['floor_added_us']:.3f}, pptwisted {f['over_floor_us']:.3f} over it; wrapped"
            f" {f['wrapped_us']:.3f}, floor {f['floor_us']:.3f}, bare {f['bare_us']:.3f};"
            f" {f['rounds']} rounds)"
        )
    for name, c in (figures["instructions"] or {}).items():
        floor = (
            f", floor adds {c['floor_added_ir']:.0f} ({c['over_floor_ir']:.0f} over it)"
            if "floor_ir" in c
            else ""
        )
        print(
            f"instructions per datagram, {name}: {c['wrapped_ir']:.0f} wrapped,"
            f" {c['bare_ir']:.0f} bare, {c['added_ir']:.0f} added ({c['ratio']:.3f}x){floor}"
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

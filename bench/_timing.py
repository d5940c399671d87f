"""
Shared machinery for the pptwisted benchmarks: interleaved timing that holds
up on a small, noisy machine, the environment report, the result table and
the command line (C{--quick}, C{--json}, C{--check}).

Method. Every (row, contender) pair is a L{Case}: one statement, compiled by
L{timeit} into a tight loop with its names bound as globals, so no extra
function call is timed. Each case is first calibrated to a batch size that
takes about C{batch_s}. Then, for as many rounds as fit in C{budget_s}, every
case runs C{repeats} batches, all cases one after the other in a shuffled
(seeded) order, so that drift in clock speed or background load hits every
contender alike. A case's figure is the median, over rounds, of its best
batch in that round (µs per call); the overall minimum and the quartiles are
kept too. The garbage collector is off during batches, as in L{timeit}.

A benchmark module builds its cases, calls L{measure}, turns the timings into
result dicts with L{summarise} and hands a C{run(quick)} function to L{main}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import timeit
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

__all__ = [
    "FULL",
    "QUICK",
    "Case",
    "Settings",
    "Timing",
    "environment",
    "format_environment",
    "format_rows",
    "format_table",
    "main",
    "measure",
    "summarise",
    "target_line",
]

Result = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One contender on one row: C{stmt} run with C{namespace} as globals."""

    row: str
    contender: str
    stmt: str
    namespace: Mapping[str, object]


@dataclass(frozen=True)
class Timing:
    """Microseconds per call of one case."""

    #: Median over rounds of the round's best batch: the figure reported.
    us: float
    #: Best batch over all rounds.
    us_min: float
    #: First and third quartiles of the per-round bests (the noise).
    us_q1: float
    us_q3: float
    #: Calls per batch, and rounds run.
    number: int
    rounds: int


@dataclass(frozen=True)
class Settings:
    """How long to spend: total budget, batch length, batches per round."""

    budget_s: float
    batch_s: float
    repeats: int
    min_rounds: int


#: About 16 s of timing (plus calibration), for the numbers one reports.
FULL = Settings(budget_s=16.0, batch_s=0.010, repeats=3, min_rounds=9)
#: About 2 s: a CI smoke run; the numbers are rougher.
QUICK = Settings(budget_s=2.0, batch_s=0.004, repeats=2, min_rounds=5)


def _calibrate(timer: timeit.Timer, batch_s: float) -> tuple[int, float]:
    """The batch size taking at least C{batch_s}, and its seconds per call."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= batch_s:
            return number, elapsed / number
        # Aim straight at the target once a batch is long enough to trust.
        if elapsed > batch_s / 20:
            number = max(number + 1, int(number * batch_s * 1.05 / elapsed))
        else:
            number *= 10


def measure(
    cases: Sequence[Case],
    settings: Settings,
    *,
    seed: int = 0,
    timer: Callable[[], float] = timeit.default_timer,
) -> dict[tuple[str, str], Timing]:
    """
    Time every case, interleaved; keyed by C{(row, contender)}. C{timer} is
    the clock (e.g. C{time.thread_time}, which does not count the time the
    process waits for a CPU on a loaded machine).
    """
    timers = [timeit.Timer(c.stmt, globals=dict(c.namespace), timer=timer) for c in cases]
    numbers: list[int] = []
    round_cost = 0.0
    for timer in timers:
        number, per_call = _calibrate(timer, settings.batch_s)
        numbers.append(number)
        round_cost += settings.repeats * number * per_call
    rounds = max(settings.min_rounds, int(settings.budget_s / round_cost))
    bests: list[list[float]] = [[] for _ in cases]
    order = list(range(len(cases)))
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            timer, number = timers[i], numbers[i]
            best = min(timer.timeit(number) for _ in range(settings.repeats))
            bests[i].append(best / number * 1e6)
    timings: dict[tuple[str, str], Timing] = {}
    for case, number, values in zip(cases, numbers, bests, strict=True):
        q1, _, q3 = statistics.quantiles(values, n=4)
        timings[case.row, case.contender] = Timing(
            us=statistics.median(values),
            us_min=min(values),
            us_q1=q1,
            us_q3=q3,
            number=number,
            rounds=rounds,
        )
    return timings


def summarise(
    benchmark: str,
    rows: Iterable[str],
    contenders: Sequence[str],
    timings: Mapping[tuple[str, str], Timing],
    *,
    subject: str,
    target: float,
    unit: str = "µs per call",
) -> list[Result]:
    """
    One dict per row: each contender's µs per call (C{None} if it did not
    run), the fastest peer and the speed-up of C{subject} over it
    (C{peer / subject}: above 1 means the subject is faster).
    """
    results: list[Result] = []
    for row in rows:
        us: dict[str, float | None] = {}
        detail: dict[str, dict[str, float | int]] = {}
        for name in contenders:
            t = timings.get((row, name))
            us[name] = None if t is None else round(t.us, 4)
            if t is not None:
                detail[name] = {
                    "us_min": round(t.us_min, 4),
                    "us_q1": round(t.us_q1, 4),
                    "us_q3": round(t.us_q3, 4),
                    "number": t.number,
                    "rounds": t.rounds,
                }
        peers = {n: v for n, v in us.items() if n != subject and v is not None}
        mine = us.get(subject)
        fastest = min(peers, key=peers.__getitem__) if peers else None
        speedup = (
            peers[fastest] / mine if fastest is not None and mine is not None and mine > 0 else None
        )
        results.append(
            {
                "benchmark": benchmark,
                "row": row,
                "unit": unit,
                "subject": subject,
                "us": us,
                "detail": detail,
                "fastest_peer": fastest,
                "speedup": None if speedup is None else round(speedup, 3),
                "target": target,
                "met": speedup is not None and speedup >= target,
            }
        )
    return results


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment(distributions: Iterable[str]) -> dict[str, Any]:
    """Python, library versions and the machine, for the report."""
    versions: dict[str, str] = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "libraries": versions,
    }


def format_environment(env: Mapping[str, Any]) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items())
    return (
        f"Python {env['python']} ({env['implementation']}); {libs}\n"
        f"Machine: {env['platform']} {env['machine']}, {env['cpu']},"
        f" {env['cpu_count']} CPUs ({env['cpu_usable']} usable)"
    )


def format_table(results: Sequence[Result]) -> str:
    """The results as a text table, one line per row."""
    if not results:
        return "(no results)"
    contenders = list(results[0]["us"])
    row_w = max(len("row"), *(len(r["row"]) for r in results))
    col_w = [max(len(n), 9) for n in contenders]
    peer_w = max(len("fastest peer"), *(len(r["fastest_peer"] or "-") for r in results))
    head = (
        f"{'row':<{row_w}}  "
        + "  ".join(f"{n:>{w}}" for n, w in zip(contenders, col_w, strict=True))
        + f"  {'fastest peer':<{peer_w}}  speed-up"
    )
    lines = [f"{results[0]['unit']}; speed-up = fastest peer / {results[0]['subject']}", head]
    lines.append("-" * len(head))
    for r in results:
        cells = []
        for n, w in zip(contenders, col_w, strict=True):
            v = r["us"].get(n)
            cells.append(f"{'-' if v is None else f'{v:.3f}':>{w}}")
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        mark = "" if r["met"] else "  < target"
        lines.append(
            f"{r['row']:<{row_w}}  "
            + "  ".join(cells)
            + f"  {r['fastest_peer'] or '-':<{peer_w}}  {speedup:>8}{mark}"
        )
    return "\n".join(lines)


def format_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """
    The summary rows of C{python -m bench} (and of C{bench/hardening.py})
    as a text table: each figure, pptwisted's value, the peers, the ratio,
    the target and whether it is met.
    """
    header = ("figure", "pptwisted", "peers", "ratio", "target", "met")
    lines = [
        [
            r["row"],
            f"{r['pptwisted']:.2f} {r['unit']}",
            r["peers"],
            f"{r['ratio']:.3f}x",
            r["target"],
            "yes" if r["met"] else "NO",
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def target_line(results: Sequence[Result]) -> str:
    """Whether every row meets its target."""
    if not results:
        return "Target: no results"
    target = results[0]["target"]
    missed = [r["row"] for r in results if not r["met"]]
    subject = results[0]["subject"]
    goal = f">= {target:.1f}x faster than the fastest peer on every row"
    if not missed:
        return f"Target ({subject} {goal}): MET"
    return f"Target ({subject} {goal}): NOT MET on {', '.join(missed)}"


def main(
    argv: Sequence[str] | None,
    *,
    description: str,
    run: Callable[[bool], list[Result]],
    distributions: Iterable[str],
    method: Callable[[bool], str] | None = None,
    table: Callable[[list[Result]], str] = format_table,
    verdict: Callable[[list[Result]], str] = target_line,
) -> int:
    """
    The command line shared by the benchmarks: print the environment, run,
    print the C{table} (or JSON with C{--json}) and the C{verdict} line. The
    exit status is 0 unless C{--check} is given and a row misses its target.
    """
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~3 s smoke run (rougher numbers)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    env = environment(distributions)
    if not args.json:
        print(format_environment(env))
        if method is not None:
            print(method(args.quick))
        print(flush=True)
    results = run(args.quick)
    met = all(r["met"] for r in results)
    if args.json:
        json.dump(
            {"environment": env, "quick": args.quick, "results": results, "target_met": met},
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        print()
    else:
        print(table(results))
        print()
        print(verdict(results))
    return 1 if args.check and not met else 0

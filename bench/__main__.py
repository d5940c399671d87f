"""
Every benchmark of pptwisted in one run, one table and one chart:

    python -m bench [--quick] [--json] [--check] [--chart PATH]

Rows (each a ratio measured side by side in this run, on loopback, with the
load generator in its own process; see bench/connections.py and
bench/parse.py for the methods):

- user-space instructions per connection under callgrind (deterministic),
  proxy:tcp vs plain tcp, Twisted's haproxy:tcp and the floor (parsing, one
  dispatch, an armed header timer), v1 and v2 headers (target: <= 1.18x tcp
  for v1, <= 1.16x for v2);
- server CPU per connection, proxy:tcp vs plain tcp and Twisted's
  haproxy:tcp, v1 and v2 headers (target: <= 1.06x tcp, below haproxy);
- requests per second of twisted.web behind a real HAProxy, a new
  connection per request, the header alone in its read or with the request,
  beside plain tcp, haproxy:tcp and the floor (target: >= 0.97x the same
  setup on plain tcp);
- requests per second of twisted.web over HTTP/2 through HAProxy terminating
  TLS (proxyALPN=yes), measured with h2load, against HTTP/1.1 keep-alive
  through the same frontend and h2 on Twisted's own ssl: endpoint (target:
  >= 1x the latter), see bench/http2.py;
- bulk throughput after the header vs plain tcp (target: >= 0.97x);
- memory per pending connection (half a header) vs idle plain tcp
  connections (target: <= 1.3x), and the bound with a v2 header held one
  byte short of the 16 KiB cap;
- parse speed vs the fastest peer parser and a floor (see bench/parse.py);
- PROXY over UDP: CPU added per datagram (target: <= 1 µs) and a Twisted
  Names server's queries/s through the wrapper (target: >= 0.9x), see
  bench/datagram.py.
- under attack (bench/hardening.py): log lines under a flood of bad headers,
  good clients' p99 during it, time to serve behind stalled headers at the
  fd limit, memory per pending connection at 10,000 and a second flood's
  RSS growth, memory held by the worst accepted header.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import connections, datagram, endtoend, hardening, http2, parse
from bench._timing import environment, format_environment, format_rows

CHART = Path(__file__).resolve().parent / "results.png"
CAP_KIB = 16.0


def _row(
    name: str, unit: str, ours: float, peers: str, ratio: float, target: str, met: bool
) -> dict[str, Any]:
    return {
        "row": name,
        "unit": unit,
        "pptwisted": round(ours, 3),
        "peers": peers,
        "ratio": round(ratio, 3),
        "target": target,
        "met": met,
    }


_STARTED: list[float] = []


def _progress(text: str) -> None:
    """One progress line on stderr, with the seconds since the first."""
    now = time.monotonic()
    _STARTED[:] = _STARTED or [now]
    print(f"[bench {now - _STARTED[0]:4.0f} s] {text}", file=sys.stderr, flush=True)


def collect(quick: bool) -> list[dict[str, Any]]:
    """Run everything; one row per figure. Progress goes to stderr."""
    _progress(
        "a --quick smoke run: about 2 to 5 minutes (on 2 CPUs)"
        if quick
        else "a full run: about 20 to 40 minutes (on 2 CPUs); --quick takes a few"
    )
    _progress("connections: instructions, CPU, throughput and memory per connection")
    figures = connections.run(quick)
    rows = []
    counts = figures["instructions_per_connection"]
    for version, target in (("v1", 1.18), ("v2", 1.16)):
        if not counts:
            break
        ours, tcp = counts[f"proxy {version}"], counts["tcp"]
        haproxy, floor = counts[f"haproxy {version}"], counts[f"floor {version}"]
        rows.append(
            {"peer_ratio": round(haproxy / tcp, 3), "floor_ratio": round(floor / tcp, 3)}
            | _row(
                f"instructions per connection, {version}",
                "k",
                ours / 1000,
                f"tcp {tcp / 1000:.0f}k, haproxy {haproxy / 1000:.0f}k ({haproxy / tcp:.2f}x),"
                f" floor {floor / 1000:.0f}k ({floor / tcp:.2f}x)",
                ours / tcp,
                f"<= {target:.2f}x tcp",
                ours / tcp <= target,
            )
        )
    cpu = figures["cpu_us_per_connection"]["us"]
    cpu_ratio = figures["cpu_us_per_connection"]["ratio_vs_tcp"]
    for version in ("v1", "v2"):
        ours, tcp, haproxy = cpu[f"proxy {version}"], cpu["tcp"], cpu[f"haproxy {version}"]
        ratio, haproxy_ratio = cpu_ratio[f"proxy {version}"], cpu_ratio[f"haproxy {version}"]
        floor_ratio = cpu_ratio[f"floor {version}"]
        rows.append(
            {"peer_ratio": round(haproxy_ratio, 3), "floor_ratio": round(floor_ratio, 3)}
            | _row(
                f"server CPU per connection, {version}",
                "µs",
                ours,
                f"tcp {tcp:.1f}, haproxy {haproxy:.1f} ({haproxy_ratio:.2f}x),"
                f" floor ({floor_ratio:.2f}x)",
                ratio,
                "<= 1.06x tcp, < haproxy"
                + (" (the floor misses it here)" if floor_ratio > 1.06 else ""),
                ratio <= 1.06 and ratio < haproxy_ratio,
            )
        )
    if endtoend.available() is None:
        _progress("requests/s behind HAProxy")
        e2e = endtoend.run(quick)
        for shape in endtoend.SHAPES:
            rps, ratio = e2e["rps"], e2e["ratio_vs_tcp"]
            ours, tcp = rps[f"proxy, header {shape}"], rps[f"tcp, header {shape}"]
            haproxy = rps[f"haproxy, header {shape}"]
            haproxy_ratio = ratio[f"haproxy, header {shape}"]
            floor_ratio = ratio[f"floor, header {shape}"]
            rows.append(
                {"peer_ratio": round(haproxy_ratio, 3), "floor_ratio": round(floor_ratio, 3)}
                | _row(
                    f"requests/s behind HAProxy, new connection each, header {shape}",
                    "req/s",
                    ours,
                    f"tcp {tcp:.0f}, haproxy {haproxy:.0f} ({haproxy_ratio:.2f}x),"
                    f" floor ({floor_ratio:.2f}x)",
                    ratio[f"proxy, header {shape}"],
                    ">= 0.97x tcp" + (" (the floor misses it here)" if floor_ratio < 0.97 else ""),
                    ratio[f"proxy, header {shape}"] >= 0.97,
                )
            )
    missing = http2.available()
    if missing is None:
        _progress("HTTP/2 requests/s through HAProxy")
        rows += http2.rows(http2.run(quick))
    else:
        _progress(f"HTTP/2 through HAProxy: skipped, {missing}")
    tput = figures["throughput_mib_s"]
    rows.append(
        _row(
            "bulk throughput after the header",
            "MiB/s",
            tput["proxy"],
            f"tcp {tput['tcp']:.0f}",
            tput["proxy"] / tput["tcp"],
            ">= 0.97x tcp",
            tput["proxy"] / tput["tcp"] >= 0.97,
        )
    )
    memory = figures["memory_kib_per_pending_connection"]
    rows.append(
        _row(
            "memory per pending connection (half a v1 header)",
            "KiB",
            memory["proxy half v1"],
            f"idle tcp {memory['tcp idle']:.2f}",
            memory["proxy half v1"] / memory["tcp idle"],
            "<= 1.3x tcp",
            memory["proxy half v1"] / memory["tcp idle"] <= 1.3,
        )
    )
    bound = memory["proxy v2 at cap"]
    rows.append(
        _row(
            "memory per pending connection (v2 header 1 byte under the cap)",
            "KiB",
            bound,
            f"cap {CAP_KIB:.0f} KiB",
            bound / CAP_KIB,
            "<= cap + 4 KiB",
            bound <= CAP_KIB + 4,
        )
    )
    _progress("header parsing")
    rows.extend(parse_rows(parse.run(quick)))
    _progress("datagrams")
    rows += datagram.rows(datagram.run(quick))
    _progress("hardening")
    rows += hardening.rows(hardening.run(quick))
    _progress("done")
    return rows


def parse_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per parse row: the speed-up over the fastest peer."""
    rows = []
    for result in results:
        us = result["us"]
        fastest = result["fastest_peer"]
        rows.append(
            _row(
                f"parse {result['row']}",
                "µs",
                us["pptwisted"],
                f"{fastest} {us[fastest]:.2f}; floor {result['floor_us']:.2f}"
                f" ({result['vs_floor']:.2f}x)",
                result["speedup"],
                result["target_text"],
                result["met"],
            )
        )
    return rows


DOCS = Path(__file__).resolve().parent.parent / "docs"
#: The table of docs/benchmarks.rst, which includes it; written by --update-docs.
RESULTS = DOCS / "benchmark-results.inc"
#: The chart docs/benchmarks.rst shows; --update-docs copies the one drawn here.
DOCS_CHART = DOCS / "benchmarks.png"


def restructuredtext(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    """The table as reStructuredText, with the machine and versions it was measured on."""
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items())
    lines = [
        ".. Written by python -m bench --update-docs: do not edit by hand.",
        "",
        f"Measured on {env['cpu']}, {env['cpu_usable']} CPUs, {env['platform']};"
        f" Python {env['python']}; {libs}.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    cells = [["figure", "pptwisted", "peers", "ratio", "target", "met"]]
    for r in rows:
        cells.append(
            [
                r["row"],
                f"{r['pptwisted']:.2f} {r['unit']}",
                r["peers"],
                f"{r['ratio']:.3f}x",
                r["target"],
                "yes" if r["met"] else "**no**",
            ]
        )
    for row in cells:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def update_docs(text: str) -> None:
    """Write the benchmarks page's table (C{docs/benchmark-results.inc})."""
    RESULTS.write_text(text)


def chart(rows: list[dict[str, Any]], env: dict[str, Any], path: Path) -> None:
    """Draw the ratios against their targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu = [r for r in rows if r["row"].startswith("server CPU")]
    instructions = [r for r in rows if r["row"].startswith("instructions")]
    e2e = [r for r in rows if r["row"].startswith("requests/s")]
    groups = [
        ("Instructions per connection vs plain tcp (lower is better)", instructions, 1.16),
        ("Server CPU per connection vs plain tcp (lower is better)", cpu, 1.06),
        ("Requests/s behind HAProxy vs plain tcp (higher is better)", e2e, 0.97),
        (
            "HTTP/2 requests/s via HAProxy vs h2 on ssl: (higher is better)",
            [r for r in rows if r["row"].startswith("HTTP/2") and "direct" in r["row"]],
            http2.TARGET,
        ),
        (
            "Memory per pending connection vs idle tcp (lower is better)",
            [r for r in rows if r["row"].startswith("memory per pending connection (half")],
            1.3,
        ),
        (
            "Throughput after the header vs plain tcp (higher is better)",
            [r for r in rows if "throughput" in r["row"]],
            0.97,
        ),
        (
            "Parse speed-up vs the fastest peer (higher is better)",
            [r for r in rows if r["row"].startswith("parse")],
            2.0,
        ),
    ]
    groups = [g for g in groups if g[1]]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 * len(groups)))
    for ax, (title, members, target) in zip(axes, groups, strict=True):
        short = {
            "server CPU per connection, ": "",
            "instructions per connection, ": "",
            "requests/s behind HAProxy, new connection each, ": "",
            "HTTP/2 requests/s via HAProxy (TLS there), vs ": "h2 via HAProxy vs ",
        }

        def name(row: str, who: str, short: dict[str, str] = short) -> str:
            for long, replacement in short.items():
                row = row.replace(long, replacement)
            return f"{who} {row}"

        names = [name(m["row"], "pptwisted") for m in members]
        values = [m["ratio"] for m in members]
        colours = ["#2a7" if m["met"] else "#c33" for m in members]
        if members is cpu or members is instructions or members is e2e:
            # Twisted's haproxy: (and the floor) for comparison.
            names += [name(m["row"], "haproxy:") for m in members]
            values += [m["peer_ratio"] for m in members]
            colours += ["#999"] * len(members)
            floors = [m for m in members if "floor_ratio" in m]
            names += [name(m["row"], "floor") for m in floors]
            values += [m["floor_ratio"] for m in floors]
            colours += ["#ccc"] * len(floors)
        ax.barh(names, values, color=colours)
        ax.axvline(target, color="black", linestyle="--", linewidth=1, label=f"target {target}x")
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}x", va="center", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max([*values, target]) * 1.25)
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items())
    fig.suptitle(
        f"pptwisted benchmarks: {env['cpu']}, {env['cpu_usable']} CPUs,"
        f" Python {env['python']}\n{libs}",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--chart", type=Path, default=CHART, help=f"PNG to write ({CHART})")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"write the table (and the chart) into the docs' benchmarks page ({RESULTS.name})",
    )
    # The option's old name, from when the table was in the README.
    parser.add_argument(
        "--update-readme", dest="update_docs", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    env = environment(["pptwisted", "twisted", "proxy-protocol", "crc32c"])
    rows = collect(args.quick)
    if args.json:
        print(json.dumps({"environment": env, "rows": rows}, indent=2))
    else:
        print(format_environment(env))
        print()
        print(format_rows(rows))
        missed = [r["row"] for r in rows if not r["met"]]
        print()
        print("All targets met." if not missed else "Targets missed: " + "; ".join(missed))
        if args.quick:
            print(
                "(--quick is a smoke run: its rounds are too short for the connection"
                " figures to be measurements; run without --quick for those)"
            )
    if args.update_docs:
        if args.quick:
            parser.error("--update-docs wants a full run, not --quick")
        update_docs(restructuredtext(rows, env))
    if not args.no_chart:
        try:
            chart(rows, env, args.chart)
        except ImportError:
            print("(no chart: pip install matplotlib)", file=sys.stderr)
        else:
            print(f"chart: {args.chart}", file=sys.stderr)
            if args.update_docs:
                shutil.copyfile(args.chart, DOCS_CHART)
    return 1 if args.check and any(not r["met"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

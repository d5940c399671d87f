"""
HTTP/2 behind a load balancer that terminates TLS: requests per second of
twisted.web over HTTP/2 through HAProxy, which terminates TLS in C{mode tcp}
(C{bind ... ssl crt ... alpn h2,http/1.1}) and sends a v2 header with the
negotiated protocol in its ALPN TLV (C{send-proxy-v2 proxy-v2-options ssl}) to
a server on C{proxy:tcp:...:proxyTrusted=127.0.0.1:proxyALPN=yes}, which
therefore speaks h2 in clear. The load is C{h2load} (nghttp2-client): C{-c}
connections with C{-m} streams each, keep-alive throughout.

Contenders, measured side by side in the same run:

- C{h2 via HAProxy}: the above;
- C{HTTP/1.1 via HAProxy}: the same frontend, the same server process,
  C{h2load --h1} with the same connections and requests, one request in
  flight per connection (keep-alive without pipelining, as HTTP/1.1 clients
  do);
- C{h2 direct on ssl:}: twisted.web on Twisted's own C{ssl:} endpoint,
  which negotiates h2 by ALPN itself (the site offers it when C{h2} is
  installed), no HAProxy and no PROXY header: what HTTP/2 costs a Twisted
  server that terminates TLS itself.

The ratios: C{h2 via HAProxy / HTTP/1.1 via HAProxy} (a reading of Twisted's
HTTP/2 against its HTTP/1.1, not a cost of the PROXY layer, which reads one
header per connection here) and C{h2 via HAProxy / h2 direct on ssl:} (what
moving TLS to HAProxy and HTTP/2 behind it through C{proxyALPN} gives or
costs). As in L{bench.endtoend}, the servers run on one CPU, HAProxy and
the load on the other; rounds alternate the contenders in a shuffled order,
and each ratio is the median over rounds of the ratio within a round. Every
run of C{h2load} must have all its requests answered 2xx over the expected
protocol, or the benchmark stops.

    python -m bench.http2 [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.connections import ENDPOINTS, LOAD_CPU, SETTLE, Server, _taskset
from bench.endtoend import HAPROXY_DEFAULTS, _free_port, running_haproxy

H2_PROXIED = "h2 via HAProxy"
H1_PROXIED = "HTTP/1.1 via HAProxy"
H2_DIRECT = "h2 direct on ssl:"
#: Contender: (server, protocol h2load speaks).
CONTENDERS = {
    H2_PROXIED: ("proxied", "h2"),
    H1_PROXIED: ("proxied", "http/1.1"),
    H2_DIRECT: ("direct", "h2"),
}
#: The server behind HAProxy: the header's ALPN TLV becomes the transport's
#: negotiatedProtocol, which is what makes twisted.web speak h2 in clear.
PROXIED = ENDPOINTS["proxy"] + ":proxyTrusted=127.0.0.1:proxyALPN=yes"
#: h2 via HAProxy (TLS there) should serve at least as many requests as
#: twisted.web terminating TLS itself: moving TLS out must not cost.
TARGET = 1.0


@dataclass(frozen=True)
class Scale:
    """How much work each figure does."""

    requests: int
    rounds: int
    connections: int
    #: Streams in flight per connection over h2 (h2load -m); HTTP/1.1 has one.
    streams: int


FULL = Scale(requests=20000, rounds=5, connections=10, streams=10)
QUICK = Scale(requests=2000, rounds=2, connections=10, streams=10)


def available() -> str | None:
    """Why this benchmark cannot run here, or C{None}."""
    for binary in ("haproxy", "h2load", "openssl"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed"
    try:
        from twisted.web.http import H2_ENABLED
    except ImportError as e:
        return f"{e.name} is not installed"
    if not H2_ENABLED:
        return "twisted.web has no HTTP/2 here (pip install twisted[http2])"
    return None


@dataclass(frozen=True)
class H2Load:
    """What one run of C{h2load} reports."""

    rps: float
    total: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_2xx: int
    #: The ALPN protocol of the connections, C{None} if none was made.
    protocol: str | None


_FINISHED = re.compile(r"^finished in \S+, ([\d.]+) req/s", re.M)
_REQUESTS = re.compile(
    r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed,"
    r" (\d+) errored, (\d+) timeout",
    re.M,
)
_STATUS = re.compile(r"^status codes: (\d+) 2xx,", re.M)
_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.M)


def parse_h2load(output: str) -> H2Load:
    """Read C{h2load}'s report; C{ValueError} if it has no summary."""
    finished, requests, status = (p.search(output) for p in (_FINISHED, _REQUESTS, _STATUS))
    if finished is None or requests is None or status is None:
        raise ValueError(f"no h2load summary in {output[-800:]!r}")
    protocol = _PROTOCOL.search(output)
    total, succeeded, failed, errored, timeout = map(int, requests.groups())
    return H2Load(
        rps=float(finished[1]),
        total=total,
        succeeded=succeeded,
        failed=failed,
        errored=errored,
        timeout=timeout,
        status_2xx=int(status[1]),
        protocol=protocol[1] if protocol else None,
    )


def check(result: H2Load, requests: int, protocol: str) -> None:
    """Raise C{RuntimeError} unless every request was answered 2xx over C{protocol}."""
    problems = []
    if result.protocol != protocol:
        problems.append(f"protocol {result.protocol}, not {protocol}")
    if result.status_2xx != requests or result.succeeded != requests:
        problems.append(f"{result.status_2xx} 2xx of {requests} requests")
    if result.failed or result.errored or result.timeout:
        problems.append(
            f"{result.failed} failed, {result.errored} errored, {result.timeout} timed out"
        )
    if problems:
        raise RuntimeError("h2load: " + "; ".join(problems))


def h2load(url: str, requests: int, connections: int, streams: int, protocol: str) -> float:
    """Requests per second of one C{h2load} run, which must have served them all."""
    result = subprocess.run(
        [
            *_taskset(LOAD_CPU),
            "h2load",
            *(["--h1"] if protocol == "http/1.1" else []),
            "-n",
            str(requests),
            "-c",
            str(connections),
            "-m",
            str(streams if protocol == "h2" else 1),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        parsed = parse_h2load(result.stdout)
        check(parsed, requests, protocol)
    except (ValueError, RuntimeError) as e:
        raise RuntimeError(
            f"{e} ({url}, exit {result.returncode}):\n{result.stdout[-800:]}{result.stderr[-400:]}"
        ) from None
    return parsed.rps


def write_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """
    A self-signed certificate for C{localhost}, made by C{openssl req}: key,
    certificate and both in one file (HAProxy's C{crt}).
    """
    key, cert, both = directory / "key.pem", directory / "cert.pem", directory / "site.pem"
    # fmt: off
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert),
    ]
    # fmt: on
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=60,
    )
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    return key, cert, both


def haproxy_config(frontend: int, site_pem: Path, backend: int) -> str:
    """HAProxy terminating TLS in C{mode tcp}, ALPN and all, in front of C{backend}."""
    lines = [
        *HAPROXY_DEFAULTS,
        "frontend f_tls",
        f"    bind 127.0.0.1:{frontend} ssl crt {site_pem} alpn h2,http/1.1",
        "    default_backend b_app",
        "backend b_app",
        f"    server app 127.0.0.1:{backend} send-proxy-v2 proxy-v2-options ssl",
    ]
    return "\n".join(lines) + "\n"


def run(
    quick: bool = False, seed: int = 1, scale: Scale | None = None, proxied: str = PROXIED
) -> dict[str, Any]:
    """
    Requests per second by contender and the two ratios, medians over
    rounds; C{scale} overrides C{quick}'s, C{proxied} is the endpoint behind
    HAProxy.
    """
    scale = scale or (QUICK if quick else FULL)
    with tempfile.TemporaryDirectory(prefix="bench-http2-") as tmp:
        key, cert, site = write_certificate(Path(tmp))
        servers: dict[str, Server] = {}
        try:
            servers["proxied"] = Server("proxied", "web", proxied)
            servers["direct"] = Server(
                "direct",
                "web",
                f"ssl:0:interface=127.0.0.1:backlog=1024:privateKey={key}:certKey={cert}",
            )
            frontend = _free_port()
            urls = {
                "proxied": f"https://127.0.0.1:{frontend}/",
                "direct": f"https://127.0.0.1:{servers['direct'].port}/",
            }

            def measure(contender: str, requests: int) -> float:
                server, protocol = CONTENDERS[contender]
                return h2load(urls[server], requests, scale.connections, scale.streams, protocol)

            with running_haproxy(haproxy_config(frontend, site, servers["proxied"].port)):
                for contender in CONTENDERS:
                    measure(contender, max(200, scale.requests // 10))  # warm up
                rng = random.Random(seed)
                samples: dict[str, list[float]] = {c: [] for c in CONTENDERS}
                vs_h1: list[float] = []
                vs_direct: list[float] = []
                for _ in range(scale.rounds):
                    order = list(CONTENDERS)
                    rng.shuffle(order)
                    this_round = {}
                    for contender in order:
                        time.sleep(SETTLE)
                        this_round[contender] = measure(contender, scale.requests)
                    for contender, rps in this_round.items():
                        samples[contender].append(rps)
                    vs_h1.append(this_round[H2_PROXIED] / this_round[H1_PROXIED])
                    vs_direct.append(this_round[H2_PROXIED] / this_round[H2_DIRECT])
        finally:
            for server in servers.values():
                server.close()
    return {
        "requests": scale.requests,
        "rounds": scale.rounds,
        "connections": scale.connections,
        "streams": scale.streams,
        "rps": {c: statistics.median(v) for c, v in samples.items()},
        "ratio_vs_h1": statistics.median(vs_h1),
        "ratio_vs_direct": statistics.median(vs_direct),
    }


def rows(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The figures as rows for C{python -m bench}."""
    rps = figures["rps"]
    h2, h1, direct = rps[H2_PROXIED], rps[H1_PROXIED], rps[H2_DIRECT]
    load = f"h2load -c {figures['connections']} -m {figures['streams']}"
    return [
        {
            "row": "HTTP/2 requests/s via HAProxy (TLS there), vs HTTP/1.1 keep-alive",
            "unit": "req/s",
            "pptwisted": round(h2, 3),
            "peers": f"HTTP/1.1 keep-alive via HAProxy {h1:.0f} ({load}, -m 1 for HTTP/1.1)",
            "ratio": round(figures["ratio_vs_h1"], 3),
            "target": "a reading: Twisted's h2 vs its HTTP/1.1",
            "met": True,
        },
        {
            "row": "HTTP/2 requests/s via HAProxy (TLS there), vs h2 direct on ssl:",
            "unit": "req/s",
            "pptwisted": round(h2, 3),
            "peers": f"h2 direct on ssl: {direct:.0f} ({load})",
            "ratio": round(figures["ratio_vs_direct"], 3),
            "target": f">= {TARGET:g}x h2 on ssl:",
            "met": figures["ratio_vs_direct"] >= TARGET,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http2", description=(__doc__ or "").strip().splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    missing = available()
    if missing is not None:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    figures = run(args.quick)
    if args.json:
        print(json.dumps({"figures": figures, "rows": rows(figures)}, indent=2))
        return 0
    for contender, rps in figures["rps"].items():
        print(f"{rps:8.0f} req/s  {contender}")
    print()
    for r in rows(figures):
        print(
            f"{r['ratio']:.3f}x  {r['row']} ({r['peers']}); target {r['target']}"
            f" ({'met' if r['met'] else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

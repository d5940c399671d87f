"""
Prometheus metrics of every C{proxy:} listener, through prometheus_client::

    from pptwisted.metrics import metrics_resource
    root.putChild(b"metrics", metrics_resource())

Metrics (C{listener} is the C{proxyName=} option or the policy's C{name},
else the listening address, e.g. C{127.0.0.1:8080}):

  - C{pptwisted_connections_total{listener, outcome}}, one outcome per
    connection: C{accepted} (valid header, application connected),
    C{direct} (served without a header), C{rejected} (bad header, or a
    policy rule), C{refused} (a peer outside C{proxyTrusted}), C{timed_out},
    C{evicted} (closed to stay under the cap on pending connections),
    C{lost} (closed by the peer before its header) and C{declined} (the
    application's factory returned C{None}: L{ProxyProtocolStats.refused}).
  - C{pptwisted_rejections_total{listener, rule}}: the C{rejected} and
    C{refused} outcomes by rule (C{untrusted} for refused peers).
  - C{pptwisted_pending_connections{listener}}: connections waiting for
    their header now.
  - C{pptwisted_header_delay_seconds{listener}}: a histogram of the time
    from accept to a complete header.

A scrape runs in a thread (C{MetricsResource} is a WSGI resource on the
reactor's thread pool): the collector reads L{ProxyProtocolStats.snapshot}
copies, never the live counters. C{prometheus_client.twisted} imports the
global reactor when imported, so it is imported only by L{metrics_resource}.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, CollectorRegistry

from .endpoints._registry import listeners, track, untrack
from .stream import HEADER_DELAY_BUCKETS, ProxyProtocolStats, StatsSnapshot

if TYPE_CHECKING:
    from twisted.web.resource import IResource

__all__ = [
    "OUTCOMES",
    "ProxyProtocolCollector",
    "metrics_resource",
    "register",
    "track",
    "untrack",
]

#: The values of the C{outcome} label, in exposition order.
OUTCOMES = ("accepted", "direct", "rejected", "refused", "timed_out", "evicted", "lost", "declined")

#: The rule under which L{ProxyProtocolStats.rejected} counts untrusted peers.
UNTRUSTED = "untrusted"

Listeners = Callable[[], Iterable[tuple[str, ProxyProtocolStats]]]


def _merge(a: StatsSnapshot, b: StatsSnapshot) -> StatsSnapshot:
    """Two listeners of one name: their counts added."""
    rejected = dict(a.rejected)
    for rule, count in b.rejected.items():
        rejected[rule] = rejected.get(rule, 0) + count
    return StatsSnapshot(
        a.accepted + b.accepted,
        a.direct + b.direct,
        rejected,
        a.timed_out + b.timed_out,
        a.lost + b.lost,
        a.refused + b.refused,
        a.evicted + b.evicted,
        a.pending + b.pending,
        tuple(x + y for x, y in zip(a.header_delay_counts, b.header_delay_counts, strict=True)),
        a.header_delay_sum + b.header_delay_sum,
    )


def _outcomes(s: StatsSnapshot) -> dict[str, int]:
    untrusted = s.rejected.get(UNTRUSTED, 0)
    return {
        "accepted": s.accepted,
        "direct": s.direct,
        "rejected": sum(s.rejected.values()) - untrusted,
        "refused": untrusted,
        "timed_out": s.timed_out,
        "evicted": s.evicted,
        "lost": s.lost,
        "declined": s.refused,
    }


class ProxyProtocolCollector:
    """
    A prometheus_client collector of the counters of every listening
    C{proxy:} port (or of what C{listeners} returns: name and stats pairs).
    """

    def __init__(self, listeners: Listeners = listeners) -> None:
        self._listeners = listeners

    def _families(
        self,
    ) -> tuple[CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily]:
        return (
            CounterMetricFamily(
                "pptwisted_connections",
                "Connections to PROXY protocol listeners, by outcome.",
                labels=("listener", "outcome"),
            ),
            CounterMetricFamily(
                "pptwisted_rejections",
                "Connections closed for their PROXY header or their peer, by rule.",
                labels=("listener", "rule"),
            ),
            GaugeMetricFamily(
                "pptwisted_pending_connections",
                "Connections waiting for their PROXY header.",
                labels=("listener",),
            ),
            HistogramMetricFamily(
                "pptwisted_header_delay_seconds",
                "Time from accepting a connection to its complete PROXY header.",
                labels=("listener",),
            ),
        )

    def describe(self) -> list[Metric]:
        """The metric families, without samples (no snapshot taken)."""
        return list(self._families())

    def collect(self) -> list[Metric]:
        """The metric families with a sample set per listener name."""
        by_name: dict[str, StatsSnapshot] = {}
        for name, stats in self._listeners():
            snapshot = stats.snapshot()
            earlier = by_name.get(name)
            by_name[name] = snapshot if earlier is None else _merge(earlier, snapshot)
        connections, rejections, pending, delay = self._families()
        for name in sorted(by_name):
            s = by_name[name]
            for outcome, count in _outcomes(s).items():
                connections.add_metric((name, outcome), count)
            for rule in sorted(s.rejected):
                rejections.add_metric((name, rule), s.rejected[rule])
            pending.add_metric((name,), s.pending)
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            bounds = [*(repr(float(b)) for b in HEADER_DELAY_BUCKETS), "+Inf"]
            for bound, count in zip(bounds, s.header_delay_counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            delay.add_metric((name,), buckets, s.header_delay_sum)
        return [connections, rejections, pending, delay]


_installed: weakref.WeakKeyDictionary[CollectorRegistry, ProxyProtocolCollector] = (
    weakref.WeakKeyDictionary()
)


def register(registry: CollectorRegistry | None = None) -> ProxyProtocolCollector:
    """
    Register the collector of every C{proxy:} listener with C{registry}
    (default: prometheus_client's global C{REGISTRY}), once; return it.
    """
    if registry is None:
        registry = REGISTRY
    collector = _installed.get(registry)
    if collector is None:
        collector = _installed[registry] = ProxyProtocolCollector()
        registry.register(collector)
    return collector


def metrics_resource(registry: CollectorRegistry | None = None) -> IResource:
    """
    A twisted.web resource serving C{registry}'s metrics (default: the
    global C{REGISTRY}), with pptwisted's registered: prometheus_client's
    C{MetricsResource}, a WSGI resource run on the reactor's thread pool.
    """
    if registry is None:
        registry = REGISTRY
    register(registry)
    from prometheus_client.twisted import MetricsResource

    resource: IResource = MetricsResource(registry)  # type: ignore[no-untyped-call]
    return resource

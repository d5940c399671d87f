"""
RateLimitedLog (pptwisted._ratelimit), on its own: the drop log of the
datagram wrapper, meant to be reused by the stream side.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import Logger, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import _ratelimit
from pptwisted._ratelimit import RateLimitedLog

FORMAT = "Dropped from {peer}: {rule}"


class RateLimitedLogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.log = RateLimitedLog(Logger(namespace="test"), self.clock, burst=2, interval=10)

    def full(self) -> list[str]:
        return [e["rule"] for e in self.observer if "rule" in e]

    def summaries(self) -> list[dict[str, object]]:
        return [e for e in self.observer if "suppressed" in e]

    def test_burst_per_rule(self) -> None:
        """Each rule has its own burst."""
        results = [self.log.emit(rule, "p", FORMAT) for rule in "aaabbb"]
        self.assertEqual(results, [True, True, False, True, True, False])
        self.assertEqual(self.full(), ["a", "a", "b", "b"])
        self.assertEqual(self.summaries(), [])

    def test_summary_at_interval_end(self) -> None:
        for i in range(6):
            self.clock.advance(1)
            self.log.emit("a", f"peer{i % 4}", FORMAT)
        self.clock.advance(4.9)
        self.assertEqual(self.summaries(), [])
        self.clock.advance(0.1)  # 10 s after the first event (at 1 s)
        [summary] = self.summaries()
        self.assertEqual(summary["count"], 4)
        self.assertEqual(summary["suppressed"], {"a": 4})
        self.assertEqual(summary["peers"], 4)
        self.assertEqual(summary["log_level"].name, "warn")  # type: ignore[attr-defined]
        self.assertEqual(self.log.total_suppressed["a"], 4)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_quiet_interval_no_summary(self) -> None:
        self.log.emit("a", "p", FORMAT)
        self.clock.advance(100)
        self.log.emit("a", "p", FORMAT)
        self.assertEqual(self.full(), ["a", "a"])
        self.assertEqual(self.summaries(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_new_interval_lazily(self) -> None:
        """An event after the interval (timer not fired yet) starts afresh."""
        for _ in range(3):
            self.log.emit("a", "p", FORMAT)
        self.clock.rightNow = 20  # time moved without running the timer
        self.log.emit("a", "p", FORMAT)
        self.assertEqual(len(self.summaries()), 1)
        self.assertEqual(self.full(), ["a", "a", "a"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flush(self) -> None:
        for _ in range(3):
            self.log.emit("a", "p", FORMAT)
        self.log.flush()
        self.log.flush()
        self.assertEqual(len(self.summaries()), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_distinct_peers_bounded(self) -> None:
        self.patch(_ratelimit, "MAX_TRACKED_PEERS", 3)
        for i in range(10):
            self.log.emit("a", f"peer{i}", FORMAT)
        self.log.flush()
        [summary] = self.summaries()
        self.assertEqual((summary["peers"], summary["more"]), (3, "+"))

    def test_bad_arguments(self) -> None:
        logger = Logger()
        self.assertRaises(ValueError, RateLimitedLog, logger, self.clock, burst=-1)
        self.assertRaises(ValueError, RateLimitedLog, logger, self.clock, interval=0)

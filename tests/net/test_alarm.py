"""
L{pptwisted.stream._alarm}: the header timer on a real reactor is kept by a
sleeping thread, not by the reactor's timed calls, and still fires in the
reactor thread, on time, once; cancelled and moved calls behave as a
C{DelayedCall}'s would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pptwisted import ProxyProtocolServerEndpoint
from pptwisted.stream._alarm import Alarm, call_later_for
from pptwisted.stream._deadlines import Deadlines


def _sleep(seconds: float) -> Deferred[None]:
    return deferLater(reactor, seconds, lambda: None)


class ChoiceTests(SynchronousTestCase):
    def test_test_clock_keeps_call_later(self) -> None:
        clock = Clock()
        self.assertEqual(call_later_for(clock), clock.callLater)

    def test_reactor_gets_one_alarm(self) -> None:
        first = call_later_for(reactor)
        self.assertIsInstance(first.__self__, Alarm)  # type: ignore[attr-defined]
        self.assertIs(call_later_for(reactor).__self__, first.__self__)  # type: ignore[attr-defined]

    def test_deadlines_on_a_test_clock_use_it(self) -> None:
        clock = Clock()

        class Waiting:
            timed_out = False

            def header_timed_out(self) -> None:
                self.timed_out = True

        deadlines = Deadlines(clock, 3)
        waiting = Waiting()
        deadlines.add(waiting)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(3)
        self.assertTrue(waiting.timed_out)


async def _until(predicate: Callable[[], bool], what: str, seconds: float = 10) -> None:
    """Wait (bounded) until C{predicate()}; fail naming C{what}."""
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await _sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class AlarmTests(TestCase):
    """
    Timing here is checked one way only, never early: a loaded machine may
    run a call late, never before its time.
    """

    timeout = 30

    def setUp(self) -> None:
        self.alarm = Alarm(reactor)  # type: ignore[arg-type]

    async def test_fires_once_in_the_reactor_thread(self) -> None:
        seen: list[tuple[float, threading.Thread]] = []
        start = time.time()
        call = self.alarm.callLater(
            0.2, lambda: seen.append((time.time(), threading.current_thread()))
        )
        self.assertTrue(call.active())
        self.assertGreaterEqual(call.getTime(), start + 0.2)
        await _until(lambda: bool(seen), "the call")
        await _sleep(0.1)
        self.assertEqual(len(seen), 1)
        self.assertGreaterEqual(seen[0][0], call.getTime())
        self.assertIs(seen[0][1], threading.main_thread())
        self.assertFalse(call.active())
        self.assertRaises(RuntimeError, call.cancel)

    async def test_cancelled_never_fires(self) -> None:
        seen: list[int] = []
        call = self.alarm.callLater(0.1, lambda: seen.append(1))
        marker = self.alarm.callLater(0.2, lambda: seen.append(2))
        call.cancel()
        self.assertFalse(call.active())
        self.assertRaises(RuntimeError, call.reset, 1)
        await _until(lambda: bool(seen), "the later call")
        self.assertEqual(seen, [2])
        self.assertFalse(marker.active())

    async def test_reset_later_and_sooner(self) -> None:
        seen: list[tuple[str, float]] = []
        later = self.alarm.callLater(0.05, lambda: seen.append(("later", time.time())))
        sooner = self.alarm.callLater(60, lambda: seen.append(("sooner", time.time())))
        moved = time.time()
        later.reset(0.4)
        sooner.reset(0.1)
        await _until(lambda: len(seen) == 2, "both calls")
        self.assertEqual([name for name, _ in seen], ["sooner", "later"])
        self.assertGreaterEqual(seen[1][1], moved + 0.4)

    async def test_reset_after_it_was_handed_to_the_reactor(self) -> None:
        # The thread hands a due call over with callFromThread; moved later
        # before the reactor runs it, it waits for its new time.
        seen: list[float] = []
        call = self.alarm.callLater(0.05, lambda: seen.append(time.time()))
        for _ in range(500):  # blocks the reactor: the call is due, not yet run
            if call not in self.alarm._calls:
                break
            time.sleep(0.01)
        self.assertNotIn(call, self.alarm._calls)
        moved = time.time()
        call.reset(0.3)
        await _until(lambda: bool(seen), "the moved call")
        self.assertEqual(len(seen), 1)
        self.assertGreaterEqual(seen[0], moved + 0.3)

    async def test_one_thread_for_many_calls(self) -> None:
        seen: list[int] = []
        for i in range(50):
            self.alarm.callLater(0.01 * (i % 5), lambda i=i: seen.append(i))
        await _until(lambda: len(seen) == 50, "50 calls")
        self.assertEqual(sorted(seen), list(range(50)))
        ours = [t for t in threading.enumerate() if t is self.alarm._thread]
        self.assertEqual([t.name for t in ours], ["pptwisted header deadlines"])


class _Waiting:
    def __init__(self, name: str, expired: list[tuple[str, float]]) -> None:
        self.name = name
        self.expired = expired

    def header_timed_out(self) -> None:
        self.expired.append((self.name, time.time()))


class DeadlinesOnTheReactorTests(TestCase):
    """L{Deadlines} on the alarm: the same sweeps as on a test clock."""

    timeout = 30

    async def test_deadlines_and_a_shorter_timeout(self) -> None:
        expired: list[tuple[str, float]] = []
        deadlines = Deadlines(reactor, 0.6)  # type: ignore[arg-type]
        self.addCleanup(deadlines.stop)
        first_at = time.time()
        deadlines.add(_Waiting("first", expired))
        self.assertNotIn(deadlines._expire, [call.func for call in reactor.getDelayedCalls()])
        await _sleep(0.05)
        second_at = time.time()
        deadlines.add(_Waiting("second", expired))
        deadlines.timeout = 0.1  # the third is due before the first two
        third_at = time.time()
        deadlines.add(_Waiting("third", expired))
        # The timer was moved sooner, for the third.
        assert deadlines.timer is not None
        self.assertLessEqual(deadlines.timer.getTime(), time.time() + 0.1)
        await _until(lambda: len(expired) == 3, "three expiries")
        when = dict(expired)
        self.assertGreaterEqual(when["first"], first_at + 0.6)
        self.assertGreaterEqual(when["second"], second_at + 0.6)
        self.assertGreaterEqual(when["third"], third_at + 0.1)
        self.assertEqual(len(deadlines), 0)
        # Nothing waits: the timer is not set again.
        self.assertIsNone(deadlines.timer)

    async def test_removed_connection_is_not_told(self) -> None:
        """A connection popped from C{waiting} (its header came) is not timed out."""
        expired: list[tuple[str, float]] = []
        deadlines = Deadlines(reactor, 0.1)  # type: ignore[arg-type]
        self.addCleanup(deadlines.stop)
        served = _Waiting("served", expired)
        deadlines.add(served)
        deadlines.add(_Waiting("silent", expired))
        self.assertIsNotNone(deadlines.waiting.pop(served, None))
        await _until(lambda: bool(expired), "the silent one's expiry")
        await _sleep(0.1)
        self.assertEqual([name for name, _ in expired], ["silent"])


class ReactorLoopTests(TestCase):
    """What the alarm is for: a busy proxy: listener adds no timed call."""

    timeout = 30

    async def test_no_delayed_call_while_headers_are_awaited(self) -> None:
        endpoint = serverFromString(
            reactor, "proxy:tcp:0:interface=127.0.0.1:proxyTimeout=0.5:proxyName=alarm"
        )
        assert isinstance(endpoint, ProxyProtocolServerEndpoint)
        port = await endpoint.listen(Factory.forProtocol(Protocol))
        self.addCleanup(port.stopListening)
        before = {id(call) for call in reactor.getDelayedCalls()}
        sock = await deferToThread(socket.create_connection, ("127.0.0.1", port.getHost().port), 10)
        self.addCleanup(sock.close)
        for _ in range(200):
            if endpoint.stats.pending == 1:
                break
            await _sleep(0.01)
        self.assertEqual(endpoint.stats.pending, 1)
        ours = [
            call
            for call in reactor.getDelayedCalls()
            if id(call) not in before and getattr(call.func, "__name__", "") == "_expire"
        ]
        self.assertEqual(ours, [])
        # ... and the header timeout still closes the silent connection.
        self.assertEqual(await deferToThread(sock.recv, 10), b"")
        self.assertEqual(endpoint.stats.timed_out, 1)


FORK_CHILD = r"""
import os, sys, threading, time
from pptwisted.stream._alarm import Alarm

class Reactor:
    def __init__(self):
        self.ran = threading.Event()
    def callFromThread(self, f, *a):
        f(*a)
        self.ran.set()

r = Reactor()
alarm = Alarm(r)
alarm.callLater(3600, lambda: None)   # the thread starts in the parent
pid = os.fork()
if pid == 0:
    fired = []
    alarm.callLater(0.05, lambda: fired.append(1))
    r.ran.wait(5)
    os._exit(0 if fired == [1] else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


class ForkTests(SynchronousTestCase):
    def test_alarm_works_in_a_forked_child(self) -> None:
        if not hasattr(os, "fork"):
            raise self.skipTest("no fork")
        result = subprocess.run(
            [sys.executable, "-c", FORK_CHILD],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)

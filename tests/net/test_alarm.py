"""
L{pptwisted._alarm}: the header timer on a real reactor is kept by a
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

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pptwisted import ProxyProtocolServerEndpoint
from pptwisted._alarm import Alarm, call_later_for
from pptwisted._deadlines import Deadlines


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


class AlarmTests(TestCase):
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
        self.assertLess(abs(call.getTime() - (start + 0.2)), 0.05)
        await _sleep(0.1)
        self.assertEqual(seen, [])
        await _sleep(0.4)
        self.assertEqual(len(seen), 1)
        self.assertGreaterEqual(seen[0][0], start + 0.2)
        self.assertIs(seen[0][1], threading.main_thread())
        self.assertFalse(call.active())
        self.assertRaises(RuntimeError, call.cancel)

    async def test_cancelled_never_fires(self) -> None:
        seen: list[int] = []
        call = self.alarm.callLater(0.1, lambda: seen.append(1))
        call.cancel()
        self.assertFalse(call.active())
        await _sleep(0.3)
        self.assertEqual(seen, [])
        self.assertRaises(RuntimeError, call.reset, 1)

    async def test_reset_later_and_sooner(self) -> None:
        seen: list[str] = []
        later = self.alarm.callLater(0.1, lambda: seen.append("later"))
        sooner = self.alarm.callLater(5, lambda: seen.append("sooner"))
        later.reset(0.6)
        sooner.reset(0.2)
        await _sleep(0.4)
        self.assertEqual(seen, ["sooner"])
        await _sleep(0.5)
        self.assertEqual(seen, ["sooner", "later"])

    async def test_reset_after_it_was_handed_to_the_reactor(self) -> None:
        # The thread hands a due call over with callFromThread; moved later
        # before the reactor runs it, it waits for its new time.
        seen: list[int] = []
        call = self.alarm.callLater(0.05, lambda: seen.append(1))
        for _ in range(500):  # blocks the reactor: the call is due, not yet run
            if call not in self.alarm._calls:
                break
            time.sleep(0.01)
        self.assertNotIn(call, self.alarm._calls)
        call.reset(0.5)
        await _sleep(0.2)
        self.assertEqual(seen, [])
        await _sleep(0.6)
        self.assertEqual(seen, [1])

    async def test_one_thread_for_many_calls(self) -> None:
        seen: list[int] = []
        for i in range(50):
            self.alarm.callLater(0.01 * (i % 5), lambda i=i: seen.append(i))
        await _sleep(0.5)
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

    async def test_deadlines_in_order_and_a_shorter_timeout(self) -> None:
        expired: list[tuple[str, float]] = []
        deadlines = Deadlines(reactor, 0.6)  # type: ignore[arg-type]
        self.addCleanup(deadlines.stop)
        start = time.time()
        deadlines.add(_Waiting("first", expired))
        self.assertEqual(reactor.getDelayedCalls(), [])
        await _sleep(0.1)
        deadlines.add(_Waiting("second", expired))
        deadlines.timeout = 0.1  # the third is due before the first two
        deadlines.add(_Waiting("third", expired))
        await _sleep(0.3)
        self.assertEqual([name for name, _ in expired], ["third"])
        await _sleep(0.6)
        self.assertEqual([name for name, _ in expired], ["third", "first", "second"])
        self.assertGreaterEqual(expired[1][1], start + 0.6)
        self.assertGreaterEqual(expired[2][1], start + 0.7)
        self.assertEqual(len(deadlines), 0)
        # Nothing waits: the timer is not set again.
        self.assertIsNone(deadlines.timer)

    async def test_discarded_connection_is_not_told(self) -> None:
        expired: list[tuple[str, float]] = []
        deadlines = Deadlines(reactor, 0.1)  # type: ignore[arg-type]
        self.addCleanup(deadlines.stop)
        served = _Waiting("served", expired)
        deadlines.add(served)
        deadlines.add(_Waiting("silent", expired))
        self.assertIsNotNone(deadlines.discard(served))
        await _sleep(0.4)
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
from pptwisted._alarm import Alarm

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

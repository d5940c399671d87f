"""
Timers that cost the reactor nothing while they wait.

Twisted's reactor pays for a pending C{DelayedCall} on every iteration of its
loop, whatever the call is for: it works out how long it may sleep (a clock
read, C{min}, C{max}, a float timeout for C{epoll}). The header timer of a
receiver is armed whenever connections come and go, so with C{callLater} it
would make every iteration of a busy server dearer: about 11,000 instructions
per connection in the connection benchmark (C{python -m bench}), 5% of what a
whole plain C{tcp:} connection costs, for a timer that almost never fires.

An L{Alarm} keeps its timers in one thread of the process instead, asleep
until the soonest is due, which hands the call to the reactor with
C{callFromThread}: the reactor thread runs it, as it would a C{DelayedCall}.
Arming and moving a timer take a lock, which the header timer does at most
once per timeout (see L{pptwisted.stream._deadlines}). Clocks that are not real
reactors (C{task.Clock} in tests) keep C{callLater}: see L{call_later_for}.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorThreads, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["Alarm", "AlarmCall", "call_later_for"]

_log = Logger(namespace="pptwisted")


@implementer(IDelayedCall)
class AlarmCall:
    """One timer of an L{Alarm}: the part of L{IDelayedCall} it needs."""

    __slots__ = ("_alarm", "called", "cancelled", "func", "time")

    def __init__(self, alarm: Alarm, when: float, func: Callable[[], object]) -> None:
        self._alarm = alarm
        self.time = when
        self.func = func
        self.cancelled = False
        self.called = False

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return not (self.cancelled or self.called)

    def cancel(self) -> None:
        if not self.active():
            raise RuntimeError("cancel() of a call that was cancelled or called")
        self._alarm._cancel(self)

    def reset(self, secondsFromNow: float) -> None:
        if not self.active():
            raise RuntimeError("reset() of a call that was cancelled or called")
        self._alarm._move(self, time.time() + secondsFromNow)

    def delay(self, secondsLater: float) -> None:
        if not self.active():
            raise RuntimeError("delay() of a call that was cancelled or called")
        self._alarm._move(self, self.time + secondsLater)


class Alarm:
    """
    The timers of one reactor, kept by one daemon thread (started with the
    first timer). Times are C{time.time()}, the reactor's own clock.
    """

    def __init__(self, reactor: IReactorThreads) -> None:
        self._reactor = reactor
        self._lock = threading.Condition()
        self._calls: set[AlarmCall] = set()
        self._thread: threading.Thread | None = None
        _EVERY.add(self)

    def callLater(self, delay: float, func: Callable[[], object]) -> AlarmCall:
        """Call C{func} in the reactor thread in C{delay} seconds."""
        call = AlarmCall(self, time.time() + delay, func)
        with self._lock:
            self._calls.add(call)
            if self._thread is None:
                self._start()
            self._lock.notify()
        return call

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="pptwisted header deadlines", daemon=True)
        thread.start()
        self._thread = thread

    def _cancel(self, call: AlarmCall) -> None:
        call.cancelled = True
        with self._lock:
            self._calls.discard(call)

    def _move(self, call: AlarmCall, when: float) -> None:
        with self._lock:
            call.time = when
            # (Back in the set if it was due and handed over meanwhile: _fire
            # then finds it not due and leaves it to fire at its new time.)
            self._calls.add(call)
            self._lock.notify()

    def _run(self) -> None:
        lock = self._lock
        calls = self._calls
        while True:
            with lock:
                while not calls:
                    lock.wait()
                now = time.time()
                soonest = min(call.time for call in calls)
                if soonest > now:
                    lock.wait(soonest - now)
                    continue
                due = [call for call in calls if call.time <= now]
                calls.difference_update(due)
            for call in due:
                try:
                    self._reactor.callFromThread(self._fire, call)
                except Exception:  # pragma: no cover - a reactor that cannot take it
                    # The thread must live on: the other timers depend on it.
                    _log.failure("pptwisted could not hand a timer to the reactor")

    def _fire(self, call: AlarmCall) -> None:
        # In the reactor thread.
        if call.cancelled or call.called:
            return
        with self._lock:
            if call in self._calls:
                # Moved later after it was handed over: not due yet.
                return
        call.called = True
        call.func()

    def _forget_thread(self) -> None:
        """In a forked child: the thread did not survive; start anew."""
        self._lock = threading.Condition()
        self._thread = None
        if self._calls:
            self._start()


#: Every alarm, for the fork handler.
_EVERY: weakref.WeakSet[Alarm] = weakref.WeakSet()
#: The alarm of each reactor, by id (see call_later_for).
_ALARMS: dict[int, Alarm] = {}


def _after_fork() -> None:
    for alarm in list(_EVERY):
        alarm._forget_thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def call_later_for(clock: IReactorTime) -> Callable[[float, Callable[[], object]], Any]:
    """
    How to set a timer on C{clock}: a real reactor's L{Alarm} (a reactor
    that can be called from a thread and keeps C{time.time()}), else the
    clock's own C{callLater} (a test clock, a simulated one).
    """
    if IReactorThreads.providedBy(clock) and getattr(clock, "seconds", None) is time.time:
        alarm = _ALARMS.get(id(clock))
        if alarm is None or alarm._reactor is not clock:
            alarm = _ALARMS[id(clock)] = Alarm(clock)
        return alarm.callLater
    return clock.callLater

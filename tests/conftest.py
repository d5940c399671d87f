"""
pytest configuration shared by the whole suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Run every test in its own temporary directory: trial's C{mktemp()} makes
    paths relative to the working directory, which would otherwise be the
    checkout. Tests that need the checkout use absolute paths.
    """
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _fresh_pending_record() -> None:
    """
    Start every test with an empty per-process record of connections
    waiting for their header: connections that earlier tests left pending on
    StringTransports must not count against the cap (or be evicted) here.
    """
    from pptwisted.stream._pending import pending_connections

    pending_connections.clear()


def _trial_awaits_coroutines() -> bool:
    """Does this Twisted's trial await an C{async def} test? (Not before 22.8.)"""
    import inspect

    from twisted.internet.defer import maybeDeferred

    async def probe() -> int:
        return 1

    results: list[object] = []
    maybeDeferred(probe).addCallback(results.append)
    if results and inspect.iscoroutine(results[0]):
        results[0].close()
        return False
    return True


_AWAITS_COROUTINES = _trial_awaits_coroutines()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    On a Twisted whose trial does not await coroutines (22.4), an C{async def}
    test would pass without running: make each return a Deferred instead.
    """
    if _AWAITS_COROUTINES:
        return
    import functools
    import inspect

    from twisted.internet.defer import ensureDeferred

    for item in items:
        cls = getattr(item, "cls", None)
        name = getattr(item, "name", "")
        method = cls.__dict__.get(name) if cls is not None else None
        if method is None or not inspect.iscoroutinefunction(method):
            continue

        def as_deferred(self: object, _method: object = method) -> object:
            return ensureDeferred(_method(self))  # type: ignore[operator]

        setattr(cls, name, functools.wraps(method)(as_deferred))

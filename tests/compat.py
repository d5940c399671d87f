"""
What the tests need to know about the Twisted they run on (22.4 to the
newest): which optional features exist, and how to start C{twist}.

A test of a feature that only a newer Twisted has skips with the release it
needs, so the matrix in C{.ci/twisted-matrix} reports it instead of failing.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import twisted

#: The installed Twisted as (major, minor), e.g. (22, 4).
TWISTED = tuple(int(part) for part in twisted.__version__.split(".")[:2])


def needs_twisted(major: int, minor: int, feature: str) -> str | None:
    """
    A skip reason if the installed Twisted is older than C{major.minor}
    (the release that added C{feature}), else C{None}.
    """
    if TWISTED >= (major, minor):
        return None
    return f"{feature} needs Twisted {major}.{minor} or later (this is {twisted.__version__})"


#: Twisted's tls: server endpoint and wrapServerTLS appeared in 26.4.
NEEDS_TLS_ENDPOINT = needs_twisted(26, 4, "the tls: server endpoint (and wrapServerTLS)")
#: twisted.web.pages appeared in 23.10.
NEEDS_WEB_PAGES = needs_twisted(23, 10, "twisted.web.pages")

#: The twist entry point's code, for a Python with no twist script beside it
#: (a venv over Debian's python3-twisted has /usr/bin/twist only).
_TWIST_MAIN = "import sys; from twisted.application.twist._twist import Twist; Twist.main(sys.argv)"


def twist_command() -> list[str]:
    """
    The command that starts C{twist} for this Python: the script beside
    C{sys.executable} if there is one, else the entry point it runs. Not
    C{python -m twisted}: PyPI's Twisted 22.4 breaks that through
    C{pkg_resources.load_entry_point}.
    """
    beside = Path(sys.executable).parent / "twist"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("twist")
    if found is not None and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found]
    return [sys.executable, "-c", _TWIST_MAIN]


_F = TypeVar("_F", bound=Callable[..., Any])


def skipIf(reason: str | None) -> Callable[[_F], _F]:
    """Skip the decorated test with C{reason}, unless it is C{None}."""

    def decorate(test: _F) -> _F:
        if reason is not None:
            test.skip = reason  # type: ignore[attr-defined]
        return test

    return decorate


#: The checkout: on a child's path, so that its pptwisted and twisted/plugins
#: dropin are found however pptwisted is installed (as `python -m` had it).
REPO = Path(__file__).resolve().parent.parent


def twist_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the checkout first on C{PYTHONPATH}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


class Started:
    """
    A process of ours that listens on port 0 and logs the port it got
    (Twisted's "starting on PORT"): read its output as it comes, so the test
    connects to the port the process holds instead of one it guessed free.
    """

    def __init__(self, argv: list[str], **kwargs: object) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def ports(self, count: int, seconds: float = 30) -> dict[str, int]:
        """
        The ports of the first C{count} "PREFIX starting on PORT" lines, by
        their log prefix (e.g. the factory's name); fail after C{seconds}.
        """
        found: dict[str, int] = {}
        deadline = time.monotonic() + seconds
        while len(found) < count and (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := re.search(r"(\S+(?: \(PROXY\))?) starting on (\d+)", line):
                found[match.group(1)] = int(match.group(2))
        if len(found) < count:
            raise AssertionError(
                f"{len(found)} of {count} 'starting on PORT' lines within {seconds}s:\n"
                + "".join(self.seen)
            )
        return found

    def port(self, seconds: float = 30) -> int:
        """The port from the first "starting on PORT" line; fail after C{seconds}."""
        [port] = self.ports(1, seconds).values()
        return port

    def stop(self) -> str:
        """Terminate the process; everything it wrote."""
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        self.reader.join(30)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)


_UNDER_REACTOR = """
import sys, importlib
importlib.import_module(sys.argv[1]).install()
import pytest
sys.exit(pytest.main([sys.argv[2], "-q", "-p", "no:cacheprovider", "-k", sys.argv[3]]))
"""


def run_under_reactor(
    case: Any, reactor_module: str, test_file: str, select: str, timeout: float
) -> None:
    """
    Run the tests of C{test_file} that C{select} (pytest's C{-k}) picks in a
    process running the reactor of C{reactor_module}; fail C{case} unless
    they all passed. Skips when this process already runs that reactor.
    """
    from twisted.internet import reactor
    from twisted.trial.unittest import SkipTest

    if type(reactor).__module__ == reactor_module:
        raise SkipTest(f"this process already runs {reactor_module}")
    path = Path(test_file).resolve()
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_REACTOR, reactor_module, str(path), select],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=path.parents[2],
    )
    tail = (result.stdout + result.stderr)[-3000:]
    case.assertEqual(result.returncode, 0, tail)
    case.assertRegex(result.stdout, r"\d+ passed", tail)
    case.assertNotRegex(result.stdout, r"\d+ (failed|error)", tail)

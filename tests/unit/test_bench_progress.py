"""
C{python -m bench} says at the start about how long it takes and reports
each stage on stderr (issue 20), keeping stdout for the table or the JSON.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import bench.__main__ as bench_main


class ProgressTests(SynchronousTestCase):
    def test_stages_on_stderr(self) -> None:
        """Every stage is announced on stderr, the first with the expected duration."""

        def stage(name: str) -> Any:
            def run(*args: object, **kwargs: object) -> Any:
                raise _Stop(name)

            return run

        self.patch(bench_main, "_STARTED", [])
        self.patch(bench_main.connections, "run", stage("connections"))
        err, out = io.StringIO(), io.StringIO()
        with redirect_stderr(err), redirect_stdout(out):
            self.assertRaises(_Stop, bench_main.collect, True)
        lines = err.getvalue().splitlines()
        self.assertEqual(out.getvalue(), "")
        self.assertRegex(lines[0], r"^\[bench +0 s\] a --quick smoke run: about \d+ to \d+ minutes")
        self.assertIn("connections:", lines[1])

    def test_full_run_estimate(self) -> None:
        self.patch(bench_main, "_STARTED", [])
        self.patch(bench_main.connections, "run", lambda quick: (_ for _ in ()).throw(_Stop()))
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertRaises(_Stop, bench_main.collect, False)
        self.assertIn("a full run: about", err.getvalue().splitlines()[0])


class _Stop(Exception):
    """Stops collect() after its first progress lines."""

"""
The benchmark modules import on platforms without CPU affinity (macOS):
issue 11 found C{bench/connections.py} calling C{os.sched_getaffinity} at
import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

REPO = Path(__file__).resolve().parents[2]


class BenchImportTests(SynchronousTestCase):
    def test_without_sched_getaffinity(self) -> None:
        code = (
            "import os\n"
            "for name in ('sched_getaffinity', 'sched_setaffinity'):\n"
            "    if hasattr(os, name): delattr(os, name)\n"
            "import bench.connections as c, bench.parse\n"
            "c.pin(os.getpid(), c.SERVER_CPU)\n"
            "print(len(c._CPUS) >= 1)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "True")

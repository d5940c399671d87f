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

"""
C{python -m pptwisted.probe}: the entry point the documentation names for the
probe tool, which lives in L{pptwisted.tools.probe}. Not part of the
library: nothing in pptwisted imports it.
"""

from __future__ import annotations

import sys

from .tools.probe import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())

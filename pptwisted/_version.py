"""
pptwisted's version: the one place it is written. C{pyproject.toml} reads it
(C{[tool.setuptools.dynamic]}) and C{pptwisted.__version__} is this value.
"""

__version__ = "0.2.0"

"""Fuzz targets for pptwisted (not part of the installed package)."""

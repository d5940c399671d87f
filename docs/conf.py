"""
Sphinx configuration of pptwisted's documentation.

Build it with C{python -m sphinx -W -b html docs docs/_build/html}. The API
reference is generated from the epytext docstrings by pydoctor's Sphinx
extension, as Twisted's is, into C{api/} of the HTML output.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

project = "pptwisted"
author = "pptwisted contributors"
copyright = "pptwisted contributors"
try:
    release = version("pptwisted")
except PackageNotFoundError:  # building from a checkout that is not installed
    release = ""
version = ".".join(release.split(".")[:2])

# pydoctor first: it adds its inventory to intersphinx_mapping before
# intersphinx loads the mappings (both on builder-inited).
extensions = ["pydoctor.sphinx_ext.build_apidocs", "sphinx.ext.intersphinx"]

root_doc = "index"
exclude_patterns = ["_build", "examples"]
html_theme = "furo"
html_title = "pptwisted"
pygments_style = "sphinx"

# No intersphinx inventories to fetch: the docs build offline. The
# extension adds the API reference's own inventory (a local file), so
# :py:class: roles in the pages link into it.
intersphinx_mapping: dict[str, tuple[str, tuple[str, ...]]] = {}
# A :py: reference that the API reference does not have fails the build
# (pydoctor files objects under the module that defines them, e.g.
# pptwisted._policy.ProxyProtocolPolicy: the pages name that target).
nitpicky = True

_here = os.path.dirname(os.path.abspath(__file__))
_source = "https://github.com/pptwisted/pptwisted/tree/main"

# Where the API reference is served, relative to these pages.
pydoctor_url_path = "api/"
pydoctor_args = [
    # The extension passes --quiet once. Twice, pydoctor stays silent about
    # links to Python's and Twisted's own objects, which it cannot resolve
    # without fetching their inventories (the build is offline);
    # tests/unit/test_docs.py runs pydoctor on its own to catch docstring
    # syntax errors, which this hides too.
    "--quiet",
    "--project-name=pptwisted",
    f"--project-version={release}",
    "--docformat=epytext",
    "--html-output={outdir}/api",
    f"--project-base-dir={os.path.dirname(_here)}",
    "--html-viewsource-base=" + _source,
    "--project-url=https://pptwisted.readthedocs.io/",
    os.path.join(os.path.dirname(_here), "pptwisted"),
]

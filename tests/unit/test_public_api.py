"""
The public API (issue 11, item 5): C{pptwisted} exports the names the
docs' examples use; the rest lives in documented submodules; names that moved stay
importable from C{pptwisted} for one release, with a DeprecationWarning.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import pptwisted
import pptwisted.tlv

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
SUBMODULES = ("codec", "tlv", "endpoints", "datagram", "http", "testing", "metrics", "compat")


def _docs_python() -> list[str]:
    """The docs' Python examples (the doctest file without its prompts)."""
    blocks = [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.glob("*.py"))]
    doctest = (EXAMPLES / "codec.txt").read_text(encoding="utf-8")
    blocks.append(
        "\n".join(line[4:] for line in doctest.splitlines() if line.startswith((">>> ", "... ")))
    )
    return blocks


class PublicNamesTests(SynchronousTestCase):
    def test_small(self) -> None:
        """About 15 to 20 names, each one there without a warning."""
        self.assertTrue(15 <= len(pptwisted.__all__) <= 20, len(pptwisted.__all__))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for name in pptwisted.__all__:
                self.assertIsNotNone(getattr(pptwisted, name))

    def test_docs_imports_are_public(self) -> None:
        """
        Every name the docs' Python examples import from C{pptwisted} or reads as
        C{pptwisted.NAME} is in C{__all__} or is a public submodule.
        """
        blocks = _docs_python()
        self.assertGreater(len(blocks), 5)
        used: set[str] = set()
        for block in blocks:
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and node.module == "pptwisted":
                    used.update(alias.name for alias in node.names)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "pptwisted"
                ):
                    used.add(node.attr)
        self.assertIn("ProxyProtocolServerEndpoint", used)
        public = set(pptwisted.__all__) | set(SUBMODULES)
        self.assertEqual(sorted(used - public), [])

    def test_submodules_export_what_they_list(self) -> None:
        """Each documented submodule's C{__all__} resolves, without a warning."""
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            for name in ("codec", "tlv", "endpoints", "datagram"):
                module = importlib.import_module(f"pptwisted.{name}")
                self.assertTrue(module.__all__)
                for attribute in module.__all__:
                    self.assertIsNotNone(getattr(module, attribute), (name, attribute))

    def test_ssl_flags_public(self) -> None:
        """The client flags C{ssl_tlv(client=...)} takes are public in L{pptwisted.tlv}."""
        from pptwisted.tlv import (
            PP2_CLIENT_CERT_CONN,
            PP2_CLIENT_CERT_SESS,
            PP2_CLIENT_SSL,
            ssl_tlv,
        )

        tlv = ssl_tlv(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS, 0)
        # PP2_TYPE_SSL, client 0x07, verify 0 (spec 2.2.5).
        self.assertEqual(tlv.type, 0x20)
        self.assertEqual(tlv.value, b"\x07\x00\x00\x00\x00")


class MovedNamesTests(SynchronousTestCase):
    def test_moved_names_warn(self) -> None:
        """
        Each name that left C{pptwisted} still comes from it, the very same
        object, with a DeprecationWarning naming its new home.
        """
        moved = pptwisted._MOVED
        self.assertIn("aws_vpce_tlv", moved)
        self.assertIn("ProxyServerParser", moved)
        for name, home in moved.items():
            self.assertNotIn(name, pptwisted.__all__)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = getattr(pptwisted, name)
            self.assertIs(value, getattr(importlib.import_module(home), name))
            self.assertEqual([w.category for w in caught], [DeprecationWarning], name)
            self.assertIn(f"import it from {home}", str(caught[0].message))
            self.assertEqual(caught[0].filename, __file__)

    def test_from_import_warns(self) -> None:
        """C{from pptwisted import ssl_tlv} warns too."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from pptwisted import ssl_tlv
        self.assertIs(ssl_tlv, pptwisted.tlv.ssl_tlv)
        # The import statement looks the name up more than once.
        self.assertTrue(caught)
        self.assertEqual({w.category for w in caught}, {DeprecationWarning})

    def test_unknown_name(self) -> None:
        """A name that never existed is an AttributeError, as before."""
        with self.assertRaises(AttributeError):
            pptwisted.no_such_name  # noqa: B018

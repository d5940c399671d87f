"""
A guard for Twisted 22.4 to 26.3 that runs on the newest Twisted too: no
module of pptwisted subclasses a subscripted Twisted class
(C{class X(WrappingFactory[P])}), which only Twisted 26.4 and later allow at
run time. The Twisted matrix (.ci/twisted-matrix) proves the rest.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*(ROOT / "pptwisted").rglob("*.py"), ROOT / "twisted/plugins/pptwisted_plugins.py"]
)


def twisted_names(tree: ast.Module) -> set[str]:
    """The names a module imports from Twisted."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("twisted"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


class NoSubscriptedTwistedBaseTests(SynchronousTestCase):
    def test_no_subscripted_twisted_base(self) -> None:
        self.assertIn(ROOT / "pptwisted/endpoints/_client.py", SOURCES)
        for path in SOURCES:
            tree = ast.parse(path.read_text(), str(path))
            ours = twisted_names(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef):
                    continue
                for base in node.bases:
                    if isinstance(base, ast.Subscript) and isinstance(base.value, ast.Name):
                        self.assertNotIn(
                            base.value.id,
                            ours,
                            f"{path.name}: class {node.name}({ast.unparse(base)}) fails on"
                            " Twisted < 26.4; subscript it under TYPE_CHECKING only",
                        )

    def test_the_guard_sees_a_subscripted_base(self) -> None:
        tree = ast.parse(
            "from twisted.protocols.policies import WrappingFactory\n"
            "class F(WrappingFactory[int]): pass\n"
        )
        self.assertIn("WrappingFactory", twisted_names(tree))
        (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        self.assertIsInstance(cls.bases[0], ast.Subscript)

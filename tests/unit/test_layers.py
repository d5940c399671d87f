"""
The one-way layering (DESIGN.md, "Layers"): the codec imports nothing from
the reactor, the receivers, the endpoints or the tools; nothing in the
library imports a tool; the plugin dropin points at the tools' modules.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).resolve().parents[2] / "pptwisted"

#: The sans-I/O codec: bytes in, a header out, and the reverse.
CODEC = ("_errors", "_header", "_v1", "_v2", "_tlv", "_parser", "_addresses", "codec", "tlv")
#: Entry points of tools kept at their documented path (python -m pptwisted.probe).
TOOL_ENTRY_POINTS = {"probe.py"}


def _imports(path: Path) -> set[str]:
    """The absolute module names a module of C{pptwisted} imports (any depth)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = parts[:-1]  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # "from . import tools" names a module too.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


class LibraryNeverImportsToolsTests(SynchronousTestCase):
    def test_no_library_module_imports_a_tool(self) -> None:
        """
        No module outside C{pptwisted/tools/} (but the documented tool entry
        point) imports C{pptwisted.tools}, at any depth in the module.
        """
        offenders = []
        for path in sorted(PACKAGE.rglob("*.py")):
            if "tools" in path.relative_to(PACKAGE).parts[:-1]:
                continue
            if path.parent == PACKAGE and path.name in TOOL_ENTRY_POINTS:
                continue
            for module in _imports(path):
                if module == "pptwisted.tools" or module.startswith("pptwisted.tools."):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
        self.assertEqual(offenders, [])

    def test_checker_sees_relative_imports(self) -> None:
        """The check above finds a tool import written relatively."""
        self.assertIn(
            "pptwisted.tools._cli",
            _imports(PACKAGE / "probe.py") | {"x"} and _imports(PACKAGE / "tools" / "whoami.py"),
        )
        self.assertIn("pptwisted.tools.probe", _imports(PACKAGE / "probe.py"))
        self.assertIn("pptwisted.datagram._datagram", _imports(PACKAGE / "tools" / "whoami.py"))

    def test_codec_imports_only_the_codec(self) -> None:
        """The codec modules import no other pptwisted module."""
        allowed = {f"pptwisted.{name}" for name in CODEC} | {"pptwisted"}
        offenders = []
        for name in CODEC:
            path = PACKAGE / f"{name}.py"
            for module in _imports(path):
                root = ".".join(module.split(".")[:2])
                if module.startswith("pptwisted") and root not in allowed:
                    offenders.append(f"{name} imports {module}")
                if module.startswith("twisted.internet") and module not in (
                    "twisted.internet.address",
                    "twisted.internet.address.IPv4Address",
                    "twisted.internet.address.IPv6Address",
                    "twisted.internet.address.UNIXAddress",
                ):
                    offenders.append(f"{name} imports {module}")
        self.assertEqual(offenders, [])


class CodecImportsTests(SynchronousTestCase):
    def test_codec_loads_no_reactor_endpoint_or_tool(self) -> None:
        """
        Importing the codec in a fresh interpreter loads neither the reactor
        nor the receivers, the endpoints or the tools. The package's
        C{__init__} (which gathers every layer) is bypassed, so that only
        the codec modules' own imports count.
        """
        modules = ", ".join(f"pptwisted.{name}" for name in CODEC)
        code = (
            "import sys, importlib, types\n"
            "package = types.ModuleType('pptwisted')\n"
            f"package.__path__ = [{str(PACKAGE)!r}]\n"
            "sys.modules['pptwisted'] = package\n"
            f"for m in {modules!r}.split(', '): importlib.import_module(m)\n"
            "print('\\n'.join(sorted(sys.modules)))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        loaded = set(out)
        self.assertIn("pptwisted.codec._parser", loaded)
        forbidden = [
            m
            for m in loaded
            if m == "twisted.internet.reactor"
            or m.startswith("pptwisted.tools")
            or m
            in (
                "pptwisted.endpoints._server",
                "pptwisted.endpoints._client",
                "pptwisted.stream._wrapper",
                "pptwisted.stream._connection",
                "pptwisted.stream._handover",
                "pptwisted.datagram._datagram",
            )
        ]
        self.assertEqual(forbidden, [])


class PluginDropinTests(SynchronousTestCase):
    def test_service_makers_point_at_the_tools(self) -> None:
        """C{twist proxy-whoami} and C{proxy-relay} load their tool modules."""
        import importlib

        from twisted.plugins import pptwisted_plugins

        for maker in (pptwisted_plugins.proxyWhoami, pptwisted_plugins.proxyRelay):
            self.assertTrue(maker.module.startswith("pptwisted.tools."), maker.module)
            module = importlib.import_module(maker.module)
            self.assertTrue(callable(module.makeService))
            self.assertTrue(callable(module.Options))


LAYERS = ("codec", "receivers", "endpoints", "integrations", "tools")


def _readme_layout() -> dict[str, int]:
    """The README's Layout table: each module's path and its layer's rank."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Layout\n") : readme.index("## Development\n")]
    layout: dict[str, int] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            for path in re.findall(r"`([^`]+\.py)`", cells[1]):
                layout[path] = LAYERS.index(cells[2].strip())
    return layout


class ReadmeLayoutTests(SynchronousTestCase):
    def test_imports_follow_the_layers(self) -> None:
        """
        Each module imports pptwisted modules of its own layer or an earlier
        one only, as the README's Layout table ranks them.
        """
        layout = _readme_layout()
        upward = []
        for path, rank in layout.items():
            if not path.endswith(".py") or path.startswith("twisted/"):
                continue
            for module in _imports(PACKAGE / path):
                if not module.startswith("pptwisted."):
                    continue
                target = module.removeprefix("pptwisted.").replace(".", "/")
                for candidate in (f"{target}.py", f"{target.rpartition('/')[0]}.py"):
                    if candidate in layout:
                        if layout[candidate] > rank:
                            upward.append(f"{path} ({LAYERS[rank]}) imports {module}")
                        break
        self.assertEqual(upward, [])

    def test_layout_lists_every_module(self) -> None:
        """
        The README's Layout table names every module of C{pptwisted} once,
        and no module that is gone.
        """
        listed = list(_readme_layout())
        modules = sorted(
            str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
        )
        expected = [*modules, "twisted/plugins/pptwisted_plugins.py"]
        self.assertEqual(sorted(listed), sorted(expected))


class NoReactorTests(SynchronousTestCase):
    def test_package_and_dropin_load_no_reactor(self) -> None:
        """
        C{import pptwisted}, its public modules and the plugin dropin (which
        Twisted imports to parse any plugin prefix) install no reactor.
        """
        code = (
            "import sys\n"
            "import pptwisted, pptwisted.codec, pptwisted.tlv, pptwisted.endpoints\n"
            "import pptwisted.datagram, twisted.plugins.pptwisted_plugins\n"
            "print('twisted.internet.reactor' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        self.assertEqual(out.strip(), "False")

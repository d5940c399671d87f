"""
The layering of pptwisted, checked on its folders (CONTRIBUTING.md, "Layout").

Each module belongs to a part, found from where it lives, not from a list of
modules, so modules can be split and renamed inside a folder freely:

    codec/        the wire (sans-I/O): imports nothing else of pptwisted,
                  and of Twisted only twisted.internet.address
    _*.py         the top-level helpers (_interfaces, _policy, ...):
                  the codec and each other
    stream/       one TCP/UNIX connection: the codec and the helpers
    datagram/     UDP: the codec and the helpers
    endpoints/    proxy: strings and endpoint classes: all of the above
    __init__.py   the package's names: the wings through their faces
    *.py          the integrations (tlv, http, metrics, testing, compat):
                  the wings through their faces
    tools/        the tools (and probe.py, their entry point): anything;
                  nothing else imports them

A wing's face is its folder's C{__init__}. Where an integration or a tool
needs a name that is private to a wing, the import is listed in
L{THROUGH_A_PRIVATE_MODULE} with its reason. There are no import cycles,
type-only (C{if TYPE_CHECKING:}) and function-level imports included.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pptwisted"
DROPIN = REPO / "twisted" / "plugins" / "pptwisted_plugins.py"

#: The wings: folders of pptwisted with a face (their C{__init__}).
WINGS = ("codec", "stream", "datagram", "endpoints")
#: Top-level modules that are tools: entry points kept at their documented
#: path (C{python -m pptwisted.probe}).
TOOL_ENTRY_POINTS = ("probe",)
#: The parts each part may import (its own included). The order: codec,
#: helpers, stream and datagram (side by side), endpoints, the package's
#: names, integrations, tools.
MAY_IMPORT: Mapping[str, frozenset[str]] = {
    "codec": frozenset({"codec"}),
    "helpers": frozenset({"codec", "helpers"}),
    "stream": frozenset({"codec", "helpers", "stream"}),
    "datagram": frozenset({"codec", "helpers", "datagram"}),
    "endpoints": frozenset({"codec", "helpers", "stream", "datagram", "endpoints"}),
    "package": frozenset({"codec", "helpers", "stream", "datagram", "endpoints"}),
    "integrations": frozenset(
        {"codec", "helpers", "stream", "datagram", "endpoints", "package", "integrations"}
    ),
    "tools": frozenset(
        {"codec", "helpers", "stream", "datagram", "endpoints", "package", "integrations", "tools"}
    ),
}
#: The parts that reach a wing only through its face.
THROUGH_FACES = ("package", "integrations", "tools")

#: The imports of a wing's private module by an integration or a tool (or
#: the plugin dropin): (importer, private module) -> (the names, the reason).
#: A name its wing's face exports has no place here: import it from the face.
THROUGH_A_PRIVATE_MODULE: Mapping[tuple[str, str], tuple[frozenset[str], str]] = {
    ("pptwisted.metrics", "pptwisted.endpoints._registry"): (
        frozenset({"listeners", "track", "untrack"}),
        "the registry of live listeners, which the endpoints fill and the"
        " collector reads: a link between the two, not a user API",
    ),
    ("pptwisted.tools._cli", "pptwisted.codec._addresses"): (
        frozenset({"literal_address"}),
        "the tools parse ADDR:PORT with the rule the proxy: client string"
        " uses (a literal IP address and a port); not a user API",
    ),
    ("pptwisted.tlv", "pptwisted.codec._tlv"): (
        frozenset(
            {
                "PP2_CLIENT_CERT_CONN",
                "PP2_CLIENT_CERT_SESS",
                "PP2_CLIENT_SSL",
                "SSLInfo",
                "aws_vpce_tlv",
                "azure_link_id_tlv",
                "gcp_psc_tlv",
                "ssl_tlv",
            }
        ),
        "pptwisted.tlv is the public home of the codec's TLV builders and SSL"
        " client flags, which pptwisted.codec does not repeat",
    ),
}


@dataclass(frozen=True)
class Import:
    """One import statement's edge: C{importer} imports C{module}."""

    importer: str
    #: The module imported: a module of the tree when it is one (C{from . import
    #: _x} imports C{pkg._x}), else the module named (external ones included).
    module: str
    #: The names taken from C{module} that are not modules themselves.
    names: frozenset[str]
    line: int
    #: "module", "type-checking" (under C{if TYPE_CHECKING:}) or "function".
    kind: str

    def __str__(self) -> str:
        kind = "" if self.kind == "module" else f", {self.kind}"
        return f"{self.importer} -> {self.module} (line {self.line}{kind})"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at C{path}, C{root} being on sys.path."""
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_module(name: str, root: Path) -> bool:
    """Whether C{name} is a module or a package of the tree under C{root}."""
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, root: Path) -> list[Import]:
    """
    Every import of the module at C{path}, at any depth: at module level,
    under C{if TYPE_CHECKING:}, in functions and methods. Relative imports
    are resolved; C{from package import name} imports the module
    C{package.name} when there is one in the tree under C{root}.
    """
    importer = module_name(path, root)
    # The package a relative import starts from.
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, kind: str) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(importer, alias.name, frozenset(), node.lineno, kind))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names: set[str] = set()
            for alias in node.names:
                if is_module(f"{module}.{alias.name}", root):
                    found.append(
                        Import(importer, f"{module}.{alias.name}", frozenset(), node.lineno, kind)
                    )
                else:
                    names.add(alias.name)
            if names:
                found.append(Import(importer, module, frozenset(names), node.lineno, kind))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                visit(statement, "type-checking" if kind == "module" else kind)
            for statement in node.orelse:
                visit(statement, kind)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            kind = "function"
        for child in ast.iter_child_nodes(node):
            visit(child, kind)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "module")
    return found


def import_graph(package: Path) -> dict[str, list[Import]]:
    """Each module of C{package} and its imports of modules of C{package}."""
    root = package.parent
    prefix = package.name
    graph = {}
    for path in sorted(package.rglob("*.py")):
        graph[module_name(path, root)] = [
            i
            for i in imports_of(path, root)
            if i.module == prefix or i.module.startswith(prefix + ".")
        ]
    return graph


def cycles(graph: Mapping[str, Sequence[Import]]) -> list[list[str]]:
    """
    The import cycles of C{graph}: its strongly connected components of more
    than one module (Tarjan), each as the edges that stay inside it (every
    one of which is on a cycle).
    """
    edges = {
        m: sorted({i.module for i in imports if i.module in graph}) for m, imports in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(component)

    for module in sorted(edges):
        if module not in index:
            connect(module)
    return [
        sorted(str(i) for m in sorted(c) for i in graph[m] if i.module in c and i.module != m)
        for c in components
    ]


def part_of(module: str) -> str | None:
    """
    The part of pptwisted C{module} belongs to, from where it lives; C{None}
    for a folder this test does not know (a new wing: name it here, in
    L{MAY_IMPORT}, and in CONTRIBUTING.md).
    """
    parts = module.split(".")
    if parts == ["pptwisted"]:
        return "package"
    if parts[1] in WINGS:
        return parts[1]
    if parts[1] == "tools" or (len(parts) == 2 and parts[1] in TOOL_ENTRY_POINTS):
        return "tools"
    if len(parts) == 2 and is_module(module, REPO) and not (PACKAGE / parts[1]).is_dir():
        return "helpers" if parts[1].startswith("_") else "integrations"
    return None


def face_of(module: str) -> str:
    """The face of the wing C{module} belongs to (C{pptwisted.codec}, ...)."""
    return ".".join(module.split(".")[:2])


class ImportWalkerTests(SynchronousTestCase):
    """The walker the checks below rely on sees every kind of import."""

    def setUp(self) -> None:
        self.root = Path(self.mktemp())
        files = {
            "fake/__init__.py": "",
            "fake/a.py": """
                from __future__ import annotations
                from typing import TYPE_CHECKING
                from . import b
                from .sub import c as see, thing
                if TYPE_CHECKING:
                    from .sub.c import Thing
                else:
                    import fake.sub
                def f():
                    import fake.d
                class K:
                    def m(self):
                        from .. import elsewhere
            """,
            "fake/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from fake import a\n",
            "fake/d.py": "",
            "fake/sub/__init__.py": "thing = 1\n",
            "fake/sub/c.py": "from ..d import name\nfrom .. import d\n",
        }
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))

    def edges(self, name: str) -> set[tuple[str, frozenset[str], str]]:
        return {(i.module, i.names, i.kind) for i in imports_of(self.root / name, self.root)}

    def test_relative_type_checking_and_function_imports(self) -> None:
        """
        Relative imports are resolved (to a module where the name is one),
        imports under C{if TYPE_CHECKING:} and in functions and methods are
        found, and the C{else:} of C{if TYPE_CHECKING:} runs for real.
        """
        none: frozenset[str] = frozenset()
        self.assertEqual(
            self.edges("fake/a.py"),
            {
                ("__future__", frozenset({"annotations"}), "module"),
                ("typing", frozenset({"TYPE_CHECKING"}), "module"),
                ("fake.b", none, "module"),
                ("fake.sub.c", none, "module"),
                ("fake.sub", frozenset({"thing"}), "module"),
                ("fake.sub.c", frozenset({"Thing"}), "type-checking"),
                ("fake.sub", none, "module"),
                ("fake.d", none, "function"),
                # Above the top: resolved as written, and outside the tree.
                ("", frozenset({"elsewhere"}), "function"),
            },
        )
        self.assertEqual(
            self.edges("fake/sub/c.py"),
            {("fake.d", frozenset({"name"}), "module"), ("fake.d", none, "module")},
        )
        self.assertIn(("fake.a", none, "type-checking"), self.edges("fake/b.py"))

    def test_cycles(self) -> None:
        """A cycle through a type-only import is found, with its edges."""
        graph = import_graph(self.root / "fake")
        self.assertEqual(
            cycles(graph),
            [["fake.a -> fake.b (line 4)", "fake.b -> fake.a (line 3, type-checking)"]],
        )
        del graph["fake.b"]
        self.assertEqual(cycles(graph), [])

    def test_parts(self) -> None:
        """Modules are put in their parts by where they live."""
        self.assertEqual(part_of("pptwisted"), "package")
        self.assertEqual(part_of("pptwisted.codec"), "codec")
        self.assertEqual(part_of("pptwisted.stream._any_new_module"), "stream")
        self.assertEqual(part_of("pptwisted._policy"), "helpers")
        self.assertEqual(part_of("pptwisted.http"), "integrations")
        self.assertEqual(part_of("pptwisted.probe"), "tools")
        self.assertEqual(part_of("pptwisted.tools.whoami"), "tools")
        self.assertIsNone(part_of("pptwisted.new_wing._module"))


class LayerTests(SynchronousTestCase):
    """The parts import each other in one order only."""

    def setUp(self) -> None:
        self.graph = import_graph(PACKAGE)

    def test_every_module_has_a_part(self) -> None:
        """Every module of pptwisted lives in a folder this test knows."""
        self.assertEqual([m for m in self.graph if part_of(m) is None], [])
        self.assertEqual(sorted(MAY_IMPORT), sorted({*WINGS, *THROUGH_FACES, "helpers"}))

    def test_each_part_imports_only_the_parts_below(self) -> None:
        """
        The codec imports no other part; the helpers the codec; stream and
        datagram the codec and the helpers, not each other; the endpoints
        those; no part below the tools imports a tool.
        """
        upward = [
            f"{i} ({part_of(module)} imports {part_of(i.module)})"
            for module, imports in self.graph.items()
            for i in imports
            if part_of(i.module) not in MAY_IMPORT.get(part_of(module) or "", ())
        ]
        self.assertEqual(upward, [])

    def test_codec_imports_only_twisted_addresses(self) -> None:
        """Of Twisted, the codec imports only its address classes."""
        offenders = [
            str(i)
            for path in sorted((PACKAGE / "codec").rglob("*.py"))
            for i in imports_of(path, REPO)
            if i.module.split(".")[0] == "twisted" and i.module != "twisted.internet.address"
        ]
        self.assertEqual(offenders, [])

    def test_no_cycles(self) -> None:
        """
        No two modules of pptwisted import each other, at any distance,
        type-only and function-level imports included.
        """
        self.assertEqual(cycles(self.graph), [])

    def test_bench_has_no_cycles(self) -> None:
        """Nor do the benchmark's modules."""
        self.assertEqual(cycles(import_graph(REPO / "bench")), [])


class FaceTests(SynchronousTestCase):
    """The package's names, the integrations and the tools use the wings' faces."""

    def importers(self) -> Iterable[Import]:
        for module, imports in import_graph(PACKAGE).items():
            if part_of(module) in THROUGH_FACES:
                yield from imports
        yield from (i for i in imports_of(DROPIN, REPO) if i.module.startswith("pptwisted."))

    def test_wings_through_their_faces(self) -> None:
        """
        A wing's private module is imported only as listed, with a reason,
        in L{THROUGH_A_PRIVATE_MODULE}, and only for the names listed there.
        """
        offenders = []
        used = set()
        for i in self.importers():
            if part_of(i.module) not in WINGS or i.module == face_of(i.module):
                continue
            names, _ = THROUGH_A_PRIVATE_MODULE.get((i.importer, i.module), (frozenset(), ""))
            used.add((i.importer, i.module))
            if not i.names or not i.names <= names:
                offenders.append(f"{i}: {', '.join(sorted(i.names - names)) or 'the module'}")
        self.assertEqual(offenders, [])
        self.assertEqual(sorted(set(THROUGH_A_PRIVATE_MODULE) - used), [], "entries no one uses")

    def test_listed_names_are_not_public(self) -> None:
        """
        No name listed in L{THROUGH_A_PRIVATE_MODULE} is exported by its
        wing's face: a public name is imported from the face.
        """
        public = []
        for (importer, module), (names, _) in THROUGH_A_PRIVATE_MODULE.items():
            face = importlib.import_module(face_of(module))
            for name in sorted(names & set(face.__all__)):
                public.append(f"{importer}: {name} is public in {face.__name__}")
        self.assertEqual(public, [])

    def test_every_entry_has_a_reason(self) -> None:
        for key, (names, reason) in THROUGH_A_PRIVATE_MODULE.items():
            self.assertTrue(names and len(reason) > 20, key)


class LibraryNeverImportsToolsTests(SynchronousTestCase):
    def test_no_library_module_imports_a_tool(self) -> None:
        """
        No module outside C{pptwisted/tools/} (but the documented tool entry
        point) imports C{pptwisted.tools}, at any depth in the module.
        """
        offenders = [
            str(i)
            for module, imports in import_graph(PACKAGE).items()
            if part_of(module) != "tools"
            for i in imports
            if part_of(i.module) == "tools"
        ]
        self.assertEqual(offenders, [])


class CodecImportsTests(SynchronousTestCase):
    def test_codec_loads_no_reactor_or_other_part(self) -> None:
        """
        Importing every module of C{codec/} in a fresh interpreter loads
        neither the reactor nor any other part of pptwisted. The package's
        C{__init__} (which gathers every wing) is bypassed, so that only the
        codec's own imports count.
        """
        modules = [module_name(p, REPO) for p in sorted((PACKAGE / "codec").rglob("*.py"))]
        code = (
            "import sys, importlib, types\n"
            "package = types.ModuleType('pptwisted')\n"
            f"package.__path__ = [{str(PACKAGE)!r}]\n"
            "sys.modules['pptwisted'] = package\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sorted(sys.modules)))\n"
        )
        loaded = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        self.assertIn("pptwisted.codec._parser", loaded)
        forbidden = [
            m
            for m in loaded
            if m == "twisted.internet.reactor"
            or (m.startswith("pptwisted.") and part_of(m) != "codec")
        ]
        self.assertEqual(forbidden, [])


class PluginDropinTests(SynchronousTestCase):
    def test_service_makers_point_at_the_tools(self) -> None:
        """C{twist proxy-whoami} and C{proxy-relay} load their tool modules."""
        from twisted.plugins import pptwisted_plugins

        for maker in (pptwisted_plugins.proxyWhoami, pptwisted_plugins.proxyRelay):
            self.assertTrue(maker.module.startswith("pptwisted.tools."), maker.module)
            module = importlib.import_module(maker.module)
            self.assertTrue(callable(module.makeService))
            self.assertTrue(callable(module.Options))


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

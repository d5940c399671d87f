"""
The dropin is found after a plain, non-editable C{pip install}: the wheel
carries C{twisted/plugins/pptwisted_plugins.py} and nothing else of Twisted's
package (no C{twisted/__init__.py}, no C{twisted/plugins/__init__.py}, no
C{dropin.cache}), and C{serverFromString(reactor, "proxy:...")} works in a
fresh virtualenv, from a directory outside the repository.

Offline: the wheel is built with this environment's setuptools
(C{--no-build-isolation}, C{.[test]} brings setuptools 77) and installed with
C{--no-index}. The fresh venv sees the dependencies already installed here
through a C{.pth} file naming a view of this environment's site-packages
without pptwisted (so only the fresh copy of pptwisted and its dropin can be
found). Set C{PPTWISTED_SKIP_INSTALL_TEST=1} to skip it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Seconds the whole test may take (creating a venv, building, installing).
BUDGET = 300.0
#: What is not copied from the working tree before building.
JUNK = (
    ".git",
    ".venv",
    ".venv-*",
    ".ci-logs",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "_trial_temp*",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
)

#: Run by the fresh venv's interpreter, with -I, from an empty directory.
PROBE = r"""
import importlib.metadata as metadata
import json
import socket
import sys
import sysconfig

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpointStringParser
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.plugin import getCache, getPlugins
import twisted.plugins

import pptwisted

endpoint = serverFromString(reactor, "proxy:tcp:0:interface=127.0.0.1:proxyTimeout=5")
parsers = [p for p in getPlugins(IStreamServerEndpointStringParser) if p.prefix == "proxy"]
cache = getCache(twisted.plugins)
seen = {}


class Record(Protocol):
    def connectionMade(self):
        seen["peer"] = str(self.transport.getPeer())
        self.transport.write(b"ok")
        self.transport.loseConnection()


def send(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n")
        return s.recv(10)


def run():
    port = yield endpoint.listen(Factory.forProtocol(Record))
    try:
        seen["reply"] = (yield deferToThread(send, port.getHost().port)).decode()
    finally:
        yield port.stopListening()
        reactor.stop()


def start():
    from twisted.internet.defer import inlineCallbacks

    inlineCallbacks(run)().addErrback(lambda f: (seen.update(error=str(f)), reactor.stop()))


reactor.callWhenRunning(start)
reactor.callLater(20, reactor.stop)
reactor.run()

print(json.dumps({
    "endpoint": f"{type(endpoint).__module__}.{type(endpoint).__qualname__}",
    "is_instance": isinstance(endpoint, pptwisted.ProxyProtocolServerEndpoint),
    "parsers": [f"{type(p).__module__}.{type(p).__qualname__}" for p in parsers],
    "dropin": cache["pptwisted_plugins"].moduleName if "pptwisted_plugins" in cache else None,
    "dropin_file": sys.modules["twisted.plugins.pptwisted_plugins"].__file__,
    "plugins_path": list(twisted.plugins.__path__),
    "pptwisted_file": pptwisted.__file__,
    # The tools' package ships too: each ServiceMaker's module imports.
    "tools": [
        __import__(m.module, fromlist=["makeService"]).__file__
        for m in (sys.modules["twisted.plugins.pptwisted_plugins"].proxyWhoami,
                  sys.modules["twisted.plugins.pptwisted_plugins"].proxyRelay)
    ],
    "purelib": sysconfig.get_paths()["purelib"],
    "ours": [str(f) for f in metadata.files("pptwisted")],
    "twisted_files": [
        str(f) for f in metadata.files("twisted") if str(f).startswith("twisted/plugins/__init__")
    ],
    "sys_path": sys.path,
    "seen": seen,
}))
"""


class Budget:
    """Subprocesses sharing one deadline."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def run(self, what: str, argv: list[str], cwd: Path, env: dict[str, str]) -> str:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"out of time ({BUDGET:g}s) before: {what}")
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=remaining,
            )
        except subprocess.TimeoutExpired as e:
            output = e.output if isinstance(e.output, str) else (e.output or b"").decode()
            pytest.fail(f"{what}: still running after {BUDGET:g}s in all\n{output[-3000:]}")
        if done.returncode != 0:
            hint = ""
            if "pip" in argv:
                hint = (
                    "\npip could not build or install from local files (is setuptools>=77"
                    " installed here, as .[test] does?)."
                    " Set PPTWISTED_SKIP_INSTALL_TEST=1 to skip this test."
                )
            pytest.fail(
                f"{what} failed with exit status {done.returncode}: {' '.join(argv)}{hint}\n"
                f"{done.stdout[-3000:]}"
            )
        return done.stdout


def dependency_view(view: Path) -> Path:
    """
    Symbolic links to this environment's installed packages, less pptwisted
    (its package, dropin, metadata and editable hooks): what the fresh venv
    imports its dependencies from.
    """
    here = Path(sysconfig.get_paths()["purelib"])
    view.mkdir()
    for entry in here.iterdir():
        name = entry.name.lower()
        if name.startswith(("pptwisted", "__editable__", "_pptwisted")) or name.endswith(".pth"):
            continue
        if name == "twisted":
            twisted_view = view / entry.name
            twisted_view.mkdir()
            for inner in entry.iterdir():
                if inner.name != "plugins":
                    (twisted_view / inner.name).symlink_to(inner)
            plugins = twisted_view / "plugins"
            plugins.mkdir()
            for plugin in (entry / "plugins").iterdir():
                if plugin.name not in ("pptwisted_plugins.py", "dropin.cache", "__pycache__"):
                    (plugins / plugin.name).symlink_to(plugin)
            continue
        (view / entry.name).symlink_to(entry)
    return view


@pytest.mark.slow
def test_dropin_found_after_plain_install(tmp_path: Path) -> None:
    if os.environ.get("PPTWISTED_SKIP_INSTALL_TEST") == "1":
        pytest.skip("PPTWISTED_SKIP_INSTALL_TEST=1")
    budget = Budget(BUDGET)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    # Build from a copy, so that the build leaves nothing in the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*JUNK), symlinks=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = tmp_path / "venv"
    budget.run("creating a venv", [sys.executable, "-m", "venv", str(venv)], elsewhere, env)
    python = str(venv / "bin" / "python")

    # What the wheel holds under twisted/: our dropin(s), nothing of Twisted's.
    wheels = tmp_path / "wheels"
    budget.run(
        "building the wheel (offline, with this environment's setuptools)",
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        elsewhere,
        env,
    )
    (wheel,) = wheels.glob("pptwisted-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    under_twisted = sorted(n for n in names if n.startswith("twisted/"))
    assert "twisted/plugins/pptwisted_plugins.py" in under_twisted, names
    for name in under_twisted:
        assert re.fullmatch(r"twisted/plugins/[a-z][a-z0-9_]*\.py", name), (name, names)
        assert not name.endswith("/__init__.py"), name
    assert "twisted/__init__.py" not in names
    assert "twisted/plugins/__init__.py" not in names
    assert "twisted/plugins/dropin.cache" not in names
    assert "pptwisted/py.typed" in names

    # A plain install of the wheel, offline, over the dependencies installed
    # here; then the probe, from outside the repo.
    purelib = Path(
        budget.run(
            "finding the venv's site-packages",
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            elsewhere,
            env,
        ).strip()
    )
    deps = dependency_view(tmp_path / "deps")
    (purelib / "_pptwisted_test_deps.pth").write_text(f"{deps}\n")
    budget.run(
        "pip install (not editable, offline)",
        [python, "-m", "pip", "install", "--no-index", "--no-deps", str(wheel)],
        elsewhere,
        env,
    )
    output = budget.run("the probe", [python, "-I", "-c", PROBE], elsewhere, env)
    result = json.loads(output.strip().splitlines()[-1])

    purelib = Path(result["purelib"])
    assert result["endpoint"] == "pptwisted.endpoints._server.ProxyProtocolServerEndpoint", result
    assert result["is_instance"] is True
    assert result["parsers"] == ["pptwisted.endpoints._server.ProxyServerParser"], result
    assert result["dropin"] == "twisted.plugins.pptwisted_plugins", result
    assert Path(result["dropin_file"]) == purelib / "twisted/plugins/pptwisted_plugins.py"
    assert Path(result["pptwisted_file"]) == purelib / "pptwisted/__init__.py"
    assert [Path(f) for f in result["tools"]] == [
        purelib / "pptwisted/tools/whoami.py",
        purelib / "pptwisted/tools/relay.py",
    ], result["tools"]
    for entry in result["sys_path"]:
        assert not Path(entry).is_relative_to(ROOT), (entry, result["sys_path"])
    for entry in result["plugins_path"]:
        assert not Path(entry).is_relative_to(ROOT), entry
    assert result["seen"] == {
        "peer": "IPv4Address(type='TCP', host='192.0.2.7', port=4321)",
        "reply": "ok",
    }, result["seen"]

    # Installed, not linked: the dropin is a copy of ours, no editable hook.
    dropin = purelib / "twisted/plugins/pptwisted_plugins.py"
    assert dropin.read_bytes() == (ROOT / "twisted/plugins/pptwisted_plugins.py").read_bytes()
    assert not list(purelib.glob("__editable__*pptwisted*"))
    # Twisted's own package files stay Twisted's.
    ours = set(result["ours"])
    assert "twisted/plugins/pptwisted_plugins.py" in ours
    assert "twisted/__init__.py" not in ours
    assert "twisted/plugins/__init__.py" not in ours
    assert "twisted/plugins/dropin.cache" not in ours
    assert result["twisted_files"] == ["twisted/plugins/__init__.py"], result["twisted_files"]
    # Installing our wheel into a venv whose Twisted lies elsewhere (as over
    # Debian's python3-twisted) creates no twisted package of its own.
    assert not (purelib / "twisted/__init__.py").exists()
    assert not (purelib / "twisted/plugins/__init__.py").exists()

"""
Running real proxies (HAProxy, nginx) and clients (curl) in tests: configs
in a temporary directory, loopback addresses only, free ports, bounded
waits, and every process stopped at cleanup.

A missing binary skips the test with a clear reason, except when
PPTWISTED_REQUIRE_INTEROP=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from string import Template

from twisted.trial.unittest import FailTest, SkipTest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def require(binary: str) -> str:
    """The path of C{binary}; skip (or, under CI, fail) when it is missing."""
    path = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None
    )
    if path is None:
        reason = f"{binary} is not installed (apt-get install -y {binary})"
        if os.environ.get("PPTWISTED_REQUIRE_INTEROP") == "1":
            raise FailTest(f"PPTWISTED_REQUIRE_INTEROP=1 but {reason}")
        raise SkipTest(reason)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on C{host} right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[bytes], seconds: float = 10
) -> None:
    """Wait until C{host:port} accepts connections (or the process died)."""
    deadline = time.monotonic() + seconds
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.socket(family) as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {seconds}s")


def render(template: str, values: Mapping[str, object]) -> str:
    """An example config from examples/ with its $placeholders filled in."""
    text = (EXAMPLES / template).read_text()
    return Template(text).substitute({k: str(v) for k, v in values.items()})


class Managed:
    """A process started for a test, always stopped."""

    def __init__(self, argv: list[str], directory: Path) -> None:
        self.log = directory / "process.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            argv, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pptwisted-interop-"))


def start_haproxy(config: str, wait: list[tuple[str, int]]) -> tuple[Managed, Path]:
    """
    Check and start HAProxy in the foreground with C{config}; wait until
    each (host, port) of C{wait} listens.
    """
    haproxy = require("haproxy")
    directory = temp_dir()
    path = directory / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if check.returncode != 0:
        raise RuntimeError(f"haproxy rejects the config:\n{check.stdout}{check.stderr}\n{config}")
    managed = Managed([haproxy, "-db", "-f", str(path)], directory)
    try:
        for host, port in wait:
            wait_for_port(host, port, managed.process)
    except Exception:
        managed.stop()
        raise RuntimeError(f"haproxy did not start: {managed.output()}") from None
    return managed, directory


def start_nginx(config_body: str, wait: list[tuple[str, int]]) -> tuple[Managed, Path]:
    """Start nginx in the foreground as the test's child with C{config_body}."""
    nginx = require("nginx")
    if not os.path.exists(NGINX_STREAM_MODULE):
        reason = "nginx's stream module is not installed (apt-get install -y libnginx-mod-stream)"
        if os.environ.get("PPTWISTED_REQUIRE_INTEROP") == "1":
            raise FailTest(reason)
        raise SkipTest(reason)
    directory = temp_dir()
    config = (
        f"load_module {NGINX_STREAM_MODULE};\n"
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log info;\n"
        "events { worker_connections 256; }\n" + config_body
    )
    path = directory / "nginx.conf"
    path.write_text(config)
    argv = [nginx, "-c", str(path), "-p", str(directory), "-e", str(directory / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejects the config:\n{check.stderr}\n{config}")
    managed = Managed(argv, directory)
    try:
        for host, port in wait:
            wait_for_port(host, port, managed.process)
    except Exception:
        managed.stop()
        raise RuntimeError(f"nginx did not start: {managed.output()}") from None
    return managed, directory

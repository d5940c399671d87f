"""
Running real proxies (HAProxy, nginx) and clients (curl) in tests: configs
written to a temporary directory, loopback addresses only (127.0.0.0/8 and
::1), bounded waits, and every process stopped at cleanup.

Ports: our own Twisted servers listen on port 0 and report the port they
got. A program that must be told its port in its config (HAProxy, nginx,
dnsdist) is started by L{on_free_port}: a candidate port, and another one if
the program fails because something took that port meanwhile.

What a test needs and cannot find (a binary, nginx's stream module, a
loopback address) skips it with a clear reason, except when
C{PPTWISTED_REQUIRE_INTEROP=1} (CI), where it fails the test instead.

The blocking helpers here (starting a process and waiting for its port) are
meant to be called through C{deferToThread} from trial tests, so that the
reactor keeps serving the Twisted side meanwhile.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from string import Template
from typing import Any, NoReturn, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import FailTest, SkipTest, TestCase

from pptwisted import ProxyProtocolServerEndpoint

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"
REQUIRE_ENV = "PPTWISTED_REQUIRE_INTEROP"
#: Where Debian's libnginx-mod-stream puts the module (dpkg -L libnginx-mod-stream).
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
#: The address the tests' clients connect from: not the proxies' 127.0.0.1,
#: so that the application's getPeer() tells the client from the proxy.
CLIENT_HOST = "127.0.0.2"
#: Seconds to wait for a process to listen, and for it to stop.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
#: How many candidate ports L{on_free_port} tries.
PORT_TRIES = 5
#: What HAProxy, nginx and dnsdist log when their port is taken.
_IN_USE = re.compile(r"address already in use|EADDRINUSE", re.IGNORECASE)
_T = TypeVar("_T")
#: Debian installs daemons in /usr/sbin, which a non-root PATH may lack.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
#: Which Debian package provides each binary the tests run.
_PACKAGES = {
    "haproxy": "haproxy",
    "nginx": "nginx",
    "curl": "curl",
    "openssl": "openssl",
    "dnsdist": "dnsdist",
    "dig": "bind9-dnsutils",
    "h2load": "nghttp2-client",
    "ssh": "openssh-client",
}


def interop_required() -> bool:
    """Is a missing prerequisite a failure (CI) rather than a skip?"""
    return os.environ.get(REQUIRE_ENV) == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the running test because of C{reason}; fail it under CI."""
    if interop_required():
        raise FailTest(f"{REQUIRE_ENV}=1, so this is a failure, not a skip: {reason}")
    raise SkipTest(reason)


def require_binary(name: str) -> str:
    """
    The path of the executable C{name}; skip the test with a clear reason
    when it is not installed (fail it when C{PPTWISTED_REQUIRE_INTEROP=1}).
    """
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])
    path = shutil.which(name, path=search)
    if path is None:
        package = _PACKAGES.get(name, name)
        skip_or_fail(
            f"interop test needs {name!r}, which is not installed"
            f" (Debian: apt-get install -y {package})"
        )
    return path


#: Which extra of pptwisted brings each Python module the app tests import.
_EXTRAS = {
    "h2": "http2",
    "priority": "http2",
    "klein": "apps",
    "autobahn": "apps",
    "flask": "apps",
    "bcrypt": "apps",
}


def require_module(name: str) -> Any:
    """
    Import and return the Python module C{name}; skip the test with a clear
    reason when it is not installed (fail it when
    C{PPTWISTED_REQUIRE_INTEROP=1}: CI's main job installs the C{http2} and
    C{apps} extras).
    """
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        extra = _EXTRAS.get(name.split(".")[0])
        where = f"pip install '.[{extra}]'" if extra else f"pip install {name}"
        skip_or_fail(f"interop test needs the Python module {name!r} ({where}): {e}")


def require_nginx_stream() -> str:
    """nginx and its stream module: the nginx path."""
    nginx = require_binary("nginx")
    if not os.path.exists(NGINX_STREAM_MODULE):
        skip_or_fail(
            f"interop test needs nginx's stream module ({NGINX_STREAM_MODULE} is missing;"
            " Debian: apt-get install -y libnginx-mod-stream)"
        )
    return nginx


def require_address(host: str) -> None:
    """Skip (or fail) unless this machine can bind C{host} (e.g. ::1, 127.0.0.2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as s:
            s.bind((host, 0))
    except OSError as e:
        skip_or_fail(f"interop test needs the loopback address {host}, which is unusable: {e}")


class AddressInUse(RuntimeError):
    """A program could not listen: another process holds its port."""


def _candidate_port(host: str) -> int:
    """
    A TCP port that was free on C{host} a moment ago: only a candidate, as
    another process may take it before our program binds it (see
    L{on_free_port}, the one user).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def on_free_port(
    start: Callable[[int], Awaitable[_T]], host: str = "127.0.0.1", tries: int = PORT_TRIES
) -> tuple[_T, int]:
    """
    Start a program that must be told its port (in its config): C{start(port)}
    with a candidate port; if it fails with L{AddressInUse} (another process
    took the port between the pick and the bind), again with another port, at
    most C{tries} times. The started program and its port.
    """
    started, (port,) = await on_free_ports(lambda ports: start(ports[0]), 1, host, tries)
    return started, port


async def on_free_ports(
    start: Callable[[list[int]], Awaitable[_T]],
    count: int,
    host: str = "127.0.0.1",
    tries: int = PORT_TRIES,
) -> tuple[_T, list[int]]:
    """L{on_free_port} for a program that listens on C{count} ports."""
    for attempt in range(1, tries + 1):
        ports = [_candidate_port(host) for _ in range(count)]
        if len(set(ports)) < count:
            continue
        try:
            return await start(ports), ports
        except AddressInUse:
            if attempt == tries:
                raise
    raise AddressInUse(f"no {count} distinct free ports on {host} in {tries} tries")


def join_host_port(host: str, port: int) -> str:
    """C{host:port} as HAProxy and nginx write it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _proc_net_address(host: str, port: int) -> str:
    """C{host:port} as the kernel writes it in /proc/net/tcp{,6}."""
    if ":" in host:
        packed = socket.inet_pton(socket.AF_INET6, host)
        words = [packed[i : i + 4][::-1] for i in range(0, 16, 4)]
        return f"{b''.join(words).hex().upper()}:{port:04X}"
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process C{pid} holds, from /proc/PID/fd."""
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fds)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fds / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def is_listening(host: str, port: int, pid: int | None = None) -> bool:
    """
    Does a socket listen on C{host:port} (one of process C{pid}'s, if given)?
    Read from /proc/net (Linux) where possible, so that no probe connection
    reaches the proxy (it would pass it on to the server under test), and so
    that another process listening on the port does not count; else (no
    /proc) try to connect.
    """
    table = Path("/proc/net/tcp6" if ":" in host else "/proc/net/tcp")
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as s:
            s.settimeout(0.5)
            return s.connect_ex((host, port)) == 0
    wanted = _proc_net_address(host, port)
    inodes = {
        fields[9]
        for fields in (line.split() for line in lines)
        if fields[1] == wanted and fields[3] == "0A"  # TCP_LISTEN
    }
    if pid is None or not inodes:
        return bool(inodes)
    return not inodes.isdisjoint(_socket_inodes(pid))


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[bytes], seconds: float = START_TIMEOUT
) -> None:
    """Wait until C{host:port} listens; raise if the process died or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        if is_listening(host, port, process.pid):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {join_host_port(host, port)} after {seconds}s")


def render(template: str, values: Mapping[str, object]) -> str:
    """The file C{template} of examples/ with its C{$placeholders} filled in."""
    text = (EXAMPLES / template).read_text()
    return Template(text).substitute({k: str(v) for k, v in values.items()})


class Managed:
    """
    A process started for a test, its stdout and stderr in a file of
    C{directory}; L{stop} terminates it, then kills it if it lingers.
    """

    def __init__(
        self,
        argv: list[str],
        directory: Path,
        name: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.log = directory / f"{name}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or directory,
            env=None if env is None else {**os.environ, **env},
        )

    def output(self) -> str:
        """What the process wrote so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, listening: list[tuple[str, int]], seconds: float = START_TIMEOUT) -> None:
        """Wait until each (host, port) listens; stop the process and raise if not."""
        try:
            for host, port in listening:
                wait_for_port(host, port, self.process, seconds)
        except Exception as e:
            self.stop()
            output = self.output()
            error = AddressInUse if _IN_USE.search(output) else RuntimeError
            raise error(f"{self.argv[0]} did not start: {e}\n{output}") from None

    def logged_port(self, seconds: float = START_TIMEOUT) -> int:
        """
        The port a Twisted process of ours got on port 0, from the "starting
        on PORT" line it logs; stop the process and raise if none comes.
        """
        deadline = time.monotonic() + seconds
        while (match := re.search(r"starting on (\d+)", self.output())) is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.argv[0]} logged no port:\n{self.output()}")
            time.sleep(0.02)
        return int(match.group(1))

    def stop(self, kill: bool = False) -> None:
        """Terminate (or kill) the process and reap it; idempotent."""
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if not self._log_file.closed:
            self._log_file.close()


class HAProxy(Managed):
    """A HAProxy run in the foreground (C{-db}), with an admin socket."""

    def __init__(self, argv: list[str], directory: Path, socket_path: Path) -> None:
        super().__init__(argv, directory, "haproxy")
        self.socket_path = socket_path

    def command(self, command: str) -> str:
        """The answer of HAProxy's stats socket to C{command}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> dict[str, dict[str, str]]:
        """C{show stat} for each server: C{status} (UP, DOWN...), C{check_status}..."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        servers = {}
        for row in rows:
            if row["svname"] in ("FRONTEND", "BACKEND"):
                continue
            # "* L7OK": a check is running now; what follows is the last result.
            row["check_status"] = row.get("check_status", "").removeprefix("* ")
            servers[row["svname"]] = row
        return servers


def haproxy_global(directory: Path) -> str:
    """The global section the tests put before an example config."""
    # noreuseport: with SO_REUSEPORT a HAProxy would share a port another
    # process holds instead of failing (see on_free_port).
    return (
        f"global\n    stats socket {directory}/admin.sock mode 600 level admin\n    noreuseport\n\n"
    )


def start_haproxy(config: str, listening: list[tuple[str, int]], directory: Path) -> HAProxy:
    """
    Write C{config} (an example, without a global section) to C{directory},
    check it with C{haproxy -c}, run HAProxy in the foreground and wait until
    each (host, port) of C{listening} accepts connections.
    """
    haproxy = require_binary("haproxy")
    path = directory / "haproxy.cfg"
    full = haproxy_global(directory) + config
    path.write_text(full)
    check = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if check.returncode != 0:
        raise RuntimeError(f"haproxy -c rejects the config:\n{check.stdout}{check.stderr}\n{full}")
    managed = HAProxy([haproxy, "-db", "-f", str(path)], directory, directory / "admin.sock")
    managed.wait_for(listening)
    return managed


def nginx_main(directory: Path) -> str:
    """
    The main context the tests put before an nginx example: the stream
    module, in the foreground as the test's child (no daemon, no master,
    every file in C{directory}).
    """
    return (
        f"load_module {NGINX_STREAM_MODULE};\n"
        "daemon off;\n"
        "master_process off;\n"
        "worker_processes 1;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log info;\n"
        "events { worker_connections 256; }\n"
    )


def _http_temp_paths(body: str, directory: Path) -> str:
    """Put the http temp paths (Debian's are in /var/lib/nginx) in C{directory}."""
    if "http {" not in body:
        return body
    paths = "".join(
        f"    {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return body.replace("http {\n", "http {\n" + paths, 1)


def start_nginx(body: str, listening: list[tuple[str, int]], directory: Path) -> Managed:
    """
    Write an nginx config (C{body}: an example's stream or http block) to
    C{directory}, check it with C{nginx -t}, run it and wait until each
    (host, port) of C{listening} accepts connections.
    """
    nginx = require_nginx_stream()
    main = nginx_main(directory)
    for directive in ("load_module", "events"):
        # The examples are complete files: keep their own.
        if re.search(rf"^{directive}\b", body, re.MULTILINE):
            main = "".join(line for line in main.splitlines(True) if not line.startswith(directive))
    config = main + _http_temp_paths(body, directory)
    path = directory / "nginx.conf"
    path.write_text(config)
    argv = [nginx, "-c", str(path), "-p", f"{directory}/", "-e", str(directory / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t rejects the config:\n{check.stderr}\n{config}")
    managed = Managed(argv, directory, "nginx")
    managed.wait_for(listening)
    return managed


def start_dnsdist(config: str, listening: list[tuple[str, int]], directory: Path) -> Managed:
    """
    Write a dnsdist config to C{directory}, check it with C{--check-config},
    run dnsdist supervised (no console, no syslog; carbon and the web server
    are off unless configured) and wait until each (host, port) of
    C{listening} accepts TCP connections (dnsdist binds UDP first).
    """
    dnsdist = require_binary("dnsdist")
    path = directory / "dnsdist.conf"
    path.write_text(config)
    check = subprocess.run(
        [dnsdist, "--check-config", "-C", str(path)], capture_output=True, text=True, timeout=30
    )
    if check.returncode != 0:
        raise RuntimeError(f"dnsdist rejects the config:\n{check.stdout}{check.stderr}\n{config}")
    managed = Managed(
        [dnsdist, "--supervised", "--disable-syslog", "-C", str(path)], directory, "dnsdist"
    )
    managed.wait_for(listening)
    return managed


class InteropTestCase(TestCase):
    """
    A trial test case (global reactor) with a temporary directory, Twisted
    servers on C{proxy:} and proxies, all stopped at cleanup.
    """

    timeout = 60

    def make_directory(self) -> Path:
        """A fresh directory, removed at cleanup (short: UNIX socket paths live in it)."""
        directory = Path(tempfile.mkdtemp(prefix="pptwisted-interop-"))
        self.addCleanup(shutil.rmtree, directory, True)
        return directory

    async def listen(
        self, description: str, factory: IProtocolFactory
    ) -> tuple[int, ProxyProtocolServerEndpoint]:
        """Listen on the C{proxy:...} C{description}: the port and the endpoint."""
        endpoint = serverFromString(reactor, description)
        assert isinstance(endpoint, ProxyProtocolServerEndpoint), endpoint
        port: IListeningPort = await endpoint.listen(factory)
        self.addCleanup(port.stopListening)
        return port.getHost().port, endpoint  # type: ignore[attr-defined]

    async def haproxy(
        self, template: str, listening: list[tuple[str, int]], **values: object
    ) -> HAProxy:
        """Run HAProxy with the example C{template} filled in with C{values}."""
        require_binary("haproxy")
        directory = self.make_directory()
        config = render(template, values)
        managed: HAProxy = await deferToThread(start_haproxy, config, listening, directory)
        self.addCleanup(deferToThread, managed.stop)
        return managed

    async def tls_terminating_haproxy(
        self, secure_backend: int, other_backend: int
    ) -> tuple[str, int, int, int]:
        """
        Run examples/haproxy-tls-secure.cfg with a fresh certificate for
        C{app.example}, in front of servers on 127.0.0.1:C{secure_backend}
        (TLS and plain frontends) and 127.0.0.1:C{other_backend} (a TLS
        frontend): the CA file clients trust, and the TLS, plain and other
        frontends' ports.
        """
        from ..certs import make_self_signed

        directory = self.make_directory()
        key, cert = make_self_signed("app.example")
        (directory / "server.pem").write_bytes(cert + key)
        cafile = directory / "server-cert.pem"
        cafile.write_bytes(cert)

        def start(ports: list[int]) -> Awaitable[HAProxy]:
            tls_frontend, plain_frontend, other_frontend = ports
            return self.haproxy(
                "haproxy-tls-secure.cfg",
                [("127.0.0.1", p) for p in ports],
                tls_frontend=f"127.0.0.1:{tls_frontend}",
                plain_frontend=f"127.0.0.1:{plain_frontend}",
                other_frontend=f"127.0.0.1:{other_frontend}",
                certificate=directory / "server.pem",
                secure_backend=f"127.0.0.1:{secure_backend}",
                other_backend=f"127.0.0.1:{other_backend}",
            )

        _, (tls_frontend, plain_frontend, other_frontend) = await on_free_ports(start, 3)
        return str(cafile), tls_frontend, plain_frontend, other_frontend

    async def nginx(
        self, template: str, listening: list[tuple[str, int]], **values: object
    ) -> Managed:
        """Run nginx with the example C{template} filled in with C{values}."""
        require_nginx_stream()
        directory = self.make_directory()
        body = render(template, values)
        managed: Managed = await deferToThread(start_nginx, body, listening, directory)
        self.addCleanup(deferToThread, managed.stop)
        return managed

    async def dnsdist(
        self, template: str, listening: list[tuple[str, int]], **values: object
    ) -> Managed:
        """Run dnsdist with the example C{template} filled in with C{values}."""
        require_binary("dnsdist")
        directory = self.make_directory()
        config = render(template, values)
        managed: Managed = await deferToThread(start_dnsdist, config, listening, directory)
        self.addCleanup(deferToThread, managed.stop)
        return managed

    async def on_free_frontend(
        self,
        run: Callable[..., Awaitable[_T]],
        template: str,
        host: str = "127.0.0.1",
        **values: object,
    ) -> tuple[_T, int]:
        """
        Run C{run} (L{haproxy}, L{nginx} or L{dnsdist}) with the example
        C{template}, its C{frontend} on a free port of C{host} (retried by
        L{on_free_port} if taken): the program and the frontend port.
        """

        def start(port: int) -> Awaitable[_T]:
            frontend = join_host_port(host, port)
            return run(template, [(host, port)], frontend=frontend, **values)

        return await on_free_port(start, host)

    async def run_client(
        self, argv: list[str], timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command to completion in a thread (the reactor keeps going)."""
        result: subprocess.CompletedProcess[str] = await deferToThread(
            subprocess.run, argv, capture_output=True, text=True, timeout=timeout
        )
        return result

    async def wait_until(self, condition: Callable[[], bool], seconds: float = 10) -> None:
        """Let the reactor run until C{condition()} holds; fail after C{seconds}."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                self.fail(f"still not true after {seconds}s: {condition}")
            await sleep(0.05)


def run_as_deferred(
    method: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., Deferred[None]]:
    """
    Decorate an C{async def} test method so that it returns a Deferred:
    trial in Twisted 22.4 does not await coroutines (it passes without
    running them).
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Deferred[None]:
        return ensureDeferred(method(*args, **kwargs))

    return wrapper


def sleep(seconds: float) -> Deferred[None]:
    """A Deferred that fires after C{seconds}, without blocking the reactor."""
    return deferLater(reactor, seconds, lambda: None)

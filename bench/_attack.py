"""
The attacks of issue 12 over real sockets, shared by the stress tests
(tests/stress/) and bench/hardening.py: a C{twist proxy-whoami} server in a
subprocess (optionally under a file-descriptor limit), stalled partial
headers, a flood of bad headers, a well-behaved client, and what the
server's process holds (descriptors, RSS, log lines).

Every loop is bounded in count and time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
#: A valid v1 header, then an HTTP request whoami answers.
GOOD = b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 8080\r\nGET / HTTP/1.0\r\n\r\n"
#: The commonest mistake: a direct HTTP client on a proxy: port.
BAD = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
#: A stalled partial header.
STALL = b"PROXY "
#: Log lines of the receiver about a connection it closed, or a summary.
REJECTION_LINE = re.compile(r"Rejected connection|Timed out after|Closed the connection from")
SUMMARY_LINE = re.compile(r"Suppressed \d+ similar event")


def twist() -> list[str]:
    """
    C{twist} for this Python: the script beside it, else its entry point run
    by this Python (a venv over system packages, e.g. Debian's Twisted, has
    no script of its own, and the one on the PATH runs another Python).
    """
    beside = Path(sys.executable).parent / "twist"
    if beside.exists():
        return [str(beside)]
    main = "import sys; from twisted.application.twist._twist import Twist; Twist.main(sys.argv)"
    return [sys.executable, "-c", main]


@dataclass
class Server:
    """A C{twist proxy-whoami} subprocess and its log file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def fds(self) -> int:
        """Descriptors the server holds now (Linux /proc)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        """Resident memory of the server now, KiB (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")  # pragma: no cover

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def rejection_lines(self) -> int:
        """Log lines about closed connections, in full or as summaries."""
        return sum(
            1
            for line in self.log_text().splitlines()
            if REJECTION_LINE.search(line) or SUMMARY_LINE.search(line)
        )


def _limit_fds(nofile: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))


@contextmanager
def server(
    options: str = "",
    *,
    plain: bool = False,
    nofile: int | None = None,
    log_dir: Path,
    backlog: int = 2048,
    app: str = "whoami",
) -> Iterator[Server]:
    """
    Run C{twist proxy-whoami} on C{proxy:tcp:PORT...options} (or plain
    C{tcp:} if C{plain}), under a descriptor limit of C{nofile} if given;
    stopped (SIGTERM, then SIGKILL) on exit. C{app} C{"idle"} or C{"line"}
    runs bench/_server.py's application instead (no logging): C{idle}
    connections stay open, C{line} answers one line.
    """
    # Port 0: the server logs the port it got (whoami: Twisted's "starting
    # on PORT"; bench/_server.py: the bare number), read back below.
    inner = f"tcp:0:interface={HOST}:backlog={backlog}"
    listen = inner if plain else f"proxy:{inner}{options}"
    handle, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=log_dir)
    os.close(handle)
    log = Path(name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    if app == "whoami":
        command = [*twist(), "--log-format=text", "proxy-whoami", "--listen", listen]
        logged = re.compile(r"starting on (\d+)")
    else:
        command = [sys.executable, "-m", "bench._server", listen, app]
        logged = re.compile(r"^(\d+)$", re.MULTILINE)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: _limit_fds(nofile)) if nofile is not None else None,
        )
    running = Server(process, 0, log)
    try:
        deadline = time.monotonic() + 30
        while (match := logged.search(running.log_text())) is None:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {running.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server logged no port within 30 s: {running.log_text()}")
            time.sleep(0.05)
        running.port = int(match.group(1))
        yield running
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait(15)


def request(port: int, data: bytes = GOOD, timeout: float = 30) -> tuple[float, bytes]:
    """One connection: send C{data}, read to EOF; (seconds taken, bytes read)."""
    started = time.monotonic()
    received = b""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as client:
            client.sendall(data)
            while len(received) < 1 << 20:
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
    except OSError:
        pass
    return time.monotonic() - started, received


def served(reply: bytes) -> bool:
    """Did whoami answer the well-behaved client, with its header's address?"""
    return reply.startswith(b"HTTP/1.") and b"192.0.2.1" in reply


def stall(port: int, count: int, data: bytes = STALL, timeout: float = 30) -> list[socket.socket]:
    """
    Open C{count} connections that send C{data} and then nothing; return
    them (the caller closes them).
    """
    stalled: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                raise RuntimeError(f"opened only {len(stalled)} of {count} in {timeout}s")
            sock = socket.create_connection((HOST, port), timeout=10)
            stalled.append(sock)
            if data:
                try:
                    sock.sendall(data)
                except OSError:
                    pass  # already closed by the server (evicted): still counted
    except BaseException:
        close_all(stalled)
        raise
    return stalled


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def count_closed(sockets: list[socket.socket], wait: float = 0.0) -> int:
    """
    How many of C{sockets} the server closed (EOF or reset), waiting up to
    C{wait} seconds for all of them.
    """
    open_ = {s.fileno(): s for s in sockets}
    closed = 0
    deadline = time.monotonic() + wait
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while open_:
            remaining = deadline - time.monotonic()
            events = selector.select(timeout=max(0.0, min(remaining, 1.0)))
            for key, _ in events:
                sock = open_.pop(key.fd)
                selector.unregister(sock)
                try:
                    sock.setblocking(False)
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    open_[key.fd] = sock
                    selector.register(sock, selectors.EVENT_READ)
                    continue
                except OSError:
                    data = b""
                if data:
                    # Not a close (whoami answered): count as open, stop watching.
                    continue
                closed += 1
            if remaining <= 0:
                break
    return closed


def flood(port: int, count: int, workers: int = 16, data: bytes = BAD) -> int:
    """C{count} connections sending C{data}; how many the server closed on."""

    def one(_: int) -> bool:
        _, reply = request(port, data, timeout=30)
        return reply == b""

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(one, range(count)))


def wait_until(predicate: object, timeout: float, step: float = 0.05) -> bool:
    """Poll C{predicate()} until true or C{timeout} seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)

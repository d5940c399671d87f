"""
The load generator of the connection benchmarks, a separate process
(asyncio, no Twisted) so that its CPU time is not the server's.

    python -m bench._load conns PORT HEADER COUNT CONCURRENCY
    python -m bench._load bulk PORT HEADER BYTES
    python -m bench._load pending PORT KIND COUNT
    python -m bench._load serial PORT HEADER COUNT

HEADER is none, v1 or v2. C{conns} opens COUNT short connections (header,
request line, read the answer to the end) with CONCURRENCY in flight.
C{serial} does the same one connection at a time, each once the server
is idle again (for instruction counts, which then do not depend on how
events happen to coalesce). C{bulk} sends BYTES after the header and reads
the server's count. C{pending}
opens COUNT connections that send KIND (idle: nothing; half-v1: half a v1
header; v2-cap: a v2 header one byte short of the 16 KiB cap), prints
"ready" and holds them until its standard input closes. Each prints one JSON
line with what it did.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time

V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n"
V2 = (
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"
    + socket.inet_aton("192.0.2.7")
    + socket.inet_aton("198.51.100.1")
    + struct.pack("!HH", 4321, 443)
)
HEADERS = {"none": b"", "v1": V1, "v2": V2}
REQUEST = b"GET / HTTP/1.0\r\n\r\n"
EXPECTED = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
#: The default v2 length cap of pptwisted (and HAProxy's buffer less 16).
CAP = 16368


async def _one(port: int, first: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    answer = await reader.read()
    writer.close()
    if answer != EXPECTED:
        raise RuntimeError(f"unexpected answer {answer[:60]!r}")


async def conns(port: int, header: str, count: int, concurrency: int) -> dict[str, object]:
    first = HEADERS[header] + REQUEST
    semaphore = asyncio.Semaphore(concurrency)

    async def limited() -> None:
        async with semaphore:
            await _one(port, first)

    start = time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(count)))
    return {"connections": count, "seconds": time.perf_counter() - start}


def serial(port: int, header: str, count: int) -> dict[str, object]:
    first = HEADERS[header] + REQUEST
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(first)
        answer = b""
        while data := sock.recv(4096):
            answer += data
        sock.close()
        if answer != EXPECTED:
            raise RuntimeError(f"unexpected answer {answer[:60]!r}")
        # Let the server finish with this connection before the next comes.
        time.sleep(0.05)
    return {"connections": count}


def bulk(port: int, header: str, size: int) -> dict[str, object]:
    # The header goes out in the same write as the first data, as proxies
    # send it. (Measured here: a lone 28-byte first write before bulk data
    # slows the sending side's TCP by about 40%, to a plain tcp server too,
    # which would charge the PROXY layer for the client's write pattern.)
    sock = socket.create_connection(("127.0.0.1", port))
    chunk = b"\xa5" * (256 * 1024)
    start = time.perf_counter()
    first = chunk if size >= len(chunk) else chunk[:size]
    sock.sendall(HEADERS[header] + first)
    sent = len(first)
    while sent < size:
        piece = chunk if size - sent >= len(chunk) else chunk[: size - sent]
        sock.sendall(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        data = sock.recv(64)
        if not data:
            break
        answer += data
    seconds = time.perf_counter() - start
    sock.close()
    if int(answer) != size:
        raise RuntimeError(f"server counted {answer!r}, sent {size}")
    return {"bytes": size, "seconds": seconds}


def _partial(kind: str) -> bytes:
    if kind == "idle":
        return b""
    if kind == "half-v1":
        return V1[: len(V1) // 2]
    if kind == "v2-cap":
        return b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H", CAP) + b"\x00" * (CAP - 1)
    raise ValueError(kind)


def pending(port: int, kind: str, count: int) -> None:
    data = _partial(kind)
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        if data:
            s.sendall(data)
        sockets.append(s)
    print(json.dumps({"ready": count}), flush=True)
    sys.stdin.read()
    for s in sockets:
        s.close()


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "conns":
        result = asyncio.run(conns(port, sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif mode == "serial":
        result = serial(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "bulk":
        result = bulk(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "pending":
        pending(port, sys.argv[3], int(sys.argv[4]))
        return
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

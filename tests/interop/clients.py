"""
Blocking clients for the interop tests, run in a thread (C{deferToThread})
so that the reactor keeps serving: each binds its socket to a chosen
loopback address (the client's, distinct from the proxy's) and reports the
local address it got, so that a test can compare it exactly with what the
application saw. L{answers_to_our_headers} is the Twisted client (treq
through pptwisted's client endpoint) that checks a PROXY receiver.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any

from .harness import CLIENT_HOST

#: Seconds any client operation may take.
TIMEOUT = 10.0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def read_report(
    port: int, host: str = "127.0.0.1", source: str = CLIENT_HOST
) -> tuple[Any, tuple[str, int]]:
    """
    Connect from C{source} to C{host:port} and read the server's JSON report
    to the end: the report and the client's local (host, port).
    """
    with socket.socket(_family(host)) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect((host, port))
        local: tuple[str, int] = sock.getsockname()[:2]
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data), local


def http_get(
    port: int, host: str = "127.0.0.1", source: str = CLIENT_HOST, path: str = "/"
) -> tuple[int, Any, tuple[str, int]]:
    """GET C{path} from C{source}: the status, the JSON body, the client's local address."""
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT, source_address=(source, 0))
    try:
        connection.connect()
        assert connection.sock is not None
        local: tuple[str, int] = connection.sock.getsockname()[:2]
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read()), local
    finally:
        connection.close()


def tls_read(
    port: int,
    server_name: str,
    cafile: str,
    client_chain: str,
    source: str = CLIENT_HOST,
) -> tuple[bytes, tuple[str, int], str, str]:
    """
    Connect from C{source} over TLS with a client certificate and read to
    the end: the bytes, the local address, the negotiated cipher and TLS version.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.load_cert_chain(client_chain)
    with socket.socket() as raw:
        raw.settimeout(TIMEOUT)
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        local: tuple[str, int] = raw.getsockname()[:2]
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            cipher = tls.cipher()
            version = tls.version()
    assert cipher is not None and version is not None
    return data, local, cipher[0], version


async def answers_to_our_headers(case: Any, frontend: int) -> None:
    """
    Send a v1, then a v2 header (with an AUTHORITY TLV) through pptwisted's
    client endpoint to a receiver on 127.0.0.1:C{frontend} that answers
    with the client address it learnt, and check that it is the header's.
    """
    import treq
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address

    from pptwisted import TLV, ProxyHeader
    from pptwisted.http import proxied_treq

    for version in (1, 2):
        header = ProxyHeader.proxy(
            IPv4Address("TCP", "203.0.113.9", 4321),
            IPv4Address("TCP", "127.0.0.1", frontend),
            version=version,
            tlvs=[TLV(0x02, b"receiver.example")] if version == 2 else (),
        )
        client = proxied_treq(reactor, header)
        response: Any = await client.get(f"http://127.0.0.1:{frontend}/").addTimeout(10, reactor)
        case.assertEqual(response.code, 200)
        case.assertEqual(await treq.text_content(response), "203.0.113.9:4321")

"""
L{pptwisted.compat} over real sockets: C{proxyEndpoint}, and C{proxy_info}
on the stepped-aside transport.
"""

from __future__ import annotations

import socket

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from pptwisted.compat import proxy_info, proxyEndpoint

from ..unit.test_compat import HEADERS, V4


class _Record(Protocol):
    """Answers with what proxy_info says, in connectionMade."""

    def connectionMade(self) -> None:
        assert self.transport is not None
        info = proxy_info(self.transport)
        assert info is not None
        self.transport.write(repr((info.source, info.destination)).encode())
        self.transport.loseConnection()


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


class DropInTests(TestCase):
    """Real sockets: compat's proxyEndpoint, and proxy_info on the stepped-aside transport."""

    timeout = 30

    async def test_real_connection(self) -> None:
        endpoint = proxyEndpoint(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"))
        port = await endpoint.listen(Factory.forProtocol(_Record))
        self.addCleanup(port.stopListening)
        answer = await deferToThread(_exchange, port.getHost().port, HEADERS["v2 TCP4 with TLVs"])
        self.assertEqual(answer.decode(), repr(V4))

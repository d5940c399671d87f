"""
The guard of L{pptwisted.endpoints._twisted_private.PRIVATE_APIS} that needs a real
connection: a C{tcp.Server} has the attributes the hand-over uses.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from ..unit.test_private_apis import _attributes, _changed, _entry


class ServerAttributeGuards(TestCase):
    async def test_server_attributes(self) -> None:
        """A real tcp.Server has the attributes the hand-over sets and reads."""
        entry = _entry("twisted.internet.tcp.Server")
        names = _attributes(entry)
        self.assertIn("logstr", names)
        seen: Deferred[dict[str, bool]] = Deferred()

        class Look(Protocol):
            def connectionMade(self) -> None:
                seen.callback({name: hasattr(self.transport, name) for name in names})
                self.transport.loseConnection()  # type: ignore[union-attr]

        port = reactor.listenTCP(0, Factory.forProtocol(Look), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            Factory.forProtocol(Protocol)
        )
        self.addCleanup(client.transport.loseConnection)
        found = await seen
        self.assertEqual([n for n, ok in found.items() if not ok], [], _changed(entry, "missing"))

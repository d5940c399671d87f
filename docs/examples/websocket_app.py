"""
An Autobahn WebSocket server behind a load balancer that sends the PROXY
protocol: it tells each client the address it sees, then echoes its
messages. python websocket_app.py [ENDPOINT]
"""

import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.logger import globalLogBeginner, textFileLogObserver


class WhoAmI(WebSocketServerProtocol):
    def onConnect(self, request):
        # request.peer is the client the PROXY header names: "tcp4:HOST:PORT".
        self.client = request.peer

    def onOpen(self):
        self.sendMessage(f"you are {self.client}".encode())

    def onMessage(self, payload, isBinary):
        self.sendMessage(payload, isBinary)


globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
factory = WebSocketServerFactory()
factory.protocol = WhoAmI
endpoint = sys.argv[1] if len(sys.argv) > 1 else "proxy:tcp:8080"
serverFromString(reactor, endpoint).listen(factory)
reactor.run()

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol


class Hello(Protocol):
    def connectionMade(self):  # getPeer() is the client the header names
        self.transport.write(f"hello {self.transport.getPeer().host}\n".encode())
        self.transport.loseConnection()


serverFromString(reactor, "proxy:tcp:8080").listen(Factory.forProtocol(Hello))
reactor.run()

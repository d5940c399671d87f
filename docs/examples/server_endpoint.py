"""A server behind proxy:, through the Python API: python server_endpoint.py [PORT]."""

import sys

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogBeginner, textFileLogObserver

import pptwisted


class Hello(Protocol):
    def connectionMade(self):
        peer = self.transport.getPeer()  # the real client, already
        header = pptwisted.get_proxy_header(self.transport)
        sni = header.authority if header else None  # TLVs, e.g. the SNI
        self.transport.write(f"hello {peer.host} ({sni})\n".encode())
        self.transport.loseConnection()


globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])  # rejections are logged
# Headers are accepted only from these networks (your load balancers'): here
# this machine, for a local try with curl --haproxy-protocol. Listening on
# 127.0.0.1 too; behind a load balancer drop interface= and trust its network.
policy = pptwisted.ProxyProtocolPolicy(trusted=("127.0.0.0/8", "10.0.0.0/8"), timeout=5)
port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
listener = TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")
endpoint = pptwisted.ProxyProtocolServerEndpoint(listener, policy)
endpoint.listen(Factory.forProtocol(Hello))
reactor.run()

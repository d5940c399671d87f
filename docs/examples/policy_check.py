"""
Only connections that came through our AWS PrivateLink endpoints: the VPC
endpoint id is in the header's TLV 0xEA (header.aws_vpce_id).
python policy_check.py [PORT]
"""

import sys

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogBeginner, textFileLogObserver

import pptwisted

ALLOWED_VPCE_IDS = {"vpce-0a1b2c3d4e5f6a7b8", "vpce-08f9e8d7c6b5a4321"}


def through_our_endpoints(header, real_peer):
    return header is not None and header.aws_vpce_id in ALLOWED_VPCE_IDS


class Hello(Protocol):
    def connectionMade(self):
        vpce = pptwisted.get_proxy_header(self.transport).aws_vpce_id
        self.transport.write(f"hello {self.transport.getPeer().host} via {vpce}\n".encode())
        self.transport.loseConnection()


globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
# The NLB's addresses are in your VPC; 127.0.0.0/8 for a local try.
policy = pptwisted.ProxyProtocolPolicy(
    trusted=("127.0.0.0/8", "10.0.0.0/8"), versions={2}, check=through_our_endpoints
)
port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
listener = TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")
endpoint = pptwisted.ProxyProtocolServerEndpoint(listener, policy=policy)
endpoint.listen(Factory.forProtocol(Hello))
reactor.run()

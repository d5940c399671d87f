# A Twisted Names server behind dnsdist: UDP through
# ProxyProtocolDatagramWrapper, TCP through proxy:tcp, on the same port.
# It answers every TXT query with the client address it sees.
import sys

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.names import dns, server

from pptwisted import ProxyProtocolDatagramWrapper, ProxyProtocolPolicy


class ClientAddressFactory(server.DNSServerFactory):
    def handleQuery(self, message, protocol, address):
        # UDP: address is the header's source. TCP: address is None, and
        # the connection's getPeer() is the header's source.
        if address is None:
            peer = protocol.transport.getPeer()
            seen = (peer.host, peer.port)
        else:
            seen = address
        query = message.queries[0]
        message.answer, message.recAv, message.rCode = 1, 1, dns.OK
        if query.type == dns.TXT:
            text = f"{seen[0]}:{seen[1]}".encode()
            record = dns.Record_TXT(text, ttl=0)
            message.answers = [dns.RRHeader(query.name.name, dns.TXT, dns.IN, 0, record)]
        self.sendReply(protocol, message, address)


def listen(port, interface="0.0.0.0", trusted="10.0.0.0/8"):
    """Serve on UDP and TCP PORT; only TRUSTED (dnsdist) may send headers."""
    factory = ClientAddressFactory()
    wrapper = ProxyProtocolDatagramWrapper(
        dns.DNSDatagramProtocol(factory),
        ProxyProtocolPolicy(trusted=(trusted,)),
        header_on="every",  # dnsdist: a header on every datagram
        max_flows=65536,  # clients remembered for routing replies
        flow_timeout=30.0,  # seconds after a client's last query
    )
    udp = reactor.listenUDP(port, wrapper, interface=interface, maxPacketSize=65535)
    tcp = f"proxy:tcp:{port}:interface={interface}:proxyTrusted={trusted}"
    return factory, wrapper, udp, serverFromString(reactor, tcp).listen(factory)


if __name__ == "__main__":
    listen(int(sys.argv[1]) if len(sys.argv) > 1 else 5300)
    reactor.run()

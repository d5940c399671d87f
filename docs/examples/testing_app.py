"""Test a twisted.web application behind proxy:, with no network."""

from twisted.internet.address import IPv4Address
from twisted.web.resource import Resource
from twisted.web.server import Site

from pptwisted import ProxyHeader
from pptwisted.testing import proxied_connection


class WhoAmI(Resource):
    isLeaf = True

    def render_GET(self, request):
        return request.getClientAddress().host.encode()


site = Site(WhoAmI())
client = IPv4Address("TCP", "203.0.113.9", 4321)
destination = IPv4Address("TCP", "10.0.0.1", 80)
connection = proxied_connection(site, ProxyHeader.proxy(client, destination))
connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
assert b"203.0.113.9" in connection.received()
print("the application saw 203.0.113.9")

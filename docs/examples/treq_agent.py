"""
treq and Agent clients that send a header: python treq_agent.py [URL]
(with twist proxy-whoami on 8080, both requests report 203.0.113.7).
"""

import sys

import treq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from pptwisted import ProxyHeader
from pptwisted.http import proxied_agent, proxied_treq

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/"
header = ProxyHeader.proxy(
    IPv4Address("TCP", "203.0.113.7", 40000), IPv4Address("TCP", "10.0.0.1", 443)
)


async def main(reactor):
    client = proxied_treq(reactor, header)  # a treq.HTTPClient
    response = await client.get(URL)  # https works the same
    print(response.code, await treq.text_content(response))
    agent = proxied_agent(reactor, lambda uri: header)  # a twisted.web Agent
    response = await agent.request(b"GET", URL.encode())
    print(response.code)


react(lambda reactor: ensureDeferred(main(reactor)))

"""
pptwisted's Twisted plugins: the C{proxy:} endpoint prefix (server and
client) and the C{twist proxy-whoami} and C{twist proxy-relay} subcommands.

This dropin is imported whenever any plugin prefix is parsed: it only
instantiates objects defined in pptwisted and never imports the reactor
(the subcommands' modules are imported only when they run).
"""

from twisted.application.service import ServiceMaker

from pptwisted.endpoints import ProxyClientParser, ProxyServerParser

proxyServerEndpointParser = ProxyServerParser()
proxyClientEndpointParser = ProxyClientParser()

proxyWhoami = ServiceMaker(
    "pptwisted proxy-whoami",
    "pptwisted.tools.whoami",
    "Answer every connection with what its PROXY header said",
    "proxy-whoami",
)
proxyRelay = ServiceMaker(
    "pptwisted proxy-relay",
    "pptwisted.tools.relay",
    "Relay TCP connections, sending a PROXY header that describes the client",
    "proxy-relay",
)

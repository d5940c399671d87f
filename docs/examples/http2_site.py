"""
A twisted.web site that speaks HTTP/2 or HTTP/1.1, as the client chose,
behind HAProxy terminating TLS (examples/haproxy-h2.cfg):
python http2_site.py [ENDPOINT]. It answers with what twisted.web saw.
"""

import json
import sys

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.python import log
from twisted.web.resource import Resource
from twisted.web.server import Site


class WhatTwistedSaw(Resource):
    isLeaf = True

    def render_GET(self, request):
        client = request.getClientAddress()  # the client, from the PROXY header
        request.setHeader(b"content-type", b"application/json")
        seen = {
            "client": [client.host, client.port],
            "protocol": request.clientproto.decode(),  # "HTTP/2" or "HTTP/1.1"
            "secure": request.isSecure(),  # the client used TLS (proxySecure=yes)
            "url": request.prePathURL().decode(),  # https://..., from the Host
        }
        return json.dumps(seen).encode() + b"\n"


# proxyTrusted: the address of HAProxy, whose headers are believed (here this
# machine); proxyALPN=yes: HTTP/2 when the client chose h2 with HAProxy;
# proxySecure=yes: requests are https when HAProxy says the client used TLS.
DEFAULT = "proxy:tcp:8080:proxyTrusted=127.0.0.1:proxyALPN=yes:proxySecure=yes"
log.startLogging(sys.stdout)  # logs "Site (PROXY) starting on 8080"
endpoint = serverFromString(reactor, sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
endpoint.listen(Site(WhatTwistedSaw()))
reactor.run()

"""
A twisted.web application behind proxy:, and its Prometheus metrics beside it:
python metrics_app.py [APP_ENDPOINT METRICS_ENDPOINT].
"""

import sys

from prometheus_client.twisted import MetricsResource
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.logger import globalLogBeginner, textFileLogObserver
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import File

import pptwisted.metrics

app, metrics = sys.argv[1:3] if len(sys.argv) > 2 else ("proxy:tcp:8080", "tcp:9100")
globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
pptwisted.metrics.register()  # pptwisted's collector, in prometheus_client's REGISTRY

# The application, behind the load balancer.
serverFromString(reactor, f"{app}:proxyName=www").listen(Site(File(".")))

# Its metrics, for Prometheus only (not through the load balancer).
root = Resource()
root.putChild(b"metrics", MetricsResource())
serverFromString(reactor, f"{metrics}:interface=127.0.0.1").listen(Site(root))
reactor.run()

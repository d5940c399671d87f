"""
A Flask application on twisted.web's WSGI container, behind a load balancer
that sends the PROXY protocol: python wsgi_app.py [ENDPOINT], or
twist web --listen ENDPOINT --wsgi wsgi_app.app
"""

import sys

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def whoami():
    # REMOTE_ADDR and REMOTE_PORT are twisted.web's getClientAddress(): the
    # client the PROXY header names. The scheme is https when the request is
    # secure (proxySecure=yes, behind a load balancer that terminated TLS).
    return jsonify(
        remote_addr=request.remote_addr,
        remote_port=int(request.environ["REMOTE_PORT"]),
        scheme=request.scheme,
        url=request.url,
    )


if __name__ == "__main__":
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString
    from twisted.logger import globalLogBeginner, textFileLogObserver
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    # The reactor's thread pool runs the app; it starts with the reactor and
    # is stopped when the reactor shuts down (Ctrl-C, SIGTERM).
    resource = WSGIResource(reactor, reactor.getThreadPool(), app)
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "proxy:tcp:8080"
    serverFromString(reactor, endpoint).listen(Site(resource))
    reactor.run()

"""
A Klein application behind a load balancer that sends the PROXY protocol:
python klein_app.py [ENDPOINT], e.g. proxy:tcp:8080:proxyTrusted=10.0.0.5
"""

import json
import sys

from klein import Klein

app = Klein()


@app.route("/")
def whoami(request):
    # The client the PROXY header names, not the load balancer's address.
    client = request.getClientAddress()
    request.setHeader("Content-Type", "application/json")
    return json.dumps({"host": client.host, "port": client.port, "secure": request.isSecure()})


if __name__ == "__main__":
    # Klein's run() listens on any endpoint string, proxy: included, and logs to stdout.
    app.run(endpoint_description=sys.argv[1] if len(sys.argv) > 1 else "proxy:tcp:8080")

# Two Twisted processes, each on its own proxy:tcp port, behind HAProxy
# (haproxy.cfg filled in from examples/haproxy-scale-out.cfg).
twist web --listen proxy:tcp:8081:interface=127.0.0.1 --path . &
twist web --listen proxy:tcp:8082:interface=127.0.0.1 --path . &
haproxy -f haproxy.cfg

python3 examples/fill.py examples/haproxy-send-proxy.cfg mode=tcp 'frontend=*:80' backend=10.0.0.11:8080 send_proxy=send-proxy-v2 > haproxy.cfg

twist conch --auth file:/etc/twisted-conch/passwd --data /etc/ssh --port proxy:tcp:2222:proxyTrusted=10.0.0.0/8

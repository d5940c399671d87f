"""
An SMTP server behind proxy: that keeps every message in a Maildir:
python smtp_server.py [ENDPOINT [MAILDIR]].
"""

import mailbox
import sys

from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.logger import globalLogBeginner, textFileLogObserver
from twisted.mail import smtp
from twisted.mail.protocols import ESMTPDomainDelivery
from zope.interface import implementer


@implementer(smtp.IMessage)
class Message:
    """One message, added to the Maildir once its last line is in."""

    def __init__(self, maildir):
        self.maildir = maildir
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.maildir.add(b"\n".join(self.lines) + b"\n")
        return defer.succeed(None)

    def connectionLost(self):
        self.lines = []


class Delivery(ESMTPDomainDelivery):
    """
    Accept any sender and any recipient. twisted.mail's receivedHeader
    writes "Received: from HELO ([IP] ...)" with IP from getPeer(): behind
    proxy:, the client's address, not the load balancer's.
    """

    def __init__(self, maildir):
        super().__init__(service=None, user=None, host=b"mx.example.com")
        self.maildir = maildir

    def validateTo(self, user):
        return lambda: Message(self.maildir)


class SMTPFactory(smtp.SMTPFactory):
    protocol = smtp.ESMTP
    domain = b"mx.example.com"  # in the 220 greeting

    def __init__(self, maildir):
        super().__init__()
        self.maildir = maildir

    def buildProtocol(self, addr):
        server = super().buildProtocol(addr)
        server.delivery = Delivery(self.maildir)
        return server


endpoint = sys.argv[1] if len(sys.argv) > 1 else "proxy:tcp:2525:proxyTrusted=10.0.0.0/8"
maildir = mailbox.Maildir(sys.argv[2] if len(sys.argv) > 2 else "Maildir")
globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])  # rejections are logged
serverFromString(reactor, endpoint).listen(SMTPFactory(maildir))
reactor.run()

"""
SMTP, a protocol where the server speaks first, behind C{proxy:}
(docs/apps/smtp.rst): the docs' example (docs/examples/smtp_server.py, on
twisted.mail.smtp) and C{twist mail} greet only once the header is in;
behind a real HAProxy (examples/haproxy-smtp.cfg, send-proxy-v2, with its
smtpchk health check) a delivered message's C{Received:} line names the
client; and a client whose load balancer holds the header back until the
client speaks (AWS NLB's default placement) is closed at C{proxyTimeout},
with one log line and nothing sent (and served as direct, with the load
balancer's address, under proxyHeader=optional).
"""

from __future__ import annotations

import mailbox
import smtplib
import socket
import sys
from pathlib import Path

from twisted.internet.threads import deferToThread

from ..compat import twist_command, twist_env
from .clients import TIMEOUT
from .harness import (
    CLIENT_HOST,
    REPO,
    InteropTestCase,
    Managed,
    require_address,
    require_binary,
)

EXAMPLE = REPO / "docs" / "examples" / "smtp_server.py"
#: The endpoint the tests give the servers; HAProxy and the raw clients
#: connect from 127.0.0.1.
ENDPOINT = "proxy:tcp:0:interface=127.0.0.1:proxyTrusted=127.0.0.1"
#: A v1 header as a load balancer would send it for the client 192.0.2.7.
V1_HEADER = b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 25\r\n"
#: How long a raw client listens before it sends the header: a server that
#: greeted before the header would have done so by then.
QUIET = 0.5
#: What pptwisted logs when a connection's header does not come in time.
TIMED_OUT = "Timed out after 1.0s waiting for a PROXY header from 127.0.0.1:"


def read_line(sock: socket.socket) -> bytes:
    """The bytes up to and including the first CRLF, or all until the close."""
    data = b""
    while b"\r\n" not in data and (chunk := sock.recv(1024)):
        data += chunk
    return data


def greeting_around_header(port: int, header: bytes) -> tuple[bytes, bytes]:
    """
    Connect to 127.0.0.1:C{port}, listen for L{QUIET} seconds, send
    C{header}: what came before the header, and the line after it.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.settimeout(QUIET)
        try:
            before = sock.recv(1024)
        except TimeoutError:
            before = b""
        sock.settimeout(TIMEOUT)
        sock.sendall(header)
        return before, read_line(sock)


def wait_for_greeting(port: int) -> bytes:
    """Connect and wait for the greeting, sending nothing: all until the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        data = b""
        while chunk := sock.recv(1024):
            data += chunk
        return data


def greet_then_speak(port: int, data: bytes) -> tuple[bytes, bytes]:
    """Wait for the greeting, then send C{data}: the greeting, and the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        greeting = read_line(sock)
        sock.sendall(data)
        reply = b""
        while reply.count(b"\r\n") < 2 and (chunk := sock.recv(1024)):
            reply += chunk
        return greeting, reply


def send_mail(port: int) -> None:
    """Send one message through 127.0.0.1:C{port} from CLIENT_HOST with smtplib."""
    with smtplib.SMTP(
        "127.0.0.1",
        port,
        local_hostname="client.example",
        timeout=TIMEOUT,
        source_address=(CLIENT_HOST, 0),
    ) as client:
        client.sendmail(
            "alice@client.example",
            ["bob@mx.example.com"],
            b"Subject: hello\r\n\r\nThrough HAProxy.\r\n",
        )


class SMTPTests(InteropTestCase):
    async def start_example(self, endpoint: str = ENDPOINT) -> tuple[Managed, int, Path]:
        """Run the docs' SMTP server on C{endpoint}: it, its port, its Maildir."""
        directory = self.make_directory()
        maildir = directory / "Maildir"
        server = Managed(
            [sys.executable, "-u", str(EXAMPLE), endpoint, str(maildir)],
            directory,
            "smtp",
            cwd=REPO,
            env=twist_env(),
        )
        self.addCleanup(deferToThread, server.stop)
        port: int = await deferToThread(server.logged_port)
        return server, port, maildir

    async def test_greeting_after_header(self) -> None:
        """The example says nothing until the header is in, then greets."""
        server, port, _ = await self.start_example()
        before, greeting = await deferToThread(greeting_around_header, port, V1_HEADER)
        self.assertEqual(before, b"")
        self.assertEqual(greeting, b"220 mx.example.com NO UCE NO UBE NO RELAY PROBES ESMTP\r\n")
        self.assertNotIn("Traceback", server.output())

    async def test_twist_mail_greeting_after_header(self) -> None:
        """
        C{twist mail --smtp proxy:...} greets after the header too, and logs
        the client's address as the connection's.
        """
        directory = self.make_directory()
        argv = [
            *twist_command(),
            "--log-format",
            "text",
            "mail",
            "--no-pop3",
            "--hostname",
            "mx.example.com",
            "--smtp",
            ENDPOINT,
        ]
        server = Managed(argv, directory, "twist-mail", cwd=REPO, env=twist_env())
        self.addCleanup(deferToThread, server.stop)
        port = await deferToThread(server.logged_port)
        before, greeting = await deferToThread(greeting_around_header, port, V1_HEADER)
        self.assertEqual(before, b"")
        self.assertEqual(greeting, b"220 mx.example.com NO UCE NO UBE NO RELAY PROBES\r\n")
        await self.wait_until(lambda: "Connection from" in server.output())
        self.assertIn(
            "Connection from IPv4Address(type='TCP', host='192.0.2.7', port=50000)",
            server.output(),
        )

    async def test_received_names_the_client(self) -> None:
        """
        Behind HAProxy (send-proxy-v2), the C{Received:} line twisted.mail
        writes names the client's address, not HAProxy's; HAProxy's smtpchk
        health check, which sends a header too, passes.
        """
        require_binary("haproxy")
        require_address(CLIENT_HOST)
        server, port, maildir = await self.start_example()
        haproxy, frontend = await self.on_free_frontend(
            self.haproxy, "haproxy-smtp.cfg", backend=f"127.0.0.1:{port}"
        )
        await self.wait_until(
            lambda: haproxy.servers()["mx1"]["check_status"] == "L7OK", seconds=15
        )
        await deferToThread(send_mail, frontend)
        box = mailbox.Maildir(maildir, create=False)
        await self.wait_until(lambda: len(box) == 1)
        [message] = box
        received = message["Received"]
        self.assertTrue(
            received.startswith("from client.example ([127.0.0.2] helo=client.example"), received
        )
        self.assertIn("by mx.example.com with esmtp", received)
        self.assertEqual(message["Subject"], "hello")
        self.assertNotIn("Traceback", server.output())

    async def test_header_held_until_client_speaks(self) -> None:
        """
        A load balancer that sends the header only with the client's first
        bytes (NLB's on_first_ack_with_payload) and a client that waits for
        the greeting: nothing comes, the connection is closed at
        proxyTimeout, and the server logs one line, no traceback.
        """
        server, port, _ = await self.start_example(f"{ENDPOINT}:proxyTimeout=1")
        self.assertEqual(await deferToThread(wait_for_greeting, port), b"")
        await self.wait_until(lambda: TIMED_OUT in server.output())
        output = server.output()
        self.assertEqual(output.count(TIMED_OUT), 1, output)
        self.assertEqual(output.count("received 0 byte(s)"), 1, output)
        self.assertNotIn("Traceback", output)

    async def test_optional_mode_is_no_fix(self) -> None:
        """
        With proxyHeader=optional, the same connection is served as direct
        at proxyTimeout, with the load balancer's address, and the header
        that comes with the client's first command is a bad command.
        """
        _, port, _ = await self.start_example(f"{ENDPOINT}:proxyTimeout=1:proxyHeader=optional")
        greeting, reply = await deferToThread(greet_then_speak, port, V1_HEADER + b"HELO x\r\n")
        self.assertEqual(greeting, b"220 mx.example.com NO UCE NO UBE NO RELAY PROBES ESMTP\r\n")
        self.assertEqual(
            reply,
            b"500 Command not implemented\r\n"
            b"250 mx.example.com Hello 127.0.0.1, nice to meet you\r\n",
        )

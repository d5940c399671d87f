"""
C{twist conch} behind C{proxy:} (docs/apps/ssh.rst): the command of
docs/examples/twist-conch.sh, behind a real HAProxy (send-proxy), logged
into with OpenSSH's C{ssh} from 127.0.0.2: the command the session runs sees
the client in C{SSH_CLIENT}, which twisted.conch's unix session builds from
C{getPeer()} and C{getHost()}. That session runs commands as the logged-in
user, so C{twist conch} must run as root: the test skips otherwise.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest

from ..compat import twist_command, twist_env
from .clients import TIMEOUT
from .harness import (
    CLIENT_HOST,
    REPO,
    InteropTestCase,
    Managed,
    require_address,
    require_binary,
    require_module,
)

COMMAND = REPO / "docs" / "examples" / "twist-conch.sh"
PASSWORD = "correct horse"
#: The command ssh runs in the session.
REMOTE = 'echo "SSH_CLIENT=$SSH_CLIENT"'


def conch_argv(data: str, passwords: str, endpoint: str) -> list[str]:
    """The docs' C{twist conch} command, with this test's files and endpoint."""
    words = shlex.split(COMMAND.read_text())
    assert words[:2] == ["twist", "conch"], words
    values = {"--auth": f"file:{passwords}", "--data": data, "--port": endpoint}
    argv = words[1:]
    for i, word in enumerate(argv):
        if word in values:
            argv[i + 1] = values.pop(word)
    assert not values, f"{COMMAND.name} lacks {sorted(values)}"
    return [*twist_command(), "--log-format", "text", *argv]


class TwistConchTests(InteropTestCase):
    def setUp(self) -> None:
        require_binary("haproxy")
        require_binary("ssh")
        require_address(CLIENT_HOST)
        require_module("bcrypt")
        require_module("twisted.conch.ssh.keys")
        if os.geteuid() != 0:
            raise SkipTest(
                "twist conch's unix session switches to the logged-in user to run"
                " a command, which needs root"
            )

    async def test_ssh_client_names_the_client(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from twisted.conch.ssh import keys

        directory = self.make_directory()
        host_key = keys.Key(ed25519.Ed25519PrivateKey.generate())
        private = directory / "ssh_host_ed25519_key"
        private.write_bytes(host_key.toString("OPENSSH"))
        private.chmod(0o600)
        (directory / "ssh_host_ed25519_key.pub").write_bytes(host_key.public().toString("OPENSSH"))
        user = pwd.getpwuid(os.geteuid()).pw_name
        passwords = directory / "passwd"
        passwords.write_text(f"{user}:{PASSWORD}\n")
        passwords.chmod(0o600)
        askpass = directory / "askpass"
        askpass.write_text(f"#!/bin/sh\necho {shlex.quote(PASSWORD)}\n")
        askpass.chmod(0o700)

        endpoint = "proxy:tcp:0:interface=127.0.0.1:proxyTrusted=127.0.0.1"
        argv = conch_argv(str(directory), str(passwords), endpoint)
        server = Managed(argv, directory, "conch", cwd=REPO, env=twist_env())
        self.addCleanup(deferToThread, server.stop)
        port = await deferToThread(server.logged_port)
        _, frontend = await self.on_free_frontend(
            self.haproxy,
            "haproxy-send-proxy.cfg",
            mode="tcp",
            backend=f"127.0.0.1:{port}",
            send_proxy="send-proxy",
        )
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(
            f"[127.0.0.1]:{frontend} {host_key.public().toString('OPENSSH').decode()}\n"
        )

        ssh = [
            require_binary("ssh"),
            "-F",
            "/dev/null",
            "-n",
            "-b",
            CLIENT_HOST,
            "-p",
            str(frontend),
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
            f"{user}@127.0.0.1",
            REMOTE,
        ]
        env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        result = await deferToThread(
            subprocess.run,
            ssh,
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 3,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 0, result.stderr + server.output())
        # SSH_CLIENT is "client-ip client-port server-port": the client
        # behind HAProxy, and the port it connected to (HAProxy's frontend).
        # (Logged in as root, the command's output starts with the warning
        # Twisted's switchUID logs in the forked child: "tried to drop
        # privileges and setuid 0 but uid is already 0".)
        self.assertRegex(result.stdout, rf"(?m)^SSH_CLIENT=127\.0\.0\.2 \d+ {frontend}\n\Z")
        self.assertNotIn("Traceback", server.output())

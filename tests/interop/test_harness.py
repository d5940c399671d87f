"""
The harness's port handling: a program whose port another process holds
fails with L{AddressInUse} (never shares the port or passes for started),
and L{on_free_port} then tries another port.
"""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.internet.threads import deferToThread

from .harness import (
    AddressInUse,
    InteropTestCase,
    on_free_port,
    require_binary,
    require_nginx_stream,
    start_dnsdist,
    start_haproxy,
    start_nginx,
)


def hold_port() -> socket.socket:
    """A listening socket on 127.0.0.1: the port another process took."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder


class TakenPortTests(InteropTestCase):
    """Each program, told a port that a socket of ours holds, is reported as AddressInUse."""

    async def check_taken(self, start: object, config: str, directory: Path) -> None:
        holder = hold_port()
        self.addCleanup(holder.close)
        port = holder.getsockname()[1]
        listening = [("127.0.0.1", port)]
        with self.assertRaises(AddressInUse) as caught:
            await deferToThread(start, config.replace("PORT", str(port)), listening, directory)
        self.assertIn("already in use", str(caught.exception).lower())

    async def test_haproxy(self) -> None:
        require_binary("haproxy")
        config = "listen front\n    mode tcp\n    bind 127.0.0.1:PORT\n    server s 127.0.0.1:9\n"
        await self.check_taken(start_haproxy, config, self.make_directory())

    async def test_nginx(self) -> None:
        require_nginx_stream()
        config = (
            "stream {\n    server {\n        listen 127.0.0.1:PORT;\n        return x;\n    }\n}\n"
        )
        await self.check_taken(start_nginx, config, self.make_directory())

    async def test_dnsdist(self) -> None:
        require_binary("dnsdist")
        config = 'setLocal("127.0.0.1:PORT")\nnewServer("127.0.0.1:9")\n'
        await self.check_taken(start_dnsdist, config, self.make_directory())


class OnFreePortTests(InteropTestCase):
    async def test_retries_when_taken(self) -> None:
        """AddressInUse: another candidate port; the second start's result and port."""
        tried: list[int] = []

        async def start(port: int) -> str:
            tried.append(port)
            if len(tried) == 1:
                raise AddressInUse("taken")
            return "started"

        result, port = await on_free_port(start)
        self.assertEqual(result, "started")
        self.assertEqual(len(tried), 2)
        self.assertEqual(port, tried[1])

    async def test_gives_up(self) -> None:
        """After C{tries} candidates, the last AddressInUse propagates."""
        tried: list[int] = []

        async def start(port: int) -> str:
            tried.append(port)
            raise AddressInUse(f"taken {port}")

        with self.assertRaises(AddressInUse):
            await on_free_port(start, tries=3)
        self.assertEqual(len(tried), 3)

    async def test_other_errors_propagate(self) -> None:
        """A failure that is not AddressInUse is not retried."""
        tried: list[int] = []

        async def start(port: int) -> str:
            tried.append(port)
            raise RuntimeError("config rejected")

        with self.assertRaises(RuntimeError):
            await on_free_port(start)
        self.assertEqual(len(tried), 1)

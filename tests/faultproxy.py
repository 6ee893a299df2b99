"""A small TCP proxy on loopback that loses responses, resets and stalls connections on request.

Between a test's clients and a real server process it plays the venue wifi: a response that never
arrives although the server sent it, every connection cut at once (RST, no close frame), or a
connection that silently stops carrying anything (a locked phone: no FIN, no RST).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER 0 drops the connection without the FIN handshake."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to `target`; faults are switched on by the test."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted: list[float] = []  # monotonic time of every accepted connection
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._lose_responses = 0
        self._stalled = False
        self._muted = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.rst_all()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- faults ------------------------------------------------------------------------

    def lose_responses(self, count: int = 1) -> None:
        """The next `count` connections deliver their request, but the client never sees an
        answer: the proxy swallows what the server sends and resets the client's connection."""
        self._lose_responses = count

    def rst_all(self) -> int:
        """Reset every open connection at once (wifi gone); returns how many there were."""
        links = list(self._links)
        for link in links:
            _reset(link.client)
            _reset(link.server)
            for task in link.tasks:
                task.cancel()
        self._links.clear()
        return len(links)

    def stall(self) -> None:
        """Stop carrying bytes on every connection, old and new, without closing anything."""
        self._stalled = True

    def mute(self) -> None:
        """Swallow everything servers send on every connection (requests still arrive): the
        answers are lost on the way back."""
        self._muted = True

    def resume(self) -> None:
        self._stalled = False
        self._muted = False

    @property
    def open_connections(self) -> int:
        return len(self._links)

    # --- plumbing ----------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        lose = self._lose_responses > 0
        if lose:
            self._lose_responses -= 1
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link, lose=False, down=False)),
            asyncio.create_task(self._pump(up_reader, writer, link, lose=lose, down=True)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        lose: bool,
        down: bool,
    ) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    writer.write_eof() if writer.can_write_eof() else writer.close()
                    return
                while self._stalled:
                    await asyncio.sleep(0.05)
                if lose:
                    # The server answered; the client will never know.
                    _reset(link.client)
                    _reset(link.server)
                    return
                if down and self._muted:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            _reset(link.client)
            _reset(link.server)

"""A small HTTP/1.1 keep-alive client for the load generator (asyncio protocols, no library).

One request at a time per connection; a pool hands out idle connections. Only what the harness
needs: Content-Length bodies (uvicorn answers HTMLResponse and redirects with one).
"""

from __future__ import annotations

import asyncio
import time


class HttpError(Exception):
    """The connection closed or answered something this client does not understand."""


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None
        self.closed = False
        self.idle_since = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        length = -1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length < 0:
            self.waiter.set_exception(HttpError("response without Content-Length"))
            return
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        status = int(head[9:12])
        self.waiter.set_result((status, head, body))

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter


# A connection idle this long is closed rather than reused: the server (uvicorn) closes idle
# keep-alive connections after 5 s, and a request sent just as it does is answered with a reset.
IDLE_SECONDS = 4.0


class Pool:
    """At most `size` keep-alive connections to one host:port; opened lazily."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host = host
        self.port = port
        self.size = size
        self._idle: list[_Conn] = []
        self._opened = 0
        self._sem = asyncio.Semaphore(size)
        self.reconnects = 0  # GETs sent again on a new connection after a reused one failed

    async def _get(self, fresh: bool = False) -> tuple[_Conn, bool]:
        """A connection, and whether it was used before."""
        while self._idle and not fresh:
            conn = self._idle.pop()
            if conn.closed:
                continue
            if time.monotonic() - conn.idle_since > IDLE_SECONDS:
                if conn.transport is not None:
                    conn.transport.close()
                continue
            return conn, True
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, self.host, self.port)
        self._opened += 1
        return conn, False

    async def request(self, raw: bytes, timeout: float = 15.0) -> tuple[int, bytes, bytes]:
        """Send one raw request; returns (status, head, body).

        A GET that fails on a reused connection (closed by the server while the request was
        on its way) is sent once more on a new one, as browsers do; other methods are not.
        """
        async with self._sem:
            conn, reused = await self._get()
            try:
                result = await asyncio.wait_for(conn.request(raw), timeout)
            except HttpError:
                if conn.transport is not None:
                    conn.transport.abort()
                if not (reused and raw.startswith(b"GET ")):
                    raise
                self.reconnects += 1
                conn, _ = await self._get(fresh=True)
                try:
                    result = await asyncio.wait_for(conn.request(raw), timeout)
                except BaseException:
                    if conn.transport is not None:
                        conn.transport.abort()
                    raise
            except BaseException:
                if conn.transport is not None:
                    conn.transport.abort()
                raise
            head = result[1].lower()
            if b"connection: close" in head:
                if conn.transport is not None:
                    conn.transport.close()
            else:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            return result

    def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()


def get(path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_form(path: str, host: str, body: str, headers: dict[str, str] | None = None) -> bytes:
    data = body.encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(data)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def now() -> float:
    return time.perf_counter()

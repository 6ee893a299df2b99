"""Run the real server (`stemlab serve`) as a child process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PARTICIPANT_COOKIE = "stemlab_p"
# How the server is started; the Dockerfile and docker-compose.yml run the same command.
SERVE_COMMAND = ("python", "-m", "app.cli", "serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def server_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The caller's environment without their Stemlab settings, plus the server's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEMLAB_")}
    env.update(
        STEMLAB_DATABASE_URL=database_url,
        STEMLAB_HOST="127.0.0.1",
        STEMLAB_PORT=str(port),
        STEMLAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        STEMLAB_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def running_server(
    database_url: str | Path, port: int | None = None, **extra: str
) -> Iterator[Server]:
    """Start `stemlab serve`, wait until /healthz answers, stop it afterwards.

    `database_url`: the `new_database` fixture, so the server runs on the database the
    suite runs on (a Path is a SQLite file, whatever the suite runs on).
    """
    if isinstance(database_url, Path):
        database_url = f"sqlite:///{database_url}"
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, *SERVE_COMMAND[1:]],
        cwd=ROOT,
        env=server_env(database_url, port, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}")

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{server.text()}")
        time.sleep(0.05)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- participants -------------------------------------------------------------------------
# The server signs every participant token (app/participants.py) and refuses a made-up cookie,
# so a test phone joins as a real one does, and these are the only ways tests get one.


def join(client: httpx.Client, code: str) -> str:
    """Join as a phone does, by opening the presentation's page; the participant cookie.

    `client` keeps the cookie, as a browser does (a TestClient phone, or an httpx client at a
    real server); the value is returned for socket handshakes and Cookie headers. A client
    that joined before gets no new token: it is the same phone.
    """
    response = client.get(f"/p/{code}")
    assert response.status_code == 200, f"joining {code} gave {response.status_code}"
    value = client.cookies.get(PARTICIPANT_COOKIE)
    assert value, "joining gave no participant cookie"
    return value


async def join_async(client: httpx.AsyncClient, code: str) -> str:
    """A new phone joins through `client`; the participant cookie it was given.

    For scripts with many phones: the request carries no cookie and the client keeps none, so
    every call (also several at once through one client) is another participant.
    """
    response = await client.get(f"/p/{code}", headers={"Cookie": ""})
    assert response.status_code == 200, f"joining {code} gave {response.status_code}"
    value = response.cookies.get(PARTICIPANT_COOKIE)
    assert value, "joining gave no participant cookie"
    client.cookies.delete(PARTICIPANT_COOKIE)
    return value

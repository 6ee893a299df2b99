"""What the browser fixtures and tests share: paths, the demo login, the server, screenshots."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page

from tests.databases import DATABASES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"

DEMO_EMAIL = "demo@stemlab.local"
DEMO_PASSWORD = "browser-test-password-2024"
DEMO_TITLE = "Kwaliteit van de prestatieafspraken"

STARTUP_SECONDS = 60
# "  Participants: http://127.0.0.1:8000/  code 1234 5678  (or http://127.0.0.1:8000/j/12345678)"
JOIN_LINE = re.compile(r"Participants:\s+(?P<base>\S+?)/\s+code\s+(?P<a>\w+)\s+(?P<b>\w+)")


class ServerFailed(RuntimeError):
    """`stemlab serve` exited or did not become ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # refused, reset or timed out while the server starts
        return False


@dataclass
class Server:
    """A running `stemlab serve` and what it printed."""

    base_url: str
    process: subprocess.Popen[str]
    log_path: Path
    lines: list[str] = field(default_factory=list)
    join_code: str = ""
    _reader: threading.Thread | None = None
    workdir: Path | None = None
    database_url: str = ""
    _log_mode: str = "w"

    @classmethod
    def start(
        cls, workdir: Path, *, log_name: str = "server.log", database_url: str | None = None
    ) -> Server:
        """Start the server as production does and wait until it answers with a join code.

        Without `database_url`, on a new empty database of the kind the suite runs on.
        """
        port = free_port()
        log_path = ARTIFACTS / log_name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        database_url = database_url or DATABASES.new(workdir)
        server = cls(
            f"http://127.0.0.1:{port}",
            _launch(workdir, port, database_url),
            log_path,
            workdir=workdir,
            database_url=database_url,
        )
        server._follow()
        return server

    def start_again(self) -> None:
        """Start the stopped server again on the same port with the same database.

        The new process's output replaces `lines` and is appended to the same log file.
        """
        if self.workdir is None or self.process.poll() is None:
            raise RuntimeError("start_again needs a server that was started and then stopped")
        port = urlsplit(self.base_url).port
        assert port is not None
        self.process = _launch(self.workdir, port, self.database_url)
        self.lines = []
        self.join_code = ""
        self._log_mode = "a"
        self._follow()

    def _follow(self) -> None:
        """Read the output in the background and wait until the server is ready."""
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        return "".join(self.lines)

    def _pump(self) -> None:
        """Collect the output (so the pipe never fills) and mirror it to the log file."""
        assert self.process.stdout is not None
        with self.log_path.open(self._log_mode, encoding="utf-8") as log:
            for line in self.process.stdout:
                self.lines.append(line)
                log.write(line)
                log.flush()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                if self._reader is not None:
                    self._reader.join(timeout=5)
                raise ServerFailed(
                    f"stemlab serve exited with {self.process.returncode} before it was "
                    f"ready:\n{self.output()}"
                )
            match = JOIN_LINE.search(self.output())
            if match and _healthy(self.base_url):
                if match.group("base") != self.base_url:
                    raise ServerFailed(
                        f"the join line names {match.group('base')}, not "
                        f"{self.base_url}:\n{self.output()}"
                    )
                self.join_code = match.group("a") + match.group("b")
                return
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"stemlab serve did not answer /healthz and print a join code within "
                    f"{STARTUP_SECONDS}s:\n{self.output()}"
                )
            time.sleep(0.1)  # polling a process that is starting, not synchronising a test

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)


def _launch(workdir: Path, port: int, database_url: str) -> subprocess.Popen[str]:
    """`python -m app.cli serve` in `workdir`, its output (stdout and stderr) in one pipe."""
    # The working directory is a temporary one, so a developer's .env is not read.
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=workdir,
        env=server_env(database_url, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


def server_env(database_url: str, port: int) -> dict[str, str]:
    """The caller's environment without their Stemlab settings, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEMLAB_")}
    env.update(
        STEMLAB_DATABASE_URL=database_url,
        STEMLAB_HOST="127.0.0.1",
        STEMLAB_PORT=str(port),
        STEMLAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        STEMLAB_DEMO_PASSWORD=DEMO_PASSWORD,
        STEMLAB_SEED_DEMO="true",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


class Screenshots:
    """Saves page screenshots to test-artifacts/, and selected ones to docs/ on request."""

    def __init__(self, directory: Path, docs: Path, update_docs: bool) -> None:
        self.directory = directory
        self.docs = docs
        self.update_docs = update_docs
        directory.mkdir(parents=True, exist_ok=True)

    def __call__(
        self, page: Page, name: str, *, docs: bool = False, full_page: bool = False
    ) -> Path:
        path = self.directory / f"{name}.png"
        # caret="initial": hiding the caret leaves style="" on every input, which htmx then
        # copies while settling a swap, and the page's CSP (style-src 'self') reports that.
        page.screenshot(path=str(path), animations="disabled", caret="initial", full_page=full_page)
        if docs and self.update_docs:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.docs / path.name)
        return path

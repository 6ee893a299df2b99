"""Readiness and graceful shutdown of one server process.

On SIGTERM or SIGINT uvicorn stops listening and closes every websocket (1012, "service
restart") within a tenth of a second, then waits for open HTTP requests, and only then runs the
app's shutdown. That is too late for votes: a phone whose vote is still in the ballot box would
lose its socket before the "saved" reply. So the app sees the signal first:

1. readiness fails at once (/readyz answers 503), so a load balancer sends new work elsewhere;
2. the ballot box stops taking votes (new ones get the "try again" reply, 503 over HTTP) and
   commits and acknowledges every vote already queued;
3. then the signal goes on to uvicorn, which closes the sockets with 1012 (phones reconnect,
   to another worker if there is one) and finishes open requests within STEMLAB_SHUTDOWN_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from app.db import Database
    from app.web import Services

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0  # seconds a readiness probe waits for SELECT 1
DATABASE_CHECK_EVERY = 1.0  # probes within this many seconds share one database check
REPLY_GRACE = 0.1  # after the last queued vote is committed: time for its reply to go out
SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], Any] | int | None


def _ping(database: Database) -> None:
    with database.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class Lifecycle:
    """Whether this process takes new work, and how it stops taking it."""

    def __init__(self, shutdown_seconds: float = 10.0) -> None:
        self.services: Services | None = None
        self.draining = False
        self._shutdown_seconds = shutdown_seconds
        self._previous: dict[int, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None
        self._handing_over: asyncio.Task[None] | None = None
        self._database_ok = False
        self._database_checked = -float("inf")
        self._database_check: asyncio.Future[None] | None = None
        self._reported: tuple[str, ...] = ()

    # --- startup and shutdown ------------------------------------------------------------

    def serving(self, services: Services) -> None:
        """The app is started; SIGTERM and SIGINT now drain it before uvicorn stops it."""
        self.services = services
        self._loop = asyncio.get_running_loop()
        self.draining = False  # the same app may be started again (tests do)
        self._drain = self._handing_over = None
        # Signal handlers belong to the main thread (not so under a test client).
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    async def stopping(self) -> None:
        """The app's own shutdown: drain (if no signal did), then give the handlers back."""
        await self.drain()
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the main thread, inside whatever task was running:
        # hand over to the event loop, in a context of its own (not that task's).
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._signalled, sig, context=contextvars.Context())

    def _signalled(self, sig: int) -> None:
        if self._handing_over is not None:
            self._pass_on(sig)  # asked again: let uvicorn go on (twice ^C forces it)
            return
        log.info("%s received: draining", signal.Signals(sig).name)
        self._handing_over = asyncio.create_task(self._drain_then_pass_on(sig))

    async def _drain_then_pass_on(self, sig: int) -> None:
        try:
            await self.drain()
            # The replies to the last votes are on their way; let them leave before uvicorn
            # closes the sockets.
            await asyncio.sleep(REPLY_GRACE)
        finally:
            self._pass_on(sig)

    def _pass_on(self, sig: int) -> None:
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, None)  # uvicorn's handler: it stops the server
        else:  # no server of ours listening for it: the signal's own action
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
            signal.raise_signal(sig)

    async def drain(self) -> None:
        """Refuse new votes and commit the queued ones (once; later calls wait for it)."""
        self.draining = True
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_ballot_box())
        await asyncio.shield(self._drain)

    async def _drain_ballot_box(self) -> None:
        if self.services is None:
            return
        box = self.services.ballot_box
        started = time.perf_counter()
        try:
            # Shielded: on time-out the writer goes on (the app's shutdown waits for it).
            async with asyncio.timeout(self._shutdown_seconds):
                await asyncio.shield(box.stop())
        except TimeoutError:
            log.error("queued votes not committed within %ss", self._shutdown_seconds)
        except Exception:
            log.exception("the ballot box failed while stopping")
        else:
            log.info("ballot box drained in %.3fs", time.perf_counter() - started)

    # --- readiness -----------------------------------------------------------------------

    async def not_ready(self) -> list[str]:
        """What keeps this process from taking new work (empty: ready)."""
        svc = self.services
        if svc is None:
            return ["starting"]
        failing: list[str] = []
        if self.draining:
            failing.append("shutting_down")
        if not _accepting(svc.ballot_box):
            failing.append("ballot_box")
        if not self.draining and not await self._database_answers(svc.db):
            failing.append("database")
        if tuple(failing) != self._reported:  # say it once per change, not once per probe
            self._reported = tuple(failing)
            if failing:
                log.warning("not ready: %s", ", ".join(failing))
            else:
                log.info("ready")
        return failing

    def degraded(self) -> list[str]:
        """What works less well without keeping this process from taking votes."""
        svc = self.services
        if svc is not None and svc.settings.redis_url and not svc.bus.connected:
            # Votes never depend on Redis, and with Redis down every worker is: failing
            # readiness on it would take the whole service out of rotation at once.
            return ["redis"]
        return []

    async def _database_answers(self, database: Database) -> bool:
        now = time.monotonic()
        if now - self._database_checked < DATABASE_CHECK_EVERY:
            return self._database_ok
        # At most one check at a time: a database that hangs holds one thread, not one per probe.
        if self._database_check is None or self._database_check.done():
            self._database_check = asyncio.ensure_future(asyncio.to_thread(_ping, database))
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                await asyncio.shield(self._database_check)
            ok = True
        except TimeoutError:
            log.warning("database did not answer within %ss", DATABASE_TIMEOUT)
            ok = False
        except Exception as exc:
            log.warning("database check failed: %s", type(exc).__name__)
            ok = False
        self._database_ok, self._database_checked = ok, time.monotonic()
        return ok


def _accepting(box: Any) -> bool:
    """Whether the ballot box takes votes: started, not stopped, its writer alive."""
    task = getattr(box, "_task", None)
    accepting = getattr(box, "accepting", getattr(box, "_accepting", False))
    return bool(accepting) and task is not None and not task.done()

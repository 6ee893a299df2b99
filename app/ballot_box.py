"""The single writer: queue -> batch -> commit -> resolve waiters -> notify live."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.db import Database, is_retryable
from app.services.votes import VoteCommand, VoteStatus, record_votes

log = logging.getLogger(__name__)

# How often a batch is run again after a concurrent writer made it fail, and the first pause
# (doubled each time, randomised) before that.
RETRIES = 5
RETRY_PAUSE = 0.005


class BallotBoxClosed(RuntimeError):
    """The server is shutting down or overloaded; the vote was not taken (retry later)."""


@dataclass
class _Pending:
    command: VoteCommand
    future: asyncio.Future[VoteStatus] = field(repr=False)


@dataclass
class Stats:
    """What the writer has done since it started (written by its thread only)."""

    batches: int = 0
    votes: int = 0
    largest_batch: int = 0
    commit_seconds: float = 0.0
    # exact batch size -> number of batches committed with that many votes
    batch_sizes: Counter[int] = field(default_factory=Counter)
    # transactions run again because a concurrent writer (another worker or host) got in the
    # way: a deadlock, a serialization failure, a unique violation, a lost connection
    retries: int = 0


class BallotBox:
    """Commits votes in batches from one thread; a vote is acknowledged after its COMMIT."""

    def __init__(
        self,
        database: Database,
        *,
        on_committed: Callable[[set[tuple[int, int]]], None],
        batch_max: int = 512,
        queue_max: int = 50_000,
    ) -> None:
        self._db = database
        self._on_committed = on_committed
        self._batch_max = batch_max
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=queue_max)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ballot-box")
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self.stats = Stats()

    async def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="ballot-box")

    async def stop(self) -> None:
        """Refuse new votes, commit the ones already queued, then stop."""
        self._accepting = False
        if self._task is not None:
            await self._queue.put(None)  # behind every queued vote
            await self._task
        self._executor.shutdown(wait=True)

    async def submit(self, command: VoteCommand) -> VoteStatus:
        """Queue a vote and wait until it is committed (or refused)."""
        if not self._accepting:
            raise BallotBoxClosed("not accepting votes")
        future: asyncio.Future[VoteStatus] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(command, future))
        except asyncio.QueueFull:
            raise BallotBoxClosed("queue full") from None
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                statuses = await loop.run_in_executor(self._executor, self._commit_batch, batch)
            except Exception:
                log.exception("batch of %d votes failed; writing them one by one", len(batch))
                statuses = await loop.run_in_executor(self._executor, self._commit_each, batch)
            changed: set[tuple[int, int]] = set()
            for pending, status in zip(batch, statuses, strict=True):
                if pending.future.done():
                    continue
                if isinstance(status, BaseException):
                    pending.future.set_exception(status)
                    continue
                pending.future.set_result(status)
                if status == VoteStatus.SAVED:
                    changed.add((pending.command.presentation_id, pending.command.question_id))
            if changed:
                try:
                    self._on_committed(changed)
                except Exception:
                    log.exception("live notification failed")

    def _commit_batch(self, batch: list[_Pending]) -> list[VoteStatus | BaseException]:
        """Write the batch in one transaction; run it again when a concurrent writer got in
        the way (the failed transaction is rolled back first: nothing of it stays)."""
        started = time.perf_counter()
        commands = [p.command for p in batch]
        attempt = 0
        while True:
            try:
                with Session(self._db.write_engine) as session:
                    statuses = record_votes(session, commands)
                    session.commit()
                break
            except DBAPIError as exc:
                if attempt >= RETRIES or not is_retryable(exc):
                    raise
                attempt += 1
                self.stats.retries += 1
                log.warning(
                    "batch of %d votes met a concurrent writer (%s); running it again",
                    len(batch),
                    type(exc.orig).__name__,
                )
                # Spread the writers apart so they do not meet again at once.
                time.sleep(random.uniform(0, RETRY_PAUSE * 2**attempt))  # noqa: S311
        self.stats.batches += 1
        self.stats.votes += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.batch_sizes[len(batch)] += 1
        self.stats.commit_seconds += time.perf_counter() - started
        return list(statuses)

    def _commit_each(self, batch: list[_Pending]) -> list[VoteStatus | BaseException]:
        out: list[VoteStatus | BaseException] = []
        for pending in batch:
            try:
                out.extend(self._commit_batch([pending]))
            except Exception as exc:
                log.exception("vote could not be written")
                out.append(BallotBoxClosed(str(exc)))
        return out

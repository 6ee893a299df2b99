"""Durable votes per second through the ballot box (group commit on a SQLite file in WAL, or on
the empty PostgreSQL database named by --database-url).

Usage: python -m bench.writer [--votes N] [--concurrency C] [--database-url URL]
Prints throughput and acknowledgement latency; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from app.ballot_box import BallotBox
from app.cli import migrate
from app.config import Settings
from app.db import Database
from app.models import Presentation
from app.questions import get_type
from app.services import accounts
from app.services.presentations import add_question, create_presentation
from app.services.votes import VoteCommand, VoteStatus


async def run(votes: int, concurrency: int, database_url: str) -> dict[str, float]:
    settings = Settings(database_url=database_url, seed_demo=False)
    migrate(settings)
    db = Database(settings)
    with db.write_session() as session:
        user = accounts.create_user(session=session, email="b@example.org", password="x" * 12)
        presentation = create_presentation(
            session=session, owner_id=user.id or 0, title="Bench", language="nl"
        )
        question = add_question(
            session=session,
            owner_id=user.id or 0,
            presentation_id=presentation.id or 0,
            kind="choice",
            title="Q",
        )
        p = session.get(Presentation, presentation.id)
        assert p is not None
        p.current_question_id = question.id
        session.add(p)
    qtype = get_type("choice")
    box = BallotBox(db, on_committed=lambda changed: None, batch_max=settings.writer_batch_max)
    await box.start()
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(votes):
        queue.put_nowait(i)

    async def phone() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            answer = qtype.parse_answer(question.config, {"option": [f"o{1 + i % 2}"]})
            command = VoteCommand(
                presentation.id or 0, question.id or 0, f"token-{i}", f"key-{i}", answer
            )
            started = time.perf_counter()
            status = await box.submit(command)
            latencies.append(time.perf_counter() - started)
            assert status == VoteStatus.SAVED

    started = time.perf_counter()
    await asyncio.gather(*(phone() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await box.stop()
    db.dispose()
    latencies.sort()
    return {
        "votes": votes,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "votes_per_s": round(votes / elapsed),
        "batches": box.stats.batches,
        "mean_batch": round(box.stats.votes / max(box.stats.batches, 1), 1),
        "p50_ack_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ack_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--votes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=1_000)
    parser.add_argument(
        "--database-url", default="", help="an empty database (default: a new SQLite file)"
    )
    args = parser.parse_args()
    if args.database_url:
        result = asyncio.run(run(args.votes, args.concurrency, args.database_url))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            result = asyncio.run(run(args.votes, args.concurrency, url))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""The floors Stemlab is compared with, measured on the same machine in the same run.

- `python -m bench.floors ws --port P --frame FILE`: a bare `websockets` server that keeps every
  phone socket and, when the control socket (path /control) sends `go <id>`, broadcasts the
  frame from FILE with its `data-question` set to <id> to all of them at once.
- `group_commit_floor(...)`: a bare sqlite3 loop (WAL, synchronous=FULL) committing batches of
  ballot-shaped inserts; durable votes per second with nothing else in the way.
- `postgres_group_commit_floor(...)`: the same on PostgreSQL with psycopg 3, in tables of its
  own: each batch one transaction, the ballots in one multi-row INSERT ... RETURNING and their
  items in another; the server's own durability settings (synchronous_commit on by default).
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import time
from pathlib import Path

_QUESTION = re.compile(r'data-question="[0-9]*"')


async def _serve_ws(port: int, frame: str) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    phones: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for message in ws:
                _, _, qid = str(message).partition(" ")
                text = _QUESTION.sub(f'data-question="{qid}"', frame)
                started = time.perf_counter()
                broadcast(phones, text)
                await ws.send(f"sent {len(phones)} {time.perf_counter() - started:.6f}")
            return
        phones.add(ws)
        try:
            await ws.wait_closed()
        finally:
            phones.discard(ws)

    async with serve(
        handler, "127.0.0.1", port, compression=None, max_queue=4, backlog=4096
    ) as server:
        print("ready", flush=True)
        await server.serve_forever()


def group_commit_floor(path: Path, seconds: float, batch: int = 512) -> dict[str, float]:
    """Insert ballot-like rows (ballot + one item) in batches, one COMMIT (fsync) per batch."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE ballot (id INTEGER PRIMARY KEY, question_id INT NOT NULL, "
        "participant_id INT NOT NULL, client_key TEXT NOT NULL, answer TEXT NOT NULL, "
        "created_at TEXT NOT NULL, UNIQUE (question_id, participant_id))"
    )
    db.execute(
        "CREATE TABLE ballot_item (id INTEGER PRIMARY KEY, ballot_id INT NOT NULL, "
        "question_id INT NOT NULL, key TEXT NOT NULL, value INT, UNIQUE (ballot_id, key))"
    )
    db.execute("CREATE INDEX ix_item_q ON ballot_item (question_id, key)")
    n = 0
    commits = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        db.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            n += 1
            cur = db.execute(
                "INSERT INTO ballot (question_id, participant_id, client_key, answer, created_at) "
                "VALUES (1, ?, ?, ?, '2024-01-01T00:00:00')",
                (n, f"key-{n}", '{"s1": 3}'),
            )
            db.execute(
                "INSERT INTO ballot_item (ballot_id, question_id, key, value) "
                "VALUES (?, 1, 's1', 3)",
                (cur.lastrowid,),
            )
        db.execute("COMMIT")
        commits += 1
    elapsed = time.perf_counter() - started
    db.close()
    return {
        "votes": n,
        "commits": commits,
        "seconds": round(elapsed, 3),
        "votes_per_s": round(n / elapsed),
    }


def postgres_group_commit_floor(url: str, seconds: float, batch: int = 512) -> dict[str, float]:
    """Ballot-like rows (ballot + one item) in batches over one connection, one COMMIT each."""
    import psycopg

    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS floor_ballot_item, floor_ballot")
        db.execute(
            "CREATE TABLE floor_ballot (id BIGSERIAL PRIMARY KEY, question_id INT NOT NULL, "
            "participant_id INT NOT NULL, client_key TEXT NOT NULL, answer JSONB NOT NULL, "
            "created_at TIMESTAMPTZ NOT NULL, UNIQUE (question_id, participant_id))"
        )
        db.execute(
            "CREATE TABLE floor_ballot_item (id BIGSERIAL PRIMARY KEY, ballot_id BIGINT NOT NULL "
            "REFERENCES floor_ballot (id), question_id INT NOT NULL, key TEXT NOT NULL, "
            "value INT, UNIQUE (ballot_id, key))"
        )
        db.execute("CREATE INDEX ix_floor_item_q ON floor_ballot_item (question_id, key)")
        n = 0
        commits = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            with db.transaction():
                first = n + 1
                n += batch
                rows = [(p, f"key-{p}") for p in range(first, n + 1)]
                values = ", ".join(["(1, %s, %s, '{\"s1\": 3}', now())"] * batch)
                ballots = (
                    "INSERT INTO floor_ballot (question_id, participant_id, client_key, answer, "  # noqa: S608 - placeholders only
                    f"created_at) VALUES {values} RETURNING id"
                )
                ids = db.execute(ballots, [x for row in rows for x in row]).fetchall()
                items = (
                    "INSERT INTO floor_ballot_item (ballot_id, question_id, key, value) VALUES "  # noqa: S608 - placeholders only
                    + ", ".join(["(%s, 1, 's1', 3)"] * len(ids))
                )
                db.execute(items, [i for (i,) in ids])
            commits += 1
        elapsed = time.perf_counter() - started
        db.execute("DROP TABLE IF EXISTS floor_ballot_item, floor_ballot")
    return {
        "votes": n,
        "commits": commits,
        "seconds": round(elapsed, 3),
        "votes_per_s": round(n / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ws = sub.add_parser("ws")
    ws.add_argument("--port", type=int, required=True)
    ws.add_argument("--frame", type=Path, required=True)
    sq = sub.add_parser("sqlite")
    sq.add_argument("--db", type=Path, required=True)
    sq.add_argument("--seconds", type=float, default=3.0)
    pg = sub.add_parser("postgresql")
    pg.add_argument("--url", required=True, help="a database where it may create two tables")
    pg.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.command == "ws":
        import uvloop

        uvloop.run(_serve_ws(args.port, args.frame.read_text()))
    elif args.command == "postgresql":
        import json

        print(json.dumps(postgres_group_commit_floor(args.url, args.seconds)), flush=True)
    else:
        import json

        print(json.dumps(group_commit_floor(args.db, args.seconds)), flush=True)


if __name__ == "__main__":
    main()

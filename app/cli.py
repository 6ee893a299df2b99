"""The `stemlab` command: serve, migrate, create-user, set-password, export."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app import logs
from app.config import Settings, get_settings

if TYPE_CHECKING:
    from app.services.demo import DemoInfo

log = logging.getLogger("stemlab")


def _alembic_ini() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "alembic.ini"
        if candidate.exists():
            return candidate
    raise SystemExit("alembic.ini not found: run stemlab from the project directory")


def migrate(settings: Settings) -> None:
    """Apply every Alembic migration to the configured database."""
    from alembic import command
    from alembic.config import Config

    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(_alembic_ini()))
    config.attributes["database_url"] = settings.database_url
    command.upgrade(config, "head")


def _seed(settings: Settings) -> None:
    from app.db import Database
    from app.services.demo import ensure_demo

    db = Database(settings)
    try:
        with db.write_session() as session:
            info = ensure_demo(
                session=session, email=settings.demo_email, password=settings.demo_password
            )
    finally:
        db.dispose()
    base = settings.base_url
    if settings.log_format == "json":
        _log_start(base, info)
        return
    print("\nStemlab is starting.", flush=True)
    print(f"  Facilitator:  {base}/login", flush=True)
    if info is not None:
        if info.password:
            print(f"  Login:        {info.email}  password: {info.password}", flush=True)
            print(
                "                (shown once; `stemlab set-password EMAIL` changes it)", flush=True
            )
        else:
            print(f"  Login:        {info.email}  (password shown when it was created)", flush=True)
        code = info.presentation.join_code
        print(
            f"  Participants: {base}/  code {code[:4]} {code[4:]}  (or {base}/j/{code})", flush=True
        )
    print(flush=True)


def _log_start(base: str, info: DemoInfo | None) -> None:
    """The start banner as one log line (no password: log lines are kept and shipped)."""
    fields: dict[str, str] = {"facilitator_url": f"{base}/login"}
    if info is not None:
        fields.update(
            demo_email=info.email, participants_url=f"{base}/j/{info.presentation.join_code}"
        )
    log.info("Stemlab is starting", extra=fields)
    if info is not None and info.password:
        log.warning(
            "The demo facilitator got a random password, which JSON logs do not show: "
            "set one with `stemlab set-password %s`",
            info.email,
        )


def check_workers(settings: Settings) -> None:
    """Refuse a setup that would look fine and show stale screens."""
    if settings.workers > 1 and not settings.redis_url:
        raise SystemExit(
            f"STEMLAB_WORKERS={settings.workers} needs STEMLAB_REDIS_URL: each worker keeps its "
            "own sockets and only learns about votes and changes made in another worker "
            "through Redis. Set STEMLAB_REDIS_URL, or keep STEMLAB_WORKERS=1."
        )


def serve(settings: Settings) -> None:
    import uvicorn

    check_workers(settings)
    migrate(settings)
    if settings.seed_demo:
        _seed(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=logs.config(settings),
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # The websocket implementation every test runs on ("auto" would take wsproto instead
        # if it were installed, untested).
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        # Our sockets only listen: anything large a client sends is a mistake or an attack.
        ws_max_size=16 * 1024,
        # A socket whose phone vanished without a FIN (locked, out of range) is closed when its
        # ping goes unanswered, so it leaves the projector's count.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        # After SIGTERM: the app commits the queued votes first (app/lifecycle.py), then uvicorn
        # closes the sockets (1012) and gives open requests this long.
        timeout_graceful_shutdown=settings.shutdown_seconds,
    )


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("The passwords differ.")
    return first


def create_user(settings: Settings, args: argparse.Namespace, *, reset: bool) -> None:
    from app.db import Database
    from app.services import accounts

    password = _password(args)
    db = Database(settings)
    try:
        with db.write_session() as session:
            if reset:
                accounts.set_password(session=session, email=args.email, password=password)
            else:
                accounts.create_user(session=session, email=args.email, password=password)
    except accounts.AccountError as exc:
        raise SystemExit(exc.text("en")) from None
    finally:
        db.dispose()
    print("Password changed." if reset else f"Account {args.email} created.")


def export(settings: Settings, args: argparse.Namespace) -> None:
    """Write a presentation's votes: every vote (csv), the summary (summary) or the workbook
    (xlsx), to a file or standard output."""
    from sqlmodel import select

    from app.db import Database
    from app.models import Presentation
    from app.services.export import csv_chunks, export_rows, summary_csv_chunks, write_xlsx
    from app.services.presentations import normalise_code

    if args.format == "xlsx" and not args.output and sys.stdout.isatty():
        raise SystemExit("A workbook is binary: give --output FILE (or redirect the output).")
    db = Database(settings)
    try:
        with db.session() as session:
            key = args.presentation
            stmt = select(Presentation).where(
                (Presentation.id == int(key))
                if key.isdigit() and len(key) < 8
                else (Presentation.join_code == normalise_code(key))
            )
            presentation = session.exec(stmt).first()
            if presentation is None:
                raise SystemExit(f"No presentation {key!r} (give its number or its join code).")
            if args.format == "xlsx":
                if args.output:
                    with open(args.output, "wb") as binary:
                        write_xlsx(session, presentation, binary)
                else:
                    write_xlsx(session, presentation, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                return
            chunks = (
                summary_csv_chunks(session, presentation, excel=args.excel)
                if args.format == "summary"
                else csv_chunks(
                    export_rows(session, presentation),
                    language=presentation.language,
                    excel=args.excel,
                )
            )
            if args.output:
                with open(args.output, "w", encoding="utf-8", newline="") as out:
                    out.writelines(chunks)
            else:
                sys.stdout.writelines(chunks)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stemlab", description="Live audience polling.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="apply migrations, create the demo if empty, and serve")
    sub.add_parser("migrate", help="apply database migrations")
    for name, text in (
        ("create-user", "add a facilitator account"),
        ("set-password", "change a facilitator's password"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("email")
        p.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
    p = sub.add_parser(
        "export", help="write a presentation's votes: every vote, the summary or a workbook"
    )
    p.add_argument("presentation", help="the presentation's number or join code")
    p.add_argument(
        "-f",
        "--format",
        choices=("csv", "summary", "xlsx"),
        default="csv",
        help="csv: every vote (default); summary: a row per question and answer, per group "
        "(CSV); xlsx: a workbook with a summary sheet and a sheet per question",
    )
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument(
        "--excel",
        action="store_true",
        help="CSV in UTF-8 with BOM and ';' separators, for Excel with Dutch settings",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(settings)

    if args.command == "serve":
        serve(settings)
    elif args.command == "migrate":
        migrate(settings)
    elif args.command in ("create-user", "set-password"):
        create_user(settings, args, reset=args.command == "set-password")
    elif args.command == "export":
        export(settings, args)


if __name__ == "__main__":
    main()

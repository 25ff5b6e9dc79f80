"""The ``infoview`` command: serve, worker, migrate, openapi, create-user, import-contacts,
inbound-email."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import app.tables  # noqa: F401  every table, so that foreign keys between them resolve

if TYPE_CHECKING:
    from app.kit.config import Settings

OPENAPI_PATH = Path("openapi/openapi.json")


def _settings() -> Settings:
    from app.kit.config import ConfigError, get_settings

    try:
        return get_settings()
    except ConfigError as exc:
        sys.exit(f"infoview: configuration error: {exc}")
    except Exception as exc:  # pydantic's ValidationError wraps ConfigError
        sys.exit(f"infoview: configuration error: {exc}")


def _unmigrated(settings: Settings) -> str | None:
    """Why the database cannot be served by this code (not migrated to its head), or None.

    Serving a database whose schema is behind the code's answers 500s on the first request
    that touches what is missing; better to refuse at start-up and say what to run.
    """
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from app.kit.db import get_engine
    from app.kit.migrations import migrations_at_head

    url = make_url(settings.database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        # Connecting would create an empty file, and leave it behind.
        return f"the database {file} does not exist yet; run `infoview migrate`"
    engine = get_engine(settings)
    try:
        at_head = migrations_at_head(engine)
    except SQLAlchemyError as exc:  # unreachable, or refusing us: say why, not a traceback
        reason = getattr(exc, "orig", None) or exc
        return f"cannot check the database's schema at {url!r}: {reason}"
    finally:
        engine.dispose()
    if not at_head:
        return "the database is not migrated to this version's schema; run `infoview migrate`"
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API with uvicorn (on a database migrated to this version's schema)."""
    import uvicorn

    from app.kit.middleware import configure_logging

    settings = _settings()
    problem = _unmigrated(settings)
    if problem:
        print(f"infoview: {problem}", file=sys.stderr)
        return 1
    # uvicorn's own lines (start-up, shutdown, errors) go through the same JSON handler as
    # the request lines, instead of the plain-text handlers its default log_config installs.
    configure_logging(settings.log_level)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # No "server: uvicorn" on every answer: what runs the API is nobody else's business.
        server_header=False,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the migrations (or go to a given revision)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import OperationalError

    from app.kit.migrations import downgrade, upgrade

    settings = _settings()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A SQLite file is created if missing, and so is the directory it lives in.
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
    try:
        if args.downgrade:
            downgrade(settings.database_url, args.revision or "base")
        else:
            upgrade(settings.database_url, args.revision or "head")
    except OperationalError as exc:
        print(f"infoview: cannot migrate {url!r}: {exc.orig}", file=sys.stderr)
        return 1
    print(f"infoview: database at {args.revision or ('base' if args.downgrade else 'head')}")
    return 0


def render_openapi() -> str:
    """The app's OpenAPI document, as committed in ``openapi/openapi.json``."""
    from app.main import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write ``openapi/openapi.json``, or with ``--check`` verify that it is current."""
    path = Path(args.output)
    document = render_openapi()
    if args.check:
        if not path.exists() or path.read_text() != document:
            print(f"infoview: {path} is out of date; run `infoview openapi`", file=sys.stderr)
            return 1
        print(f"infoview: {path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)
    print(f"infoview: wrote {path}")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create an account from the command line."""
    from pydantic import ValidationError
    from sqlmodel import Session

    from app.accounts.schemas import UserCreate
    from app.accounts.service import register
    from app.kit.db import get_engine
    from app.kit.errors import AppError

    password = args.password or getpass.getpass("Password: ")
    try:
        data = UserCreate(email=args.email, password=password, full_name=args.name)
        # expire_on_commit=False: the user is printed after the session has closed.
        with Session(get_engine(_settings()), expire_on_commit=False) as session:
            user = register(session, data)
    except ValidationError as exc:
        print(f"infoview: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"infoview: {exc.detail}", file=sys.stderr)
        return 1
    print(f"infoview: created user {user.email} ({user.id})")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks and send queued letters until SIGTERM/SIGINT (a separate deployment)."""
    import signal

    # A stop asked for while starting up (imports, the migration check) is honoured as soon as
    # the loop runs, and is still a clean stop (exit 0) rather than death by signal.
    stop_requested: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop_requested.append(signum))

    import asyncio

    from app.kit.db import get_engine
    from app.kit.middleware import configure_logging
    from app.mail.sender import MailSender
    from app.webhooks.dispatcher import Dispatcher

    settings = _settings()
    configure_logging(settings.log_level)
    problem = _unmigrated(settings)
    if problem:
        print(f"infoview: {problem}", file=sys.stderr)
        return 1
    engine = get_engine(settings)
    dispatcher = Dispatcher(
        settings, engine, batch_size=args.batch_size, poll_interval=args.poll_interval
    )

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if stop_requested:
            stop.set()
        sender = MailSender(settings, engine, poll_interval=args.poll_interval)
        await asyncio.gather(dispatcher.run_forever(stop), sender.run_forever(stop))

    asyncio.run(work())
    engine.dispose()
    return 0


def cmd_inbound_email(args: argparse.Namespace) -> int:
    """Feed received emails (an ``.eml`` file, or an mbox of many) to a user's inbound address.

    Each is matched and recorded exactly as ``POST /api/v1/inbound/email/{token}`` does; an
    email already recorded counts once.
    """
    import mailbox

    from sqlmodel import Session, col, select

    from app.accounts.schemas import UserAccount
    from app.kit.db import get_engine
    from app.kit.errors import AppError
    from app.mail import inbound

    path = Path(args.file)
    if not path.is_file():
        print(f"infoview: no such file: {path}", file=sys.stderr)
        return 2
    with path.open("rb") as probe:
        is_mbox = probe.read(5) == b"From "
    raws = [m.as_bytes() for m in mailbox.mbox(str(path))] if is_mbox else [path.read_bytes()]
    engine = get_engine(_settings())
    matched = 0
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(
            select(UserAccount).where(col(UserAccount.email) == args.user.strip().lower())
        ).first()
        if user is None:
            print(f"infoview: no user with email {args.user}", file=sys.stderr)
            return 1
        for number, raw in enumerate(raws, start=1):
            try:
                result = inbound.receive(session, user.id, raw)
            except AppError as exc:
                session.rollback()
                print(f"message {number}: {exc.detail}", file=sys.stderr)
                continue
            matched += result.matched and not result.duplicate
            state = (
                "already recorded"
                if result.duplicate
                else ("recorded as a reply" if result.matched else "matches no letter or contact")
            )
            print(f"message {number}: {state}")
    print(f"infoview: {matched} of {len(raws)} recorded")
    return 0


# ``csv`` (the option's first spelling): a CSV file, its layout found from its header.
_FORMATS = {"csv": "auto"}


def cmd_import_contacts(args: argparse.Namespace) -> int:
    """Import contacts from a file of any size, with a progress bar.

    The same import as ``POST /api/v1/contacts/import`` (one transaction, the same detection of
    encoding, kind and layout; see ``app.contacts.import_files``), reading the file as it goes
    rather than holding it in memory. Messages name this command's options.
    """
    import codecs

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from sqlmodel import Session, col, select

    from app.accounts.schemas import UserAccount
    from app.contacts.import_files import FileFormat, Spelling, parse_mapping
    from app.contacts.importing import ContactImporter, OnError, import_file
    from app.kit.db import get_engine
    from app.kit.errors import AppError

    spelling = Spelling(
        charset="--encoding (e.g. --encoding windows-1252)",
        format="--format",
        mapping="--map (e.g. --map 'full_name:Contact Name')",
        skip="pass --on-error skip",
    )
    path = Path(args.file)
    if not path.is_file():
        print(f"infoview: no such file: {path}", file=sys.stderr)
        return 2
    if args.encoding is not None:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            print(f"infoview: unknown encoding {args.encoding!r}", file=sys.stderr)
            return 2
    console = Console(stderr=True)
    engine = get_engine(_settings())
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(
            select(UserAccount).where(col(UserAccount.email) == args.user.strip().lower())
        ).first()
        if user is None:
            print(f"infoview: no user with email {args.user}", file=sys.stderr)
            return 1
        progress = Progress(
            TextColumn("importing {task.fields[rows]} rows"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=console,
        )
        size = path.stat().st_size or 1
        try:
            mapping = parse_mapping(args.map or [], spelling)
            with path.open("rb") as raw, progress:
                task = progress.add_task("import", total=size, rows=0)

                def advance(importer: ContactImporter) -> None:
                    progress.update(task, completed=raw.tell(), rows=importer.rows)

                result = import_file(
                    session,
                    user.id,
                    raw,
                    charset=args.encoding,
                    fmt=FileFormat.MAPPED
                    if mapping
                    else FileFormat(_FORMATS.get(args.format, args.format)),
                    mapping=mapping,
                    on_error=OnError(args.on_error),
                    dry_run=args.dry_run,
                    source=args.source,
                    max_rows=None,
                    spelling=spelling,
                    progress=advance,
                )
                progress.update(task, completed=size)
        except AppError as exc:
            session.rollback()
            for error in exc.errors or []:
                print(f"line {error.get('line')}: {error.get('message')}", file=sys.stderr)
            print(f"infoview: {exc.detail}", file=sys.stderr)
            return 1
    for warning in result.warnings:
        where = f"line {warning.line}" if warning.line is not None else "file"
        field = f" {warning.field}:" if warning.field else ""
        print(f"{where}:{field} {warning.message} (warning)", file=sys.stderr)
    for skipped in result.errors:
        print(f"line {skipped.line}: {skipped.message} (skipped)", file=sys.stderr)
    if result.error_count > len(result.errors):
        print(f"... and {result.error_count - len(result.errors)} more", file=sys.stderr)
    counts = (
        f"{result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.skipped} skipped"
    )
    if result.flagged:
        counts += f", {result.flagged} possible duplicates (same email, another name)"
    read = f"read as {result.format}, {result.encoding}"
    if result.dry_run:
        print(f"infoview: dry run ({read}), nothing written; would be {counts}")
    else:
        print(f"infoview: {counts} ({read})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infoview", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default=None)
    migrate.add_argument("--downgrade", action="store_true", help="go down instead of up")
    migrate.set_defaults(func=cmd_migrate)

    openapi = sub.add_parser("openapi", help="write or check openapi/openapi.json")
    openapi.add_argument("--check", action="store_true")
    openapi.add_argument("--output", default=str(OPENAPI_PATH))
    openapi.set_defaults(func=cmd_openapi)

    create_user = sub.add_parser("create-user", help="create an account")
    create_user.add_argument("email")
    create_user.add_argument("--name", default=None)
    create_user.add_argument("--password", default=None, help="prompted for when omitted")
    create_user.set_defaults(func=cmd_create_user)

    worker = sub.add_parser("worker", help="deliver webhooks (without serving the API)")
    worker.add_argument("--batch-size", type=int, default=50, help="deliveries claimed per pass")
    worker.add_argument("--poll-interval", type=float, default=0.5, help="seconds between polls")
    worker.set_defaults(func=cmd_worker)
    import_contacts = sub.add_parser(
        "import-contacts", help="import contacts from a CSV or vCard file"
    )
    import_contacts.add_argument("file", help="the CSV or vCard file")
    import_contacts.add_argument("--user", required=True, help="the email of the account")
    import_contacts.add_argument(
        "--format",
        choices=[
            "auto",
            "csv",
            "infoview",
            "linkedin",
            "google",
            "google_legacy",
            "outlook",
            "vcard",
        ],
        default="auto",
        help="how to read the file (default, and csv: found from the file itself)",
    )
    import_contacts.add_argument(
        "--encoding", default=None, help="the file's encoding (default: found from the file)"
    )
    import_contacts.add_argument(
        "--map",
        action="append",
        metavar="FIELD:HEADER",
        help="for any other CSV: the column holding a field (repeat), e.g. full_name:Name",
    )
    import_contacts.add_argument(
        "--dry-run", action="store_true", help="say what would happen; write nothing"
    )
    import_contacts.add_argument(
        "--on-error",
        choices=["abort", "skip"],
        default="abort",
        help="abort: a bad row stops the import (default); skip: leave bad rows out",
    )
    import_contacts.add_argument(
        "--source", default=None, help="source of rows with an external_id but no source"
    )
    import_contacts.set_defaults(func=cmd_import_contacts)
    inbound_email = sub.add_parser(
        "inbound-email", help="record received replies from an .eml or mbox file"
    )
    inbound_email.add_argument("file", help="the .eml file, or an mbox of several")
    inbound_email.add_argument("--user", required=True, help="the email of the account")
    inbound_email.set_defaults(func=cmd_inbound_email)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``infoview`` command: serve, worker, migrate, openapi, create-user."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings

OPENAPI_PATH = Path("openapi/openapi.json")


def _settings() -> Settings:
    from app.config import ConfigError, get_settings

    try:
        return get_settings()
    except ConfigError as exc:
        sys.exit(f"infoview: configuration error: {exc}")
    except Exception as exc:  # pydantic's ValidationError wraps ConfigError
        sys.exit(f"infoview: configuration error: {exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API with uvicorn."""
    import uvicorn

    from app.api.middleware import configure_logging

    settings = _settings()
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
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the migrations (or go to a given revision)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import OperationalError

    from app.migrations_state import downgrade, upgrade

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

    from app.db import get_engine
    from app.errors import AppError
    from app.models.user import UserCreate
    from app.services.auth import register

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
    """Deliver webhooks from the outbox until SIGTERM/SIGINT (for a separate deployment)."""
    import asyncio
    import signal

    from app.api.middleware import configure_logging
    from app.db import get_engine
    from app.migrations_state import migrations_at_head
    from app.webhooks.dispatcher import Dispatcher

    settings = _settings()
    configure_logging(settings.log_level)
    engine = get_engine(settings)
    if not migrations_at_head(engine):
        print("infoview: the database is not migrated; run `infoview migrate`", file=sys.stderr)
        return 1
    dispatcher = Dispatcher(
        settings, engine, batch_size=args.batch_size, poll_interval=args.poll_interval
    )

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await dispatcher.run_forever(stop)

    asyncio.run(work())
    engine.dispose()
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

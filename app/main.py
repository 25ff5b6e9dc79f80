"""Assemble the application: settings, database, middleware, error handlers and routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from app import __version__, events, links
from app.accounts import deps
from app.accounts import export_router as exports
from app.accounts import router as auth
from app.accounts import tokens_router as tokens
from app.agenda import router as agenda
from app.calendar import router as calendar
from app.contacts import import_router as contact_imports
from app.contacts import router as contacts
from app.documents import router as documents
from app.idempotency.middleware import IdempotencyMiddleware, declare_in_openapi
from app.insights import router as insights
from app.interactions import router as interactions
from app.interviews import router as interviews
from app.kit import nul_guard, problems
from app.kit.api import API_PREFIX
from app.kit.config import Settings, get_settings
from app.kit.database import request_database
from app.kit.db import engine_for, wal_checkpointer
from app.kit.deprecations import DeprecationMiddleware, mark_deprecated_operations
from app.kit.metrics import Metrics, MetricsMiddleware
from app.kit.middleware import (
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    configure_logging,
)
from app.kit.nul_guard import NulGuardMiddleware
from app.kit.rate_limiter import make_ratelimiter
from app.kit.rate_limits import with_rate_limit_headers
from app.kit.route_index import index_routes
from app.kit.security import PasswordWork
from app.kit.uploads import FileUpload
from app.letters import drafts_router as drafts
from app.letters import router as letters
from app.letters import templates_router as templates
from app.mail import router as mail
from app.mail import sender as mail_sender
from app.network import router as network
from app.oauth import router as oauth
from app.ops import metrics_router as metrics_api
from app.ops import router as health
from app.questions import router as questions
from app.referrals import router as referrals
from app.search import router as search
from app.webhooks import dispatcher
from app.webhooks import router as webhooks

# Swagger UI's and ReDoc's scripts, styles and icon, served from the installed package: the
# documentation pages load nothing from another host.
DOCS_ASSETS = "/docs/assets"

DESCRIPTION = """\
Infoview runs a career-seeker's informational interviews end to end: contacts found through
referrals, a written request, preparation, the conversation, the thank-you, the report back to
whoever gave the lead, and staying in touch.

Every error is an RFC 9457 problem document (`application/problem+json`). Lists are
cursor-paginated. Single resources carry an `ETag`; send it back in `If-Match` to make a write
conditional.
"""


_V1_MODULES = (
    auth,
    tokens,
    contact_imports,
    contacts,
    referrals,
    interviews,
    interactions,
    drafts,
    letters,
    templates,
    documents,
    questions,
    webhooks,
    agenda,
    calendar,
    exports,
    mail,
    oauth,
    network,
    insights,
    search,
)


# Every tag the document uses, in the order /docs shows them, each with what it is for.
OPENAPI_TAGS = [
    {"name": "auth", "description": "Accounts, logging in and out, and your profile."},
    {"name": "tokens", "description": "Personal access tokens for integrations, with scopes."},
    {"name": "contacts", "description": "The people you know, their import and export."},
    {"name": "referrals", "description": "Who gave you the lead to whom."},
    {"name": "interviews", "description": "Informational interviews and their workflow."},
    {"name": "letters", "description": "Requests, thank-yous, reports and the job-ask check."},
    {"name": "mail", "description": "Sending letters by email, and replies coming back."},
    {"name": "interactions", "description": "Calls, meetings, messages and replies."},
    {"name": "documents", "description": "Your résumé and other files letters enclose."},
    {"name": "templates", "description": "Your own wording for each kind of letter."},
    {"name": "questions", "description": "Good questions to ask in an interview."},
    {"name": "agenda", "description": "What is due next."},
    {"name": "calendar", "description": "An iCalendar feed of your agenda."},
    {"name": "webhooks", "description": "Signed event subscriptions and their deliveries."},
    {"name": "export", "description": "All your data as one document, and back."},
    {
        "name": "insights",
        "description": "What your network adds up to: courtesies owed, warm paths, figures, "
        "search and field briefs.",
    },
    {"name": "apps", "description": "Apps you register to act for users through OAuth 2.0."},
    {"name": "authorizations", "description": "The apps you allowed, and withdrawing them."},
    {"name": "health", "description": "Liveness, readiness and metrics."},
]

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Allocations between two runs of the garbage collector's youngest generation (Python's
# default is 700); see the lifespan below.
YOUNG_GENERATION = 20_000
# FastAPI's OpenTelemetry, unless INFOVIEW_OPENTELEMETRY asks for it: no span, metric or log
# record, and no question to the global providers on every request.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _document(router: APIRouter) -> None:
    """Finish each operation's documentation before the app serves the router's routes.

    The summary is the first line of the endpoint's docstring, which reads better in generated
    SDKs and in /docs than a title made from the function name. Problems that central
    machinery can give are declared here rather than in every route: 403 where a personal
    access token may lack a scope, 429 on writes (rate-limited per user), 415 where a body is
    taken (its charset outside the allow-list).
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        if not route.summary and route.endpoint.__doc__:
            route.summary = route.endpoint.__doc__.strip().splitlines()[0].rstrip(".")
        authenticated = "401" in {str(code) for code in route.responses}
        extra = []
        if authenticated and "auth" not in route.tags:
            extra.append(403)
        if authenticated and (route.methods or set()) & _WRITE_METHODS:
            extra.append(429)
        if route.body_field is not None:
            extra.append(415)  # a charset outside the allow-list (``kit/nul_guard.py``)
        if not {"health", "metrics"} & set(route.tags):
            extra.append(503)  # the database busy or unreachable: every operation reads it
        declared = problems.problem_references(*extra)
        if 429 in declared:
            declared = with_rate_limit_headers(declared)
        if 503 in declared:
            declared[503] = problems.DATABASE_UNAVAILABLE
        for status, spec in declared.items():
            if status not in route.responses and str(status) not in route.responses:
                route.responses[status] = spec


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI application for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    # Requests reach the database through the asynchronous engine; the blocking one serves the
    # work that runs in threads (imports, the calendar feed, webhook delivery, metrics).
    engine = engine_for(settings)
    db = request_database(settings)
    ratelimiter = make_ratelimiter(settings)
    metrics = Metrics(engine, pool_of=db.sync_engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (modules, models, routes, compiled schemas) lives as long as
        # the process: moved out of the collector's sight, it is no longer walked by every
        # full collection, which otherwise stalls requests for tens of milliseconds.
        gc.collect()
        gc.freeze()
        # What a request allocates is freed by reference counting the moment it is done with:
        # under load, the collector's youngest generation, run every 700 allocations, found
        # nothing to free in any of its runs, and cost 5 % of a GET's CPU walking the objects
        # of the requests still in flight. It now runs every YOUNG_GENERATION allocations.
        threshold = gc.get_threshold()
        gc.set_threshold(YOUNG_GENERATION, *threshold[1:])
        checkpointer = wal_checkpointer(engine, db.sync_engine)
        if checkpointer is not None:
            checkpointer.start()
        try:
            if settings.run_dispatcher:
                async with (
                    dispatcher.running(dispatcher.Dispatcher(settings, engine)),
                    mail_sender.running(mail_sender.MailSender(settings, engine)),
                ):
                    yield
            else:
                yield
        finally:
            gc.set_threshold(*threshold)
            if checkpointer is not None:
                checkpointer.stop()
            await ratelimiter.close()
            engine.dispose()
            await db.dispose()

    app = FastAPIOffline(
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
        static_url=DOCS_ASSETS,
        title="Infoview",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        separate_input_output_schemas=False,
        servers=[{"url": "/", "description": "The server this document came from."}],
        openapi_tags=OPENAPI_TAGS,
        contact={"name": "Infoview maintainers", "url": "https://infoview.dev"},
        license_info={"name": "Proprietary", "url": "https://infoview.dev/terms"},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db = db
    app.state.ratelimiter = ratelimiter
    app.state.password_work = PasswordWork()
    app.state.metrics = metrics
    problems.install(app)
    mark_deprecated_operations(
        [health.router, metrics_api.router, *(module.router for module in _V1_MODULES)]
    )
    # The routers' routes are served as declared, each with its full path (the domains'
    # routers carry API_PREFIX): one flat table, which the app's router tries in order at a
    # regular expression each. An included router would be a node of its own, tried route by
    # route and then matched again once chosen, costing several times as much per request.
    for router in (health.router, metrics_api.router, *(m.router for m in _V1_MODULES)):
        _document(router)
        app.router.routes.extend(router.routes)
    app.router.routes.extend(oauth.protocol.routes)
    # In front of the table, an index that tries only the routes a path can match (see
    # kit/route_index.py). FastAPI's telemetry names a request's span by the route the table
    # chose, which the index would hide; with telemetry on, the table is searched as it is.
    index = None if settings.opentelemetry else index_routes(app.router.routes)
    if index is not None:
        app.router.routes.insert(0, index)
    app.state.file_uploads = {
        API_PREFIX + contact_imports.PATH: FileUpload(
            settings.max_upload_bytes, contact_imports.TOO_LARGE_ADVICE
        ),
        API_PREFIX + documents.PATH: FileUpload(
            documents.upload_limit(settings), documents.TOO_LARGE_ADVICE
        ),
    }
    # Inside the request-context middleware: it sees a request id and a body already bounded.
    app.add_middleware(IdempotencyMiddleware, settings=settings, database=db)
    # Outside idempotency, so a replayed answer announces a deprecation as the first did.
    app.add_middleware(DeprecationMiddleware)
    # Between the two: the body is already read and bounded. Before routing and authentication:
    # a charset outside the allow-list, JSON nested too deep, or a NUL goes no further.
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(
        RequestContextMiddleware, database=db, max_body_bytes=settings.max_body_bytes
    )
    # Around everything the app answers, the 413 above included.
    app.add_middleware(SecurityHeadersMiddleware)
    # Added last, so outermost: it also counts the 413s the middleware above answers.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    declare_in_openapi(app)
    problems.declare_in_openapi(app)
    contact_imports.declare_in_openapi(app)
    documents.declare_in_openapi(app)
    deps.declare_in_openapi(app)
    oauth.declare_in_openapi(app)
    events.declare_in_openapi(app)
    links.declare_in_openapi(app)
    nul_guard.declare_in_openapi(app)  # last: it reads every schema the others added
    _check_operation_ids(app)
    return app


def _check_operation_ids(app: FastAPI) -> None:
    """Every operation has an explicit, unique ``operationId``: SDK method names depend on it."""
    seen: set[str] = set()
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        operation_id = route.operation_id
        if not operation_id:
            raise RuntimeError(f"route {route.path} has no operation_id")
        if operation_id in seen:
            raise RuntimeError(f"duplicate operation_id {operation_id}")
        seen.add(operation_id)

"""The ASGI application: GraphQL at /graphql behind Bearer-key auth, GraphiQL, /healthz, and
the background workers (batches, webhooks) for the lifetime of the app.

Only the GraphiQL page (`GET /graphql` asking for HTML) and `/healthz` are open; every other
HTTP request to /graphql needs `Authorization: Bearer <key>` or gets 401 before any GraphQL
work is done. WebSocket subscriptions (graphql-transport-ws) carry the key in the
`connection_init` payload, as browsers cannot set WebSocket headers; a missing or wrong key
closes the socket with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from contactql.assets import REVALIDATE, HashedStaticFiles, with_hashes
from contactql.auth import FormsCORS, KeyCache
from contactql.compression import Compressed
from contactql.config import ConfigError, Settings, load_settings
from contactql.context import Services
from contactql.downloads import ExportDownload
from contactql.health import Readiness, healthz
from contactql.limits import JSON_BODY_LIMIT, BodyLimit, FormLimits, TokenBuckets
from contactql.links import Links
from contactql.metrics import MetricsEndpoint, RequestMetrics
from contactql.observe import RequestIds
from contactql.persisted import TrustedDocuments
from contactql.refusals import (
    SEND_JSON,
    http_refusal,
    refusal,
    unauthenticated,
    wrong_origin,
)
from contactql.runtime import Helper
from contactql.store.batches.queue import BatchRow
from contactql.store.db.database import Database
from contactql.store.upsert.writer import UpsertWriter
from contactql.store.workspace.bulk_jobs import BulkJobRow
from contactql.store.workspace.exports import ExportRow
from contactql.supervise import Clock, utc_now
from contactql.tracing import tracing
from contactql.view import PRINCIPAL, GraphQLView
from contactql.workers.batches import BatchWorker, ProgressHub
from contactql.workers.bulk import BulkWorker
from contactql.workers.exports import ExportWorker
from contactql.workers.housekeeping import Housekeeper
from contactql.workers.webhooks import WebhookSender

log = logging.getLogger("contactql")

PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
# The GraphiQL page loads nothing from anywhere but this server (scripts/vendor-graphiql).
GRAPHIQL_HEADERS = {
    "Content-Security-Policy": "; ".join((
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # CodeMirror and GraphiQL set inline styles
        "font-src 'self' data:",  # GraphiQL's CSS embeds its fonts
        "img-src 'self' data:",
        "connect-src 'self'",  # same-origin HTTP and WebSocket
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": REVALIDATE,  # the page names its files by content hash (assets.py): never stale
}  # fmt: skip

STOP_SECONDS = 10.0  # for the batch worker and the webhook sender to stop at shutdown


def _wants_graphiql(scope: Scope) -> bool:
    request = Request(scope)
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "query" not in request.query_params and "text/html" in accept


class AuthenticatedGraphQL:
    """Resolves the caller's key before Strawberry sees an HTTP request."""

    def __init__(self, view: GraphQLView, graphiql: bool) -> None:
        self.view = view
        # A new Response each time: the layers outside (compression, CORS, request ids) change
        # the headers of the answer they are given, and a shared one would keep their changes.
        page = with_hashes((PACKAGE / "graphiql.html").read_text(), STATIC)
        self.page: Callable[[], Response] = (
            functools.partial(HTMLResponse, page, headers=GRAPHIQL_HEADERS)
            if graphiql
            else functools.partial(refusal, 404, f"GraphiQL is turned off on this server (CONTACTQL_GRAPHIQL=false); {SEND_JSON}", code="NOT_FOUND")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _wants_graphiql(scope):
            await self.page()(scope, receive, send)
            return
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            raw = headers.get(b"authorization")
            principal = await self.view.keys.principal(raw.decode("latin-1") if raw else None)
            if principal is None:
                await unauthenticated()(scope, receive, send)
                return
            origin = next((value for name, value in scope["headers"] if name == b"origin"), None)  # the first, as CORS reads it
            if not principal.may_call_from(origin.decode("latin-1") if origin else None):
                await wrong_origin(origin.decode("latin-1") if origin else None)(scope, receive, send)
                return
            scope[PRINCIPAL] = principal
        await self.view(scope, receive, send)


async def home(request: Request) -> Response:
    """`GET /`: a browser goes to GraphiQL; anything else is told where things are."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/graphql", status_code=307)
    return JSONResponse({"graphql": "/graphql", "health": "/healthz", "ready": "/readyz", "metrics": "/metrics", "message": "ContactQL: send GraphQL to POST /graphql; open /graphql in a browser for GraphiQL"})


def trusted_documents(settings: Settings) -> TrustedDocuments | None:
    if settings.trusted_documents is None:
        return None
    try:
        return TrustedDocuments.load(settings.trusted_documents)
    except ValueError as error:
        raise ConfigError(f"CONTACTQL_TRUSTED_DOCUMENTS: {error}") from None


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> Starlette:
    """The ASGI app; `clock` is the time the background loops schedule by (tests move it)."""
    settings = settings or load_settings()
    db = Database(settings)
    progress: ProgressHub[BatchRow] = ProgressHub()
    sender = WebhookSender(db, settings, clock)
    worker = BatchWorker(db, settings, progress, on_finished=sender.wake)
    export_progress: ProgressHub[ExportRow] = ProgressHub()
    exporter = ExportWorker(db, settings, export_progress, clock)
    bulk_progress: ProgressHub[BulkJobRow] = ProgressHub()
    bulk = BulkWorker(db, settings, bulk_progress, clock, on_finished=sender.wake)
    housekeeper = Housekeeper(db, clock, retention_days=settings.retention_days)
    services = Services(
        settings=settings, db=db, writer=UpsertWriter(db), helper=Helper(settings.helper_processes), progress=progress, wake_batches=worker.wake,
        export_progress=export_progress, wake_exports=exporter.wake, bulk_progress=bulk_progress, wake_bulk=bulk.wake, trusted=trusted_documents(settings),
        form_limits=FormLimits(settings.form_rate_limit_per_minute, settings.form_key_rate_limit_per_minute),
    )  # fmt: skip
    traced = tracing(settings.tracing)
    view = GraphQLView(services, KeyCache(db, ttl=settings.key_cache_seconds), TokenBuckets(settings.rate_limit_per_minute), traced)

    readiness = Readiness(db, workers=settings.workers)
    links = Links(db, clock, TokenBuckets(settings.form_rate_limit_per_minute))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.migrate()
        tasks = []
        if settings.workers:
            tasks = [
                asyncio.create_task(worker.run(), name="batch-worker"),
                asyncio.create_task(sender.run(), name="webhook-sender"),
                asyncio.create_task(exporter.run(), name="export-worker"),
                asyncio.create_task(bulk.run(), name="bulk-worker"),
                asyncio.create_task(housekeeper.run(), name="housekeeping"),
            ]
        readiness.loops = tasks
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                # Bounded: a loop that ignored its cancellation must not keep the server up.
                _stopped, stuck = await asyncio.wait(tasks, timeout=STOP_SECONDS)
                for task in stuck:
                    log.error("%s did not stop within %g s; shutting down without it", task.get_name(), STOP_SECONDS)
            await services.writer.close()
            await asyncio.to_thread(services.helper.close)
            await view.keys.close()
            await db.dispose()
            if traced:
                await asyncio.to_thread(traced.shutdown)

    graphql = AuthenticatedGraphQL(view, settings.graphiql)
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness.readyz, methods=["GET"]),
        Route("/metrics", MetricsEndpoint(db, settings.metrics_token).serve, methods=["GET"]),
        Route("/graphql", Compressed(graphql, varies=True)),  # every method: the view refuses the others as GraphQL over HTTP does
        WebSocketRoute("/graphql", graphql),
        Route("/exports/{id}", ExportDownload(db, view.keys, view.rate_limit).serve, methods=["GET"]),
        Route("/confirm", links.confirm, methods=["GET"]),
        Route("/unsubscribe", links.unsubscribe, methods=["GET", "POST"]),
    ]
    if settings.graphiql:
        routes.append(Mount("/graphiql", app=Compressed(HashedStaticFiles(STATIC)), name="graphiql"))
    middleware = [Middleware(BodyLimit, json_limit=JSON_BODY_LIMIT, upload_limit=settings.max_import_mb * 1024 * 1024)]
    # Outermost, so that refusals (401, 413, 429) carry the headers a browser needs to read them.
    # Always: the forms of publishable keys are on origins that no setting lists.
    cors = Middleware(
        FormsCORS,
        forms=view.forms,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=list(settings.cors_allow_headers),
        expose_headers=list(settings.cors_expose_headers),
        max_age=600,
    )
    middleware.insert(0, cors)
    # Outermost of all: preflights and refusals are named and counted too, and CORS exposes the name.
    middleware[:0] = [Middleware(RequestIds), Middleware(RequestMetrics)]
    if traced:
        middleware.insert(0, Middleware(traced.middleware))  # the server span covers the whole request
    if settings.trusted_proxies:  # first of all: every layer sees the client, not the proxy
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies)))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={StarletteHTTPException: http_refusal})
    app.state.services = services
    app.state.batch_worker = worker
    app.state.webhook_sender = sender
    app.state.export_worker = exporter
    app.state.bulk_worker = bulk
    app.state.housekeeper = housekeeper
    app.state.readiness = readiness
    return app

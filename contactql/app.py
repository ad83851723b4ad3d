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
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException, parse_content_type
from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from contactql.assets import REVALIDATE, HashedStaticFiles, with_hashes
from contactql.auth import FormOrigins, FormsCORS, KeyCache
from contactql.compression import Compressed
from contactql.config import ConfigError, Settings, load_settings
from contactql.context import Context, Loaders, Services
from contactql.downloads import ExportDownload
from contactql.health import Readiness, healthz
from contactql.limits import JSON_BODY_LIMIT, BodyLimit, TokenBuckets
from contactql.metrics import MetricsEndpoint, RequestMetrics
from contactql.observe import RequestIds
from contactql.persisted import DOCUMENT_ID, NOT_FOUND, NOT_FOUND_CODE, PersistedQueries, PersistedQueryError, TrustedDocuments, with_document_id
from contactql.refusals import (
    GRAPHQL_RESPONSE_JSON,
    MULTIPART_ONLY_IMPORTS,
    NO_BATCHING,
    NOT_AN_OBJECT,
    NOT_JSON,
    SEND_GET,
    SEND_JSON,
    UNSUPPORTED_TYPE,
    http_refusal,
    instead,
    refusal,
    response_media_type,
    unauthenticated,
    wrong_origin,
    wrong_transport,
)
from contactql.runtime import Helper
from contactql.schema.hardening import with_code
from contactql.schema.root import build_schema
from contactql.store.batches.queue import BatchRow
from contactql.store.db.database import Database
from contactql.store.model import Scope as KeyScope
from contactql.store.upsert.writer import UpsertWriter
from contactql.store.workspace.exports import ExportRow
from contactql.store.workspace.keys import Principal
from contactql.streams import NotStreamable, accepts_json, stream_operation, watch_key
from contactql.supervise import Clock, utc_now
from contactql.tracing import Tracing, tracing
from contactql.websocket import KeyedTransportWS
from contactql.workers.batches import BatchWorker, ProgressHub
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

PRINCIPAL = "contactql.principal"
RESPONSE_MEDIA = "contactql.response_media"
REQUEST_ERROR = "contactql.request_error"
STOP_SECONDS = 10.0  # for the batch worker and the webhook sender to stop at shutdown
# A WebSocket's context before its connection_init names a key: sees no workspace.
NOBODY = Principal(workspace_id=-1, workspace_name="", key_id=-1, key_name="", scope=KeyScope.READ)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeyedTransportWS

    def __init__(self, services: Services, keys: KeyCache, rate_limit: TokenBuckets, traced: Tracing | None = None) -> None:
        settings = services.settings
        self.persisted = PersistedQueries(services.db)
        super().__init__(
            build_schema(
                introspection=settings.schema_is_shown, trusted=settings.trusted_documents is not None, traced=traced.extension() if traced else None
            ),
            graphql_ide=None,  # ContactQL serves its own, offline page (AuthenticatedGraphQL)
            allow_queries_via_get=True,  # GraphQL over HTTP; urql's default for queries
            # WebSocket, and over HTTP Apollo's multipart subscriptions and graphql-sse's
            # distinct connections, for clients and proxies where a WebSocket cannot go.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            multipart_uploads_enabled=True,
            # Browsers send no CORS preflight for a WebSocket: the handshake's Origin is
            # checked against the same list as HTTP's CORS (same-origin pages always pass).
            allowed_origins=settings.cors_origins,
        )
        self.services = services
        self.keys = keys
        self.rate_limit = rate_limit
        self.forms = FormOrigins(services.db, ttl=keys.ttl)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if any(name == b"origin" for name, _ in scope.get("headers", ())):
                await self.forms.refresh()  # for is_websocket_origin_allowed, which cannot wait
            await super().__call__(scope, receive, send)
            return
        # As strawberry.asgi.GraphQL, but closing the request (that closes uploaded files) and
        # answering in application/graphql-response+json to clients that ask for it.
        request = Request(scope=scope, receive=receive)
        scope[RESPONSE_MEDIA] = response_media_type(request.headers.get("accept", ""))
        try:
            try:
                response = await self.run(request)
            except HTTPException as error:
                status, message = instead(error)
                response = refusal(status, message, media=scope[RESPONSE_MEDIA])
            # Every answer under the operator's rule; a stream (multipart, SSE) also says
            # `no-transform`, as Strawberry's SSE did: no proxy may buffer or re-encode it.
            streamed = isinstance(response, StreamingResponse)
            response.headers["cache-control"] = self.services.settings.cache_control + (", no-transform" if streamed else "")
            response.headers["vary"] = "Accept-Encoding"  # compressed or not (Compressed, varies=True)
            if scope[RESPONSE_MEDIA] == GRAPHQL_RESPONSE_JSON and response.media_type == "application/json":
                response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
                if scope.get(REQUEST_ERROR) and response.status_code == 200:
                    # GraphQL over HTTP: a request that never reached execution is a 400.
                    response.status_code = 400
            await response(scope, receive, send)
        finally:
            await request.close()

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        # Uploads exist for importContacts only: refuse any other multipart operation.
        data = await super().parse_multipart(request)
        if not isinstance(data, dict) or not _only_imports(data.get("query"), data.get("operationName")):
            raise HTTPException(400, MULTIPART_ONLY_IMPORTS)
        return data

    async def parse_http_body(self, request: Any) -> Any:
        # Strawberry takes any type that contains "application/json" (application/jsonx…).
        media, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and media not in {"application/json", "multipart/form-data"}:
            raise HTTPException(415, UNSUPPORTED_TYPE)
        return await super().parse_http_body(request)

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        # CONTACTQL_CORS_ORIGINS, and the forms' origins; connection_init's key decides then.
        return super().is_websocket_origin_allowed(request, origin) or origin.lower() in self.forms.current

    def should_render_graphql_ide(self, request: Any) -> bool:
        return False  # AuthenticatedGraphQL serves the page; a GET that reaches here is an operation

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        # GET /graphql?query=…&variables=…: as Strawberry's, but an empty parameter is absent and
        # one that is not a JSON object is refused naming it (Strawberry's message says "body").
        data = dict(params)
        for name in ("variables", "extensions"):
            if not data.get(name):
                data[name] = None
                continue
            try:
                data[name] = self.decode_json(data[name])
            except (orjson.JSONDecodeError, UnicodeDecodeError):
                raise HTTPException(400, f"the {name} parameter is not valid JSON: {SEND_GET}") from None
            if not isinstance(data[name], dict):
                raise HTTPException(400, f"the {name} parameter must be a JSON object: {SEND_GET}")
        return with_document_id(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, NOT_JSON) from None
        if isinstance(parsed, list):
            raise HTTPException(400, NO_BATCHING)
        if not isinstance(parsed, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        return with_document_id(parsed)

    async def execute_single(  # noqa: PLR0917 - Strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: Any,
    ) -> ExecutionResult:
        # As Strawberry's, but for the operations allowed: queries and mutations by POST, queries
        # only by GET (GraphQL over HTTP: a GET must not change anything); a subscription only
        # as a stream (execute_operation), never as one JSON answer.
        allowed = {StrawberryOperation.QUERY, StrawberryOperation.MUTATION} if request_adapter.method == "POST" else {StrawberryOperation.QUERY}
        try:
            query = await self._document(context, request_data)
        except PersistedQueryError as error:
            return _refused(error)
        try:
            result = await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            raise HTTPException(405 if request_adapter.method == "GET" else 400, wrong_transport(error.operation_type, request_adapter.method)) from None
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason() + " (name it with operationName)") from None
        except MissingQueryError:
            raise HTTPException(400, f"the request has no query: {SEND_JSON}") from None
        if not _is_request_error(result):  # parsed, valid, within the rate limit: worth keeping
            await self._remember(context, query, request_data.extensions)
        return result

    async def execute_operation(  # noqa: PLR0917 - Strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: None,
        sub_response: Any,
    ) -> Any:
        # A subscription over HTTP (multipart, Apollo's; or graphql-sse) streams from here, past
        # execute_single: its document, named by hash or id, is resolved here as there.
        if isinstance(request_data, GraphQLRequestData) and self._get_stream_transport(request_data.protocol):
            try:
                query = await self._document(context, request_data)
            except PersistedQueryError as error:
                return _refused(error)
            # Strawberry streams whatever comes with a stream type anywhere in Accept, and urql
            # and graphql-http list text/event-stream and multipart/mixed after JSON on every
            # request: only a subscription streams when the client takes JSON too. A document
            # that cannot stream is refused here, before a 200 goes out; a client that takes JSON
            # gets the plain path's answer instead.
            takes_json = accepts_json(request.headers.get("accept", ""))
            try:
                kind = stream_operation(query, request_data.operation_name) if isinstance(query, str) and query else None
            except NotStreamable as error:
                if not takes_json:
                    raise HTTPException(400, str(error)) from None
                kind = None
            if kind is None and not takes_json and not query:
                raise HTTPException(400, f"the request has no query: {SEND_JSON}")
            streams = kind is OperationType.SUBSCRIPTION or (kind is not None and not takes_json)
            if streams:
                await self._remember(context, query, request_data.extensions)
            request_data = dataclasses.replace(request_data, query=query, protocol=request_data.protocol if streams else "http")
        return await super().execute_operation(request, request_adapter, request_data, context, root_value, sub_response)

    async def _document(self, context: Context, request_data: GraphQLRequestData) -> str | None:
        """The document a request runs: sent, or named by a trusted id or a persisted hash."""
        trusted = self.services.trusted
        if trusted is not None:
            return trusted.document((request_data.extensions or {}).get(DOCUMENT_ID), request_data.query, request_data.extensions)
        if context.principal.is_publishable and not request_data.query:
            # Not the workspace's store: a public key could learn which documents it has run.
            raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE)
        return await self.persisted.document(context.workspace_id, request_data.query, request_data.extensions)

    async def _remember(self, context: Context, query: str | None, extensions: Any) -> None:
        """Keep a document sent with its hash, once it ran (trusted documents keep nothing)."""
        if self.services.trusted is None and not context.principal.is_publishable:
            await self.persisted.remember(context.workspace_id, query, extensions)

    async def create_streaming_response(self, request: Any, stream: Callable[[], AsyncIterator[str]], sub_response: Any, headers: Mapping[str, str]) -> Response:
        # The key of a long stream is checked again as on a WebSocket: once
        # CONTACTQL_KEY_CACHE_SECONDS have passed, a revoked key's stream ends at its next chunk
        # (heartbeats come every 5 s, multipart, or 15 s, SSE) with a FORBIDDEN error.
        header = request.headers.get("authorization")
        key_id = request.scope[PRINCIPAL].key_id

        async def revoked() -> bool:
            try:
                principal = await self.keys.principal(header, fresh=True)
            except Exception:  # a database hiccup must not end a valid stream; try again later
                log.warning("re-checking a stream's key failed", exc_info=True)
                return False
            return principal is None or principal.key_id != key_id

        transport = self._get_stream_transport_from_headers(request.headers)
        watched = watch_key(stream, revoked, max(1.0, self.keys.ttl), transport, self.encode_json_string)
        return await super().create_streaming_response(request, watched, sub_response, headers)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = request.scope.get(PRINCIPAL, NOBODY)
        http = request.scope["type"] == "http"
        return Context(
            services=self.services,
            principal=principal,
            loaders=Loaders(self.services.db, principal.workspace_id),
            response=response if http else None,
            rate_limit=self.rate_limit if http else None,
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # A parse error raised inside ParserCache escapes the extensions: give it its code here.
        for error in result.errors or ():
            with_code(error)
        processed = await super().process_result(request, result)
        if request.scope.get(RESPONSE_MEDIA) == GRAPHQL_RESPONSE_JSON and _is_request_error(result):
            # Parse, validation and variable errors: no `data` entry at all, not `"data": null`.
            request.scope[REQUEST_ERROR] = True
            processed.pop("data", None)
        return processed

    def decode_json(self, data: str | bytes) -> object:
        # orjson: a 1 000-contact document parses in a third of json.loads's time. Stricter
        # where it matters: a lone surrogate (which no database column can store) is a 400.
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # A str: Strawberry sends bytes over a WebSocket as a binary frame, which GraphiQL ignores.
        return orjson.dumps(data).decode()


def _is_request_error(result: ExecutionResult) -> bool:
    """Errors raised before execution began carry no path; field errors always do."""
    return result.data is None and bool(result.errors) and all(error.path is None for error in result.errors or ())


def _only_imports(query: object, operation_name: object) -> bool:
    if not isinstance(query, str):
        return False
    try:
        operation = get_operation_ast(parse(query), operation_name if isinstance(operation_name, str) else None)
    except GraphQLError:
        return False
    return (
        operation is not None
        and operation.operation == OperationType.MUTATION
        and all(isinstance(s, FieldNode) and s.name.value == "importContacts" for s in operation.selection_set.selections)
    )


def _refused(error: PersistedQueryError) -> ExecutionResult:
    # Apollo's clients look for the message or the code, and send the document then.
    return ExecutionResult(data=None, errors=[GraphQLError(str(error), extensions={"code": error.code})])


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
    housekeeper = Housekeeper(db, clock)
    services = Services(
        settings=settings, db=db, writer=UpsertWriter(db), helper=Helper(settings.helper_processes), progress=progress, wake_batches=worker.wake,
        export_progress=export_progress, wake_exports=exporter.wake, trusted=trusted_documents(settings),
    )  # fmt: skip
    traced = tracing(settings.tracing)
    view = GraphQLView(services, KeyCache(db, ttl=settings.key_cache_seconds), TokenBuckets(settings.rate_limit_per_minute), traced)

    readiness = Readiness(db, workers=settings.workers)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.migrate()
        tasks = []
        if settings.workers:
            tasks = [
                asyncio.create_task(worker.run(), name="batch-worker"),
                asyncio.create_task(sender.run(), name="webhook-sender"),
                asyncio.create_task(exporter.run(), name="export-worker"),
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
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={StarletteHTTPException: http_refusal})
    app.state.services = services
    app.state.batch_worker = worker
    app.state.webhook_sender = sender
    app.state.export_worker = exporter
    app.state.housekeeper = housekeeper
    app.state.readiness = readiness
    return app

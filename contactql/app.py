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
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
from cross_web import HTTPException, parse_content_type
from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, Message, SubscribeMessage
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from contactql.auth import KeyCache
from contactql.config import Settings, load_settings
from contactql.context import Context, Loaders, Services
from contactql.limits import JSON_BODY_LIMIT, BodyLimit, TokenBuckets
from contactql.runtime import Helper
from contactql.schema import build_schema
from contactql.schema.hardening import with_code
from contactql.store.db.database import Database
from contactql.store.model import Scope as KeyScope
from contactql.store.upsert.writer import UpsertWriter
from contactql.store.workspace.keys import Principal
from contactql.supervise import Clock, utc_now
from contactql.workers.batches import BatchWorker, ProgressHub
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
}  # fmt: skip

PRINCIPAL = "contactql.principal"
RESPONSE_MEDIA = "contactql.response_media"
REQUEST_ERROR = "contactql.request_error"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
STOP_SECONDS = 10.0  # for the batch worker and the webhook sender to stop at shutdown
# A WebSocket's context before its connection_init names a key: sees no workspace.
NOBODY = Principal(workspace_id=-1, workspace_name="", key_id=-1, key_name="", scope=KeyScope.READ)


class KeyedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose connection_init must carry `{"Authorization": "Bearer <key>"}`.

    The key is checked again before every operation (through the key cache, so at most
    CONTACTQL_KEY_CACHE_SECONDS late) and, while the socket is open, every that many seconds
    (at least 1) against the database: a revoked key's socket is closed with 4403. Every
    operation is costed and charged to the key's bucket, as over HTTP (limits.RateLimit)."""

    view: GraphQLView
    _header: str | None = None
    _watcher: asyncio.Task[None] | None = None

    async def handle_message(self, message: Any) -> None:
        # Strawberry indexes the message: JSON that is not an object (42, null) broke the socket.
        if not isinstance(message, dict):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        await super().handle_message(cast("Message", message))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        header = payload.get("Authorization") if isinstance(payload, dict) else None
        self._header = header if isinstance(header, str) else None
        principal = await self.view.keys.principal(self._header)
        if principal is None:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        self.context.principal = principal
        self.context.loaders = Loaders(self.context.services.db, principal.workspace_id)
        self.context.rate_limit = self.view.rate_limit
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_key(), name="contactql-ws-key")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not isinstance(message.get("id"), str):
            await self.handle_invalid_message("a subscribe message needs an id and a payload with a query")
            return
        if self.connection_acknowledged:
            if not await self._key_still_valid(fresh=False):
                return
            # A loader's cache must not outlive its operation: a socket runs many.
            self.context.loaders = Loaders(self.context.services.db, self.context.principal.workspace_id)
        await super().handle_subscribe(message)

    async def _key_still_valid(self, *, fresh: bool) -> bool:
        principal = await self.view.keys.principal(self._header, fresh=fresh)
        if principal is None or principal.key_id != self.context.principal.key_id:
            await self.websocket.close(code=4403, reason="Forbidden: the API key was revoked")
            return False
        return True

    async def _watch_key(self) -> None:
        interval = max(1.0, self.view.keys.ttl)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._key_still_valid(fresh=True):
                    return
            except Exception:  # a database hiccup must not close a valid socket; try again
                log.warning("re-checking a WebSocket's key failed", exc_info=True)

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await super().shutdown()


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeyedTransportWS

    def __init__(self, services: Services, keys: KeyCache, rate_limit: TokenBuckets) -> None:
        settings = services.settings
        super().__init__(
            build_schema(introspection=settings.graphiql),
            graphql_ide=None,  # ContactQL serves its own, offline page (AuthenticatedGraphQL)
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=True,
            # Browsers send no CORS preflight for a WebSocket: the handshake's Origin is
            # checked against the same list as HTTP's CORS (same-origin pages always pass).
            allowed_origins=settings.cors_origins,
        )
        self.services = services
        self.keys = keys
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
                status, message = _instead(error)
                response = refusal(status, message, media=scope[RESPONSE_MEDIA])
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

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, NOT_JSON) from None
        if isinstance(parsed, list):
            raise HTTPException(400, NO_BATCHING)
        if not isinstance(parsed, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        return parsed

    async def execute_single(  # noqa: PLR0917 - Strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: Any,
    ) -> ExecutionResult:
        # As Strawberry's, but for the operations allowed: queries and mutations by POST; no
        # subscription over HTTP (Strawberry would run one by POST and fail), nothing by GET.
        allowed = {StrawberryOperation.QUERY, StrawberryOperation.MUTATION} if request_adapter.method == "POST" else set()
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            raise HTTPException(405 if request_adapter.method == "GET" else 400, _wrong_transport(error.operation_type, request_adapter.method)) from None
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason() + " (name it with operationName)") from None
        except MissingQueryError:
            raise HTTPException(400, f"the request has no query: {SEND_JSON}") from None

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


def response_media_type(accept: str) -> str:
    """application/graphql-response+json when the client names it and ranks it at least as
    high as JSON; else application/json (also for no Accept, */* and application/*).
    Written here: Starlette has no content negotiation, and this one choice between two media
    types needs only the q-values, not a negotiation library."""
    named: dict[str, float] = {}
    for part in accept.lower().split(","):
        media, _, params = part.partition(";")
        named[media.strip()] = max(named.get(media.strip(), 0.0), _quality(params))
    wanted = named.get(GRAPHQL_RESPONSE_JSON, 0.0)
    plain = named.get("application/json", max(named.get("application/*", 0.0), named.get("*/*", 0.0)))
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= plain else "application/json"


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


# What a refused request should have been (GraphQL over HTTP answers, not plain text).
SEND_JSON = 'send POST /graphql with Content-Type: application/json and a body such as {"query": "{ workspace { name } }", "variables": {}}'
NOT_JSON = f"the body is not valid JSON (UTF-8): {SEND_JSON}"
NOT_AN_OBJECT = f"the body must be a JSON object: {SEND_JSON}"
NO_BATCHING = "batched operations (a JSON array) are not accepted: send one operation per request, as a JSON object"
MULTIPART_ONLY_IMPORTS = f"multipart/form-data is accepted for importContacts uploads only; for any other operation, {SEND_JSON}"
UNSUPPORTED_TYPE = f"unsupported Content-Type: {SEND_JSON} (multipart/form-data for importContacts uploads)"
# Strawberry's reasons, by what they are about, said with what to send instead.
_INSTEAD = {
    "Unsupported content type": (415, UNSUPPORTED_TYPE),
    "Unable to parse request body as JSON": (400, NOT_JSON),
    "Batching is not enabled": (400, NO_BATCHING),
    "No GraphQL query found in the request": (400, f"the request has no query: {SEND_JSON}"),
    "GraphQL only supports GET and POST requests.": (405, f"this method is not accepted: {SEND_JSON}"),
}


def _instead(error: HTTPException) -> tuple[int, str]:
    return _INSTEAD.get(error.reason, (error.status_code, error.reason))


def _wrong_transport(operation: StrawberryOperation, method: str) -> str:
    if operation is StrawberryOperation.SUBSCRIPTION:
        return "subscriptions run over WebSocket (graphql-transport-ws) at /graphql, with the key in connection_init, not over HTTP"
    return f"GraphQL {operation.value} operations are not accepted by {method}: {SEND_JSON}"


def refusal(status: int, message: str, *, media: str = "application/json", code: str = "INVALID_INPUT") -> Response:
    """A request refused before GraphQL ran, as GraphQL over HTTP answers one: JSON with
    `errors[0].extensions.code` and a message that says what to send instead."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"Allow": "GET, POST"} if status == 405 else None
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


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


def _unauthenticated() -> Response:
    body = {"errors": [{"message": "send a valid API key: Authorization: Bearer <key>", "extensions": {"code": "UNAUTHENTICATED"}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="contactql"'})


def _wants_graphiql(scope: Scope) -> bool:
    request = Request(scope)
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "query" not in request.query_params and "text/html" in accept


class AuthenticatedGraphQL:
    """Resolves the caller's key before Strawberry sees an HTTP request."""

    def __init__(self, view: GraphQLView, graphiql: bool) -> None:
        self.view = view
        self.page: Response = (
            HTMLResponse((PACKAGE / "graphiql.html").read_text(), headers=GRAPHIQL_HEADERS)
            if graphiql
            else refusal(404, f"GraphiQL is turned off on this server (CONTACTQL_GRAPHIQL=false); {SEND_JSON}", code="NOT_FOUND")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _wants_graphiql(scope):
            await self.page(scope, receive, send)
            return
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            raw = headers.get(b"authorization")
            principal = await self.view.keys.principal(raw.decode("latin-1") if raw else None)
            if principal is None:
                await _unauthenticated()(scope, receive, send)
                return
            scope[PRINCIPAL] = principal
        await self.view(scope, receive, send)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def home(request: Request) -> Response:
    """`GET /`: a browser goes to GraphiQL; anything else is told where things are."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/graphql", status_code=307)
    return JSONResponse({"graphql": "/graphql", "health": "/healthz", "message": "ContactQL: send GraphQL to POST /graphql; open /graphql in a browser for GraphiQL"})


async def not_found(request: Request, _: Exception) -> Response:
    return refusal(404, f"nothing at {request.url.path}: GraphQL is at /graphql (GraphiQL in a browser), health at /healthz", code="NOT_FOUND")


async def http_refusal(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (a multipart body it cannot read, a method a route does not
    take) in the GraphQL-over-HTTP shape, as every other refusal."""
    status = getattr(error, "status_code", 400)
    if status == 404:
        return await not_found(request, error)
    detail = str(getattr(error, "detail", "") or "the request was refused").rstrip(".")
    return refusal(status, f"{detail}: {SEND_JSON} (multipart/form-data for importContacts uploads)")


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> Starlette:
    """The ASGI app; `clock` is the time the background loops schedule by (tests move it)."""
    settings = settings or load_settings()
    db = Database(settings)
    progress = ProgressHub()
    sender = WebhookSender(db, settings, clock)
    worker = BatchWorker(db, settings, progress, on_finished=sender.wake)
    housekeeper = Housekeeper(db, clock)
    services = Services(
        settings=settings, db=db, writer=UpsertWriter(db), helper=Helper(settings.helper_processes), progress=progress, wake_batches=worker.wake
    )
    view = GraphQLView(services, KeyCache(db, ttl=settings.key_cache_seconds), TokenBuckets(settings.rate_limit_per_minute))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.migrate()
        tasks = []
        if settings.workers:
            tasks = [
                asyncio.create_task(worker.run(), name="contactql-batches"),
                asyncio.create_task(sender.run(), name="contactql-webhooks"),
                asyncio.create_task(housekeeper.run(), name="contactql-housekeeping"),
            ]
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

    graphql = AuthenticatedGraphQL(view, settings.graphiql)
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/graphql", graphql),  # every method: the view refuses the others as GraphQL over HTTP does
        WebSocketRoute("/graphql", graphql),
    ]
    if settings.graphiql:
        routes.append(Mount("/graphiql", app=GZipMiddleware(StaticFiles(directory=STATIC)), name="graphiql"))
    middleware = [Middleware(BodyLimit, json_limit=JSON_BODY_LIMIT, upload_limit=settings.max_import_mb * 1024 * 1024)]
    if settings.cors_origins:
        # Outermost, so that refusals (401, 413, 429) carry the headers a browser needs to read them.
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        )
        middleware.insert(0, cors)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={StarletteHTTPException: http_refusal})
    app.state.services = services
    app.state.batch_worker = worker
    app.state.webhook_sender = sender
    app.state.housekeeper = housekeeper
    return app

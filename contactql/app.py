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
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException
from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types import ExecutionResult

from contactql.auth import KeyCache
from contactql.batch_worker import BatchWorker, ProgressHub
from contactql.config import Settings, load_settings
from contactql.limits import JSON_BODY_LIMIT, BodyLimit, TokenBuckets
from contactql.resolvers.context import Context, Loaders, Services
from contactql.schema import build_schema
from contactql.schema.hardening import with_code
from contactql.store.database import Database
from contactql.store.keys import Principal
from contactql.store.model import Scope as KeyScope
from contactql.store.writer import UpsertWriter
from contactql.webhook_sender import WebhookSender

log = logging.getLogger("contactql")

PRINCIPAL = "contactql.principal"
# A WebSocket's context before its connection_init names a key: sees no workspace.
NOBODY = Principal(workspace_id=-1, workspace_name="", key_id=-1, key_name="", scope=KeyScope.READ)


class KeyedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose connection_init must carry `{"Authorization": "Bearer <key>"}`."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        header = payload.get("Authorization") if isinstance(payload, dict) else None
        principal = await self.view.keys.principal(header if isinstance(header, str) else None)  # type: ignore[attr-defined]
        if principal is None:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        self.context.principal = principal
        self.context.loaders = Loaders(self.context.services.db, principal.workspace_id)
        await super().handle_connection_init(message)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeyedTransportWS

    def __init__(self, services: Services, keys: KeyCache, rate_limit: TokenBuckets) -> None:
        settings = services.settings
        super().__init__(
            build_schema(introspection=settings.graphiql),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=True,
        )
        self.services = services
        self.keys = keys
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # As strawberry.asgi.GraphQL, but closing the request: that closes uploaded files.
        request = Request(scope=scope, receive=receive)
        try:
            try:
                response = await self.run(request)
            except HTTPException as error:
                response = PlainTextResponse(error.reason, status_code=error.status_code)
            await response(scope, receive, send)
        finally:
            await request.close()

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        # Uploads exist for importContacts only (SPEC §9): refuse any other multipart operation.
        data = await super().parse_multipart(request)
        if not isinstance(data, dict) or not _only_imports(data.get("query"), data.get("operationName")):
            raise HTTPException(400, "multipart requests are accepted for importContacts only")
        return data

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
        return await super().process_result(request, result)

    def encode_json(self, data: object) -> str:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


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

    def __init__(self, view: GraphQLView) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _wants_graphiql(scope):
            page: Response = HTMLResponse(self.view.graphql_ide_html) if self.view.graphql_ide else PlainTextResponse("Not Found", 404)
            await page(scope, receive, send)
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    db = Database(settings)
    progress = ProgressHub()
    sender = WebhookSender(db, settings)
    worker = BatchWorker(db, settings, progress, on_finished=sender.wake)
    services = Services(settings=settings, db=db, writer=UpsertWriter(db), progress=progress, wake_batches=worker.wake)
    view = GraphQLView(services, KeyCache(db, ttl=settings.key_cache_seconds), TokenBuckets(settings.rate_limit_per_minute))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.migrate()
        tasks = []
        if settings.workers:
            tasks = [asyncio.create_task(worker.run(), name="contactql-batches"), asyncio.create_task(sender.run(), name="contactql-webhooks")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.writer.close()
            await view.keys.close()
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphql", AuthenticatedGraphQL(view), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", AuthenticatedGraphQL(view)),
        ],
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, json_limit=JSON_BODY_LIMIT, upload_limit=settings.max_import_mb * 1024 * 1024)],
    )
    app.state.services = services
    app.state.batch_worker = worker
    app.state.webhook_sender = sender
    return app

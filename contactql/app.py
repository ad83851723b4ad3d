"""The ASGI application: GraphQL at /graphql behind Bearer-key auth, GraphiQL, /healthz.

Only the GraphiQL page (`GET /graphql` asking for HTML) and `/healthz` are open; every other
request to /graphql needs `Authorization: Bearer <key>` or gets HTTP 401 before any GraphQL
work is done.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from contactql.auth import KeyCache
from contactql.config import Settings, load_settings
from contactql.resolvers.context import Context, Loaders, Services
from contactql.schema import build_schema
from contactql.schema.hardening import with_code
from contactql.store.database import Database
from contactql.store.writer import UpsertWriter

log = logging.getLogger("contactql")

PRINCIPAL = "contactql.principal"


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: Services, keys: KeyCache) -> None:
        settings = services.settings
        super().__init__(
            build_schema(introspection=settings.graphiql),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
        )
        self.services = services
        self.keys = keys

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = request.scope[PRINCIPAL]
        return Context(services=self.services, principal=principal, loaders=Loaders(self.services.db, principal.workspace_id))

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # A parse error raised inside ParserCache escapes the extensions: give it its code here.
        for error in result.errors or ():
            with_code(error)
        return await super().process_result(request, result)

    def encode_json(self, data: object) -> str:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _unauthenticated() -> Response:
    body = {"errors": [{"message": "send a valid API key: Authorization: Bearer <key>", "extensions": {"code": "UNAUTHENTICATED"}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="contactql"'})


def _wants_graphiql(scope: Scope) -> bool:
    request = Request(scope)
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "query" not in request.query_params and "text/html" in accept


class AuthenticatedGraphQL:
    """Resolves the caller's key before Strawberry sees the request."""

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
    services = Services(settings=settings, db=db, writer=UpsertWriter(db))
    view = GraphQLView(services, KeyCache(db))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.create_schema()
        try:
            yield
        finally:
            await services.writer.close()
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphql", AuthenticatedGraphQL(view), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", AuthenticatedGraphQL(view)),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app

"""The GraphQL view: Strawberry's ASGI view with ContactQL's rules for GraphQL over HTTP.

What it reads (JSON, GET parameters, multipart for importContacts only), which operations each
method and transport may run, documents named by persisted hash or trusted id, streams for
subscriptions over HTTP, the media type and status of the answer, and the per-request context.
app.py authenticates the request before it gets here and assembles the application around it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from cross_web import HTTPException, parse_content_type
from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from contactql.auth import FormOrigins, KeyCache
from contactql.context import Context, Loaders, Services, Visitor
from contactql.limits import TokenBuckets
from contactql.persisted import DOCUMENT_ID, NOT_FOUND, NOT_FOUND_CODE, PersistedQueries, PersistedQueryError, with_document_id
from contactql.refusals import (
    GRAPHQL_RESPONSE_JSON,
    MULTIPART_ONLY_IMPORTS,
    NO_BATCHING,
    NOT_AN_OBJECT,
    NOT_JSON,
    SEND_GET,
    SEND_JSON,
    UNSUPPORTED_TYPE,
    instead,
    refusal,
    response_media_type,
    wrong_transport,
)
from contactql.schema.hardening import with_code
from contactql.schema.root import build_schema
from contactql.store.model import Scope as KeyScope
from contactql.store.workspace.keys import Principal
from contactql.streams import NotStreamable, accepts_json, stream_operation, watch_key
from contactql.tracing import Tracing
from contactql.websocket import KeyedTransportWS

log = logging.getLogger("contactql")

PRINCIPAL = "contactql.principal"
RESPONSE_MEDIA = "contactql.response_media"
REQUEST_ERROR = "contactql.request_error"
# A WebSocket's context before its connection_init names a key: sees no workspace.
NOBODY = Principal(workspace_id=-1, workspace_name="", key_id=-1, key_name="", scope=KeyScope.READ)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeyedTransportWS

    def __init__(self, services: Services, keys: KeyCache, rate_limit: TokenBuckets, traced: Tracing | None = None) -> None:
        settings = services.settings
        self.persisted = PersistedQueries(services.db)
        services.forget_documents = self.persisted.forget
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
            visitor=Visitor.of(request),
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

"""HTTP-level limits: request body size and per-key rate (SPEC §9).

Body size: 16 MiB for JSON; for a multipart upload (importContacts), CONTACTQL_MAX_IMPORT_MB.
A declared Content-Length over the limit is answered 413 before a byte of the body is read; a
chunked body is counted while it streams and refused as soon as it passes the limit.

Rate: a token bucket per API key holding one minute's allowance (CONTACTQL_RATE_LIMIT),
refilled continuously — bursts up to a minute's worth are fine. A GraphQL mutation costs one
token per root field, so 30 aliased upsertContact calls cost 30; anything else costs one.
Over the limit: HTTP 429 with Retry-After. Buckets live in each server process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from graphql import OperationDefinitionNode, OperationType, get_operation_ast
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from contactql.schema.errors import ApiError

JSON_BODY_LIMIT = 16 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    message = f"the request body is larger than {limit // (1024 * 1024)} MiB"
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": "INVALID_INPUT"}}]}, status_code=413)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.upload_limit if multipart else self.json_limit
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(limit)(scope, receive, send)


class TokenBuckets:
    """One bucket per API key: `per_minute` tokens, refilled at per_minute / 60 a second."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key_id: int, cost: int) -> float:
        """Take `cost` tokens; 0 when granted, else how many seconds until they would be."""
        now = time.monotonic()
        with self._lock:
            tokens, when = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - when) * self.rate)
            if tokens >= cost:
                self._buckets[key_id] = (tokens - cost, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (min(cost, self.capacity) - tokens) / self.rate


def operation_cost(operation: OperationDefinitionNode | None) -> int:
    if operation is None or operation.operation != OperationType.MUTATION:
        return 1
    return max(1, len(operation.selection_set.selections))


class RateLimit(SchemaExtension):
    """Charges the caller's bucket once the operation is parsed; over the limit, the request
    fails with RATE_LIMITED and the view answers 429 with Retry-After."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context.context
        buckets: TokenBuckets | None = getattr(context, "rate_limit", None)
        if buckets is not None and context.principal.key_id >= 0:
            wait = buckets.take(context.principal.key_id, operation_cost(self._operation()))
            if wait > 0:
                seconds = math.ceil(wait)
                if context.response is not None:  # the HTTP answer: 429 with Retry-After
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = str(seconds)
                raise ApiError(f"rate limit exceeded: retry in {seconds} s", "RATE_LIMITED")
        yield

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        return None if document is None else get_operation_ast(document, self.execution_context.operation_name)

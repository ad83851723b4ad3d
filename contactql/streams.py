"""Subscriptions over HTTP: Apollo's multipart protocol and graphql-sse, beside the WebSocket.

Which requests stream (`accepts_json`, `is_subscription`), and how a long stream's key is
checked again while it runs (`watch_key`), as a WebSocket's is: a revoked key's stream ends
with a FORBIDDEN error in the transport's own framing (`revoked_chunk`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.http.streaming import HTTPStreamTransport, MultipartSubscriptionTransport

from contactql.schema.hardening import MAX_TOKENS

_JSON_TYPES = {"application/json", "application/graphql-response+json", "application/*", "*/*"}


def accepts_json(accept: str) -> bool:
    """Whether an Accept header takes a JSON answer (then only a subscription streams)."""
    return any(part.split(";", 1)[0].strip().lower() in _JSON_TYPES for part in accept.split(","))


@functools.lru_cache(maxsize=256)
def is_subscription(query: str, operation_name: str | None) -> bool:
    # Parsed with the schema's token limit; anything that does not parse takes the plain path,
    # where the schema refuses it as usual. Cached: urql asks this of every request it sends.
    try:
        operation = get_operation_ast(parse(query, max_tokens=MAX_TOKENS), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def revoked_chunk(transport: HTTPStreamTransport, encode: Callable[[object], str]) -> str:
    errors = [{"message": "the API key was revoked", "extensions": {"code": "FORBIDDEN"}}]
    if isinstance(transport, MultipartSubscriptionTransport):
        # Apollo's transport-level error: a payload of null beside the errors ends the subscription.
        return transport.encode_multipart_data({"payload": None, "errors": errors}, encode)
    return transport.encode_next({"errors": errors}, encode)  # type: ignore[typeddict-item]


def watch_key(
    stream: Callable[[], AsyncIterator[str]],
    revoked: Callable[[], Awaitable[bool]],
    interval: float,
    transport: HTTPStreamTransport | None,
    encode: Callable[[object], str],
) -> Callable[[], AsyncIterator[str]]:
    """`stream`, asking `revoked()` after a chunk once `interval` seconds have passed since it
    last did; a revoked key's stream ends there with FORBIDDEN and the transport's complete.
    Heartbeats (every 5 s multipart, 15 s SSE) give a quiet stream its chunks to check at."""

    async def watched() -> AsyncIterator[str]:
        source = stream()
        checked = time.monotonic()
        try:
            async for chunk in source:
                yield chunk
                if time.monotonic() - checked < interval:
                    continue
                if await revoked():
                    if transport is not None:
                        yield revoked_chunk(transport, encode)
                        yield transport.encode_complete()
                    return
                checked = time.monotonic()
        finally:
            await source.aclose()  # type: ignore[attr-defined]

    return watched

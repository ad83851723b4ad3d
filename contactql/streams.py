"""Subscriptions over HTTP: Apollo's multipart protocol and graphql-sse, beside the WebSocket.

Which requests stream (`accepts_json`, `stream_operation`), and how a long stream's key is
checked again while it runs (`watch_key`), as a WebSocket's is: a revoked key's stream ends
with a FORBIDDEN error in the transport's own framing (`revoked_chunk`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.http.streaming import HTTPStreamTransport, MultipartSubscriptionTransport

from contactql.schema.hardening import MAX_DOCUMENT_CHARS, MAX_TOKENS, cached_for_short_documents, too_long

log = logging.getLogger(__name__)

_JSON_TYPES = {"application/json", "application/graphql-response+json", "application/*", "*/*"}


def accepts_json(accept: str) -> bool:
    """Whether an Accept header takes a JSON answer (then only a subscription streams)."""
    return any(part.split(";", 1)[0].strip().lower() in _JSON_TYPES for part in accept.split(","))


class NotStreamable(ValueError):
    """A stream request whose operation cannot be known: the message says what to send."""


def stream_operation(query: str, operation_name: object) -> OperationType:
    """The type of the operation a stream request runs. Raises NotStreamable for a document
    that does not parse (or passes the size or token limits) and for an operation that cannot
    be picked: Strawberry would answer 200 and then fail inside the stream, or wait forever."""
    if operation_name is not None and not isinstance(operation_name, str):
        raise NotStreamable("operationName must be a string")
    if len(query) > MAX_DOCUMENT_CHARS:
        raise NotStreamable(too_long(query))
    return _operation(query, operation_name)


@cached_for_short_documents  # urql asks this of every request it sends
def _operation(query: str, operation_name: str | None) -> OperationType:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        raise NotStreamable(error.message) from None
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        named = f"no operation named {operation_name!r} in the document" if operation_name else "the document has several operations: name one with operationName"
        raise NotStreamable(named)
    return operation.operation


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
            try:
                await source.aclose()  # type: ignore[attr-defined]
            except Exception:  # the stream has ended for the client: a failure tidying up is only logged
                log.warning("closing a stream failed", exc_info=True)

    return watched

"""Refusals in the shape GraphQL over HTTP answers: a request ContactQL will not run gets JSON
with `errors[0].extensions.code` and a message that says what to send instead — never plain
text, never a 500. Also the choice between application/json and
application/graphql-response+json."""

from __future__ import annotations

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.types.graphql import OperationType as StrawberryOperation

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


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

SEND_GET = 'send GET /graphql?query=…&variables=… with variables a URL-encoded JSON object such as {"first": 10}'


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


def instead(error: HTTPException) -> tuple[int, str]:
    return _INSTEAD.get(error.reason, (error.status_code, error.reason))


def wrong_transport(operation: StrawberryOperation, method: str) -> str:
    if operation is StrawberryOperation.SUBSCRIPTION:
        return "subscriptions run over WebSocket (graphql-transport-ws, the key in connection_init) or over HTTP as a stream: send Accept: multipart/mixed;subscriptionSpec=1.0 or Accept: text/event-stream"
    return f"GraphQL {operation.value} operations are not accepted by {method}: {SEND_JSON}"


def refusal(status: int, message: str, *, media: str = "application/json", code: str = "INVALID_INPUT") -> Response:
    """A request refused before GraphQL ran, as GraphQL over HTTP answers one: JSON with
    `errors[0].extensions.code` and a message that says what to send instead."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"Allow": "GET, POST"} if status == 405 else None
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


def wrong_origin(origin: str | None) -> Response:
    """A publishable key used from a page that is not its form's (or with no Origin at all)."""
    where = f"from {origin[:200]}" if origin else "without an Origin header"
    message = f"this publishable key is not for use {where}: only from the origins it was made for (contactql keys create --origin)"
    return refusal(403, message, code="FORBIDDEN")


def unauthenticated() -> Response:
    body = {"errors": [{"message": "send a valid API key: Authorization: Bearer <key>", "extensions": {"code": "UNAUTHENTICATED"}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="contactql"'})


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

"""HTTP-level limits: request body size and per-key rate (SPEC §9).

Body size: 16 MiB for JSON; for a multipart upload (importContacts), CONTACTQL_MAX_IMPORT_MB.
A declared Content-Length over the limit is answered 413 before a byte of the body is read; a
chunked body is counted while it streams and refused as soon as it passes the limit.

Rate: a token bucket per API key holding one minute's allowance (CONTACTQL_RATE_LIMIT),
refilled continuously — bursts up to a minute's worth are fine. A request takes its estimated
cost (schema/cost.py), at least 1, whichever transport it came by. Over the limit: HTTP 429
with Retry-After. Buckets live in each server process.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from graphql import OperationDefinitionNode, get_operation_ast
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from contactql.context import ApiError
from contactql.schema.cost import estimate, oversized_filter
from contactql.schema.forms import form_refusal

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
    """One bucket per key (an API key's id; a form's key and client IP): `per_minute` tokens,
    refilled at per_minute / 60 a second. `clock` is injectable (tests move it).

    A full bucket is the same as none: past MAX_BUCKETS keys (one per client IP behind a
    form can be many), full buckets are dropped, then the oldest."""

    MAX_BUCKETS = 100_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: Hashable, cost: int) -> tuple[float, float]:
        """Take `cost` tokens: (0, tokens left) when granted, else (seconds until they would
        be, tokens there are). A request that costs more than the bucket holds takes the whole
        bucket, full: at most one such request a minute."""
        needed = min(float(cost), self.capacity)
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if key not in self._buckets and len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            if tokens >= needed:
                self._buckets[key] = (tokens - needed, now)
                return 0.0, tokens - needed
            self._buckets[key] = (tokens, now)
            return (needed - tokens) / self.rate, tokens

    def available(self, key: Hashable) -> float:
        """The tokens a key has now, taking none."""
        with self._lock:
            return self._tokens(key, self._clock())

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, when = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - when) * self.rate)

    def _prune(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.capacity}
        while len(self._buckets) >= self.MAX_BUCKETS:  # all of them busy: the oldest go
            del self._buckets[next(iter(self._buckets))]


def client_network(ip: str | None) -> str | None:
    """What one client is, for a per-IP limit: its IPv4 address, or its IPv6 /64 — a home or
    a cloud machine gets a whole /64, so one address each would be one bucket per request."""
    if ip is None or ":" not in ip:
        return ip
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class FormLimits:
    """What a publishable key's (a website form's) requests take besides the key's own bucket:
    one from the bucket of the client's IP for that key (CONTACTQL_FORM_RATE_LIMIT) and one
    from the key's form bucket (CONTACTQL_FORM_KEY_RATE_LIMIT). The client IP is the
    connection's, or `X-Forwarded-For`'s from a trusted proxy (app.py installs uvicorn's
    ProxyHeadersMiddleware for CONTACTQL_TRUSTED_PROXIES)."""

    def __init__(self, per_ip: int, per_key: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = TokenBuckets(per_ip, clock)
        self.per_key = TokenBuckets(per_key, clock)

    def refusal(self, key_id: int, client_ip: str | None, *, per_key: bool = True) -> ApiError | None:
        """None when the request may go on; else the coded error a form shows. `per_key=False`:
        the key's bucket is charged later (`key_refusal`), once a CAPTCHA is solved — else
        bots that solve none would use up the form's allowance for every visitor."""
        wait, _ = self.per_ip.take((key_id, client_network(client_ip)), 1)
        if wait > 0:
            return _form_limited(wait, "from this address")
        return self.key_refusal(key_id) if per_key else None

    def key_refusal(self, key_id: int) -> ApiError | None:
        wait, _ = self.per_key.take(key_id, 1)
        return _form_limited(wait, "through this form") if wait > 0 else None


def _form_limited(wait: float, where: str) -> ApiError:
    seconds = math.ceil(wait)
    return ApiError(f"too many subscriptions {where} in a minute; retry in {seconds} s", "RATE_LIMITED", retryAfter=seconds)


def _advertise(caller: Any, buckets: TokenBuckets, left: float) -> None:
    """The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): the policy, a bucket of
    `q` cost units refilled over `w` seconds, and what is left now (`r`) with the seconds until
    the bucket is full again (`t`). HTTP only: a WebSocket message has no headers. Not to a
    form's visitors: a publishable key's bucket is shared by all of them, so what is left would
    tell anyone how many people are signing up."""
    response = caller.response
    if response is None or caller.principal.is_publishable:
        return
    response.headers["RateLimit-Policy"] = f'"cost";q={int(buckets.capacity)};w=60'
    response.headers["RateLimit"] = f'"cost";r={int(left)};t={math.ceil((buckets.capacity - left) / buckets.rate)}'


class RateLimit(SchemaExtension):
    """Costs the operation once it is parsed and validated (schema/cost.py): over
    CONTACTQL_MAX_COST it is refused with COST_LIMIT and the figures; else its cost is taken
    from the caller's bucket — over the limit, the request fails with RATE_LIMITED and, over
    HTTP, the view answers 429 with Retry-After. WebSocket operations are costed and charged
    to the same bucket. The cost and the bucket are reported in `extensions.cost`."""

    _cost: int | None = None  # this request's, once estimated
    _left = 0.0  # tokens left in the key's bucket after it

    def on_validate(self) -> Iterator[None]:
        # Before the yield, yet after validation: ValidationCache, listed before this
        # extension, validates on its way in, and Strawberry looks at the errors before any
        # extension's way out.
        self._charge()
        yield

    def _charge(self) -> None:
        context = self.execution_context
        caller = context.context
        operation = self._operation()
        if not context.pre_execution_errors and (why := oversized_filter(context.graphql_document, context.variables)):
            context.pre_execution_errors = [ApiError(f"{why} (at filter)", "INVALID_INPUT")]
        if caller is None or caller.principal.key_id < 0:
            return
        if caller.principal.is_publishable and not context.pre_execution_errors:
            if refused := form_refusal(operation):
                context.pre_execution_errors = [ApiError(refused, "FORBIDDEN")]  # charged as a refused document: 1
            elif caller.services.form_limits and (
                limited := caller.services.form_limits.refusal(caller.principal.key_id, caller.client_ip, per_key=caller.services.settings.captcha_provider == "off")
            ):
                self._refuse(caller, limited)
        settings = caller.services.settings
        cost = 1  # a document refused by validation, or a filter too big to run, still costs its parsing
        if not context.pre_execution_errors and operation is not None:
            cost = max(1, estimate(context.schema._schema, context.graphql_document, operation, context.variables))
            self._cost = cost
            if cost > settings.max_cost:
                if caller.rate_limit is not None:
                    self._left = caller.rate_limit.available(caller.principal.key_id)
                    _advertise(caller, caller.rate_limit, self._left)
                context.pre_execution_errors = [
                    ApiError(
                        f"this request would cost {cost}, more than the {settings.max_cost} one request may cost: ask for fewer items (first), fewer nested lists or fewer aliases",
                        "COST_LIMIT",
                        cost=cost,
                        maxCost=settings.max_cost,
                    )
                ]
                return
        buckets: TokenBuckets | None = caller.rate_limit
        if buckets is None:
            return
        wait, self._left = buckets.take(caller.principal.key_id, cost)
        _advertise(caller, buckets, self._left)
        if wait > 0:
            seconds = math.ceil(wait)
            self._refuse(caller, ApiError(f"rate limit exceeded: this request costs {cost}; retry in {seconds} s", "RATE_LIMITED", cost=cost, retryAfter=seconds))

    def _refuse(self, caller: Any, error: ApiError) -> None:
        self.execution_context.pre_execution_errors = [caller.over_limit(error)]

    def get_results(self) -> dict[str, Any]:
        cost = self._cost
        caller = self.execution_context.context
        buckets: TokenBuckets | None = getattr(caller, "rate_limit", None)
        if cost is None or buckets is None or caller.principal.is_publishable:  # see _advertise
            return {}
        return {
            "cost": {
                "requestedQueryCost": cost,
                "maximumQueryCost": self.execution_context.context.services.settings.max_cost,
                "throttleStatus": {
                    "maximumAvailable": int(buckets.capacity),
                    "currentlyAvailable": int(self._left),
                    "restoreRate": buckets.rate,
                },
            }
        }

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        return None if document is None else get_operation_ast(document, self.execution_context.operation_name)

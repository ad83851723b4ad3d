"""Prometheus metrics (prometheus-client) at `GET /metrics`, for the operator.

Requests by route and status, GraphQL operations by type, root field and outcome, latency
histograms of both; the batch queue's depth and the age of its oldest batch, batch items
processed, webhook attempts by result, rate-limit refusals by transport; the SQLite WAL's
size; and prometheus-client's own process metrics (CPU, memory, open files). Counters live in
the process (as Prometheus expects: it scrapes each process); the queue and the WAL are read
when scraped.

Every label has a bounded set of values: routes are the app's, root fields the schema's (a
name the schema does not have counts as `other`), outcomes are error codes. No workspace,
key, operation name or path from a request becomes a label.

`/metrics` is off until `CONTACTQL_METRICS_TOKEN` is set, and then needs
`Authorization: Bearer <that token>` — an operator's secret, not a workspace's API key, since
the figures are the whole server's.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import os
import time
from typing import Any

from graphql import FieldNode, get_operation_ast
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactql.refusals import refusal
from contactql.store.batches.queue import queue_stats
from contactql.store.db.database import Database, sqlite_path

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("contactql_http_requests", "HTTP requests answered, by route, method and status", ["route", "method", "status"])
HTTP_SECONDS = Histogram("contactql_http_request_duration_seconds", "Time to answer an HTTP request, by route", ["route"], buckets=LATENCY_BUCKETS)
OPERATIONS = Counter("contactql_graphql_operations", "GraphQL operations, by type, first root field and outcome (ok or an error code)", ["type", "field", "outcome"])
OPERATION_SECONDS = Histogram("contactql_graphql_operation_duration_seconds", "Time to run a GraphQL operation, by type", ["type"], buckets=LATENCY_BUCKETS)
BATCH_QUEUE_DEPTH = Gauge("contactql_batch_queue_depth", "Batches queued or being applied, in every workspace")
BATCH_QUEUE_AGE = Gauge("contactql_batch_queue_oldest_age_seconds", "Age of the oldest batch queued or being applied (0 when none)")
BATCH_ITEMS = Counter("contactql_batch_items_processed", "Batch and import items this process applied or failed")
WEBHOOK_ATTEMPTS = Counter("contactql_webhook_attempts", "Webhook delivery attempts, by result", ["result"])
RATE_LIMITED = Counter("contactql_rate_limit_refusals", "Requests refused by the rate limit, by transport", ["transport"])
HONEYPOT = Counter("contactql_form_honeypot", "Subscriptions answered as usual but not written: their form's honeypot field had text")
WAL_BYTES = Gauge("contactql_sqlite_wal_bytes", "Size of the SQLite write-ahead log file (0 on PostgreSQL)")

ROUTES = ("/graphql", "/graphiql", "/exports", "/healthz", "/readyz", "/metrics")


def route_of(path: str) -> str:
    if path == "/":
        return "/"
    return next((route for route in ROUTES if path == route or path.startswith(route + "/")), "other")


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP answer by route and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            route = route_of(scope["path"])
            method = scope["method"] if scope["method"] in ("GET", "POST", "OPTIONS") else "other"
            labelled(HTTP_REQUESTS, route, method, status).inc()
            labelled(HTTP_SECONDS, route).observe(time.perf_counter() - started)


def record_operation(context: Any, seconds: float) -> None:
    """Count and time one GraphQL operation, over HTTP or WebSocket, once its errors are masked
    and coded (schema/hardening.ErrorMasking calls this as the operation ends)."""
    try:
        kind = context.operation_type.value if context.operation_type is not None else "unknown"
    except RuntimeError:  # Strawberry's "Can't get GraphQL operation type": no such operationName
        kind = "unknown"
    errors = context.pre_execution_errors or (context.result.errors if context.result else None) or []
    outcome = "ok" if not errors else str((errors[0].extensions or {}).get("code", "ERROR"))
    labelled(OPERATIONS, kind, _first_field(context), outcome).inc()
    labelled(OPERATION_SECONDS, kind).observe(seconds)


@functools.lru_cache(maxsize=4096)
def labelled(metric: Any, *values: object) -> Any:
    """`metric.labels(*values)`, kept: prometheus-client takes a lock and builds a tuple of
    strings on every call (1.4 µs; 0.5 µs cached), four times a request. Every label here has
    few values (routes, methods, statuses, operation types, root fields of the schema), and
    the cache is bounded besides."""
    return metric.labels(*(str(v) for v in values))


def _first_field(context: Any) -> str:
    """The operation's first root field; `other` for a name the schema does not have."""
    document = context.graphql_document
    operation = None if document is None else get_operation_ast(document, context.operation_name)
    if operation is None:
        return "-"
    names = [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if not names:
        return "-"
    root = context.schema._schema.get_root_type(operation.operation)
    return names[0] if root is not None and names[0] in root.fields else "other"


class MetricsEndpoint:
    def __init__(self, db: Database, token: str | None) -> None:
        self.db = db
        self.token = token

    async def serve(self, request: Request) -> Response:
        if self.token is None:
            return refusal(404, "metrics are off on this server: set CONTACTQL_METRICS_TOKEN and scrape with that Bearer token", code="NOT_FOUND")
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
            return refusal(401, "send Authorization: Bearer <CONTACTQL_METRICS_TOKEN>", code="UNAUTHENTICATED")
        depth, oldest = await self.db.read(queue_stats)
        BATCH_QUEUE_DEPTH.set(depth)
        BATCH_QUEUE_AGE.set(0 if oldest is None else max(0.0, (dt.datetime.now(dt.UTC) - _utc(oldest)).total_seconds()))
        WAL_BYTES.set(_wal_bytes(self.db))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _wal_bytes(db: Database) -> int:
    if db.dialect != "sqlite":
        return 0
    try:
        return os.path.getsize(sqlite_path(db.settings.database_url) + "-wal")
    except OSError:  # no WAL file (yet, or after the last connection closed)
        return 0

"""OpenTelemetry tracing, off by default: `CONTACTQL_TRACING=otlp` (or `console`) with the
`tracing` extra installed (`pip install 'contactql[tracing]'`).

The well-kept parts do the work: the ASGI instrumentation makes one server span per request (a
W3C `traceparent` from the client makes it a child of the client's trace), and Strawberry's
OpenTelemetryExtension adds the operation, its parsing and validation, and each resolver
below it. The OTLP exporter reads the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, …).

Contacts are personal data, and a trace store is seldom kept like a CRM: no value from a request
reaches a span. The document is recorded with its literals blanked, resolver arguments by name
only, and the URL without its query string (a GET carries `variables` there). The provider is
this app's own, not the process-wide one, and is shut down (its last spans sent) with the app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Literal

from graphql import FloatValueNode, GraphQLError, IntValueNode, StringValueNode, Visitor, parse, print_ast, visit

from contactql.config import ConfigError
from contactql.schema.hardening import MAX_DOCUMENT_CHARS, MAX_TOKENS, cached_for_short_documents

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from starlette.types import ASGIApp, Receive, Scope, Send
    from strawberry.extensions import SchemaExtension

Mode = Literal["off", "otlp", "console"]
QUERY_STRING = "contactql.query_string"  # where the query string waits while the server span starts
SERVICE_NAME = "contactql"


class Tracing:
    """One app's tracer provider, its Strawberry extension and its ASGI middleware."""

    def __init__(self, mode: Mode) -> None:
        try:
            from opentelemetry.sdk.resources import OTELResourceDetector, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
        except ImportError:
            raise ConfigError(f"CONTACTQL_TRACING={mode} needs OpenTelemetry: pip install 'contactql[tracing]'") from None
        exporter: SpanExporter
        if mode == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
        resource = Resource.create({"service.name": SERVICE_NAME}).merge(OTELResourceDetector().detect())
        self.provider: TracerProvider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))

    def extension(self) -> Callable[[], SchemaExtension]:
        """A factory of Strawberry's extension (one per operation: it keeps the operation's spans)."""
        from strawberry.extensions import LifecycleStep
        from strawberry.extensions.tracing import OpenTelemetryExtension

        class WithoutValues(OpenTelemetryExtension):
            def on_operation(self) -> Generator[None, None, None]:
                steps = super().on_operation()
                next(steps)  # the operation's span starts, with the document as sent
                span = self._span_holder[LifecycleStep.OPERATION]
                span.set_attribute("query", blank_literals(self.execution_context.query or ""))
                yield
                span.set_attribute("graphql.operation.name", self.execution_context.operation_name or "")
                result = self.execution_context.result
                errors = (getattr(result, "errors", None) or self.execution_context.pre_execution_errors) or []
                codes = sorted({str(error.extensions.get("code")) for error in errors if error.extensions and error.extensions.get("code")})
                if codes:
                    span.set_attribute("graphql.error.codes", codes)
                next(steps, None)  # and ends

        return functools.partial(WithoutValues, tracer_provider=self.provider, arg_filter=_names_only)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        traced = OpenTelemetryMiddleware(_QueryStringBack(app), tracer_provider=self.provider, exclude_spans=["receive", "send"])

        async def without_query_string(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in {"http", "websocket"}:
                scope[QUERY_STRING] = scope.get("query_string", b"")
                scope["query_string"] = b""
            await traced(scope, receive, send)

        return without_query_string

    def shutdown(self) -> None:
        self.provider.shutdown()  # sends what the batch processor still holds


class _QueryStringBack:
    """Inside the server span: the request gets its query string back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if QUERY_STRING in scope:
            scope["query_string"] = scope.pop(QUERY_STRING)
        await self.app(scope, receive, send)


def tracing(mode: Mode) -> Tracing | None:
    return None if mode == "off" else Tracing(mode)


def _names_only(args: dict[str, Any], _info: object) -> dict[str, Any]:
    return dict.fromkeys(args, "…")


class _Blank(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: Any) -> StringValueNode:
        return StringValueNode(value="", block=False)

    def enter_int_value(self, node: IntValueNode, *_: Any) -> IntValueNode:
        return IntValueNode(value="0")

    def enter_float_value(self, node: FloatValueNode, *_: Any) -> FloatValueNode:
        return FloatValueNode(value="0")


def blank_literals(document: str) -> str:
    """The document with every string and number literal blanked, as Apollo's usage reporting
    does: `upsertContact(input: {contact: {email: "ann@example.com"}})` is recorded with `""`.
    Enums and booleans stay (they are the schema's words, not the caller's data)."""
    if not document:
        return ""
    if len(document) > MAX_DOCUMENT_CHARS:
        return "(a document over the size limit)"
    return _blanked(document)


@cached_for_short_documents
def _blanked(document: str) -> str:
    try:
        return print_ast(visit(parse(document, max_tokens=MAX_TOKENS, no_location=True), _Blank()))
    except GraphQLError:
        return "(a document that does not parse)"


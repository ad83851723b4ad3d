"""Hardening in one place (SPEC §9): document limits, caches and error masking.

Strawberry's own extensions do the work. Each is handed to the schema as a class, so every
request gets fresh instances; the limiters' validation rules are built once, at import, because
`ValidationCache` keys its cache on the rule classes and a rule class made per request would
never hit it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from graphql import GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from contactql.schema.errors import ApiError

log = logging.getLogger("contactql.errors")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 10_000
_DEPTH_RULE = depth_validator(MAX_DEPTH, None, None)
_ALIAS_RULE = alias_validator(MAX_ALIASES)


class DocumentLimits(AddValidationRules):
    """Depth ≤ 10 and aliases ≤ 30 (fragments included), as QueryDepthLimiter/MaxAliasesLimiter."""

    def __init__(self) -> None:
        super().__init__([_DEPTH_RULE, _ALIAS_RULE])


class TokenLimit(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


class NoNulText(SchemaExtension):
    """Refuse U+0000 in any string a request sends, in its variables or its document.

    PostgreSQL `text` cannot store it, and SQLite's C functions stop at it; graphql-core will not
    let a schema redefine `String`, so this runs after validation (and after `ValidationCache`,
    which overwrites `pre_execution_errors`), before anything executes.
    """

    def on_validate(self):  # type: ignore[no-untyped-def]
        context = self.execution_context
        if not context.pre_execution_errors:
            where = _nul_in_variables(context.variables) or _nul_in_document(context)
            if where:
                context.pre_execution_errors = [ApiError(f"{where}: text may not contain the NUL character (U+0000)")]
        yield


def _nul_in_variables(variables: dict[str, Any] | None) -> str | None:
    if not variables or not _has_nul(variables):
        return None
    stack: list[tuple[str, Any]] = [(f"${name}", value) for name, value in variables.items()]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return f'Variable "{path}"'
        elif isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _has_nul(value: Any) -> bool:
    """The fast pass, without paths: a 10 000-contact batch's variables are scanned on each
    request. orjson writes NUL as the escape \\u0000 and runs at C speed (~1 µs a contact); a
    false alarm (a text holding a backslash and "u0000") only costs the exact walk that follows,
    and so do values that are not plain JSON (a direct `schema.execute`)."""
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:
        return True


def _nul_in_document(context: Any) -> str | None:
    # The lexer refuses a raw NUL; only an escape (\u0000, \u{0}) can make one.
    if "\\u" not in (context.query or "") or context.graphql_document is None:
        return None
    found: list[str] = []

    class Literals(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if "\x00" in node.value and not found:
                location = node.loc.source.get_location(node.loc.start) if node.loc else None
                found.append(f"String literal at line {location.line}" if location else "A string literal")

    visit(context.graphql_document, Literals())
    return found[0] if found else None


def should_mask(error: GraphQLError) -> bool:
    """Mask what a resolver raised by accident; keep what is about the document or deliberate."""
    if isinstance(error.original_error, ApiError):
        return False
    # No path: a parse, validation or variable error, about the document the client sent.
    return error.path is not None


class ErrorMasking(MaskErrors):
    """Unexpected errors become "Unexpected error." with code INTERNAL and a request id that the
    server log repeats next to the traceback; every other error gets a code too."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", "-")
        original = error.original_error
        log.error("request %s: unexpected error at %s", request_id, error.path, exc_info=original or error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL", "requestId": request_id}
        return masked

    def _process_result(self, result: object) -> None:
        # MaskErrors checks a runtime Protocol here, which costs more than the rest of it.
        if errors := getattr(result, "errors", None):
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            with_code(error)
        return processed


def with_code(error: GraphQLError) -> GraphQLError:
    """Errors that are not ours or masked are about the document: INVALID_INPUT."""
    if "code" not in (error.extensions or {}):
        error.extensions = {**(error.extensions or {}), "code": "INVALID_INPUT"}
    return error


def extensions(*, introspection: bool) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    from contactql.limits import RateLimit

    chosen: list[Any] = [ErrorMasking, TokenLimit, ParserCache, RateLimit, DocumentLimits, ValidationCache, NoNulText]
    if not introspection:
        from strawberry.extensions import DisableIntrospection

        chosen.append(DisableIntrospection)
    return chosen

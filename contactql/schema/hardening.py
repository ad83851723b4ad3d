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

from graphql import GraphQLError
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

    chosen: list[Any] = [ErrorMasking, TokenLimit, ParserCache, RateLimit, DocumentLimits, ValidationCache]
    if not introspection:
        from strawberry.extensions import DisableIntrospection

        chosen.append(DisableIntrospection)
    return chosen

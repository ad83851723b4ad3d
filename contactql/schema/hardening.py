"""Hardening of the schema (SPEC §9): document limits, caches and error masking; the rate and
cost limit is contactql/limits.py, added to the same list of extensions here.

Strawberry's own extensions do the work, but for the depth and alias limits, whose Strawberry
rules take exponential time on nested fragments (DocumentLimitsRule says why). Each extension
is handed to the schema as a class, so every request gets fresh instances; the validation rule
is one class, because `ValidationCache` keys its cache on the rule classes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationRule,
    Visitor,
    visit,
)
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

from contactql.context import ApiError
from contactql.metrics import record_operation
from contactql.schema.memo import DocumentMemo
from contactql.store.db.busy import is_busy
from contactql.store.model import Scope
from contactql.store.values import nul_path

log = logging.getLogger("contactql.errors")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 10_000
# Tokens are counted as the document is parsed, but a comment or a string is one token of any
# length: a 15 MB comment held the event loop for 2 s. 10 000 tokens fit in far less.
MAX_DOCUMENT_CHARS = 256 * 1024
T = TypeVar("T")
MAX_CACHED_CHARS = 16 * 1024  # a cache keyed by documents keeps none longer (256 entries: 4 MiB)


def cached_for_short_documents(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn(document, *rest)`, cached (256 entries) for documents of MAX_CACHED_CHARS or fewer;
    a longer one is worked out each time and never kept, so the cache stays small."""
    cached = functools.lru_cache(maxsize=256)(fn)

    @functools.wraps(fn)
    def call(document: str, *rest: Any) -> T:
        return (cached if len(document) <= MAX_CACHED_CHARS else fn)(document, *rest)

    return call


def too_long(query: str) -> str:
    return f"the document is {len(query):,} characters; at most {MAX_DOCUMENT_CHARS:,} (send values as variables)"


class DocumentLimitsRule(ValidationRule):
    """Depth ≤ 10 and aliases ≤ 30 per operation, fragments included — the checks of
    Strawberry's QueryDepthLimiter and MaxAliasesLimiter with their messages, in time linear in
    the document. Those walk every fragment spread again where it is spread, so a chain of
    fragments that each spread the previous one twice (`fragment f1 on Query { ...f0 ...f0 }` …
    `f22`, 1 KB) took time exponential in its length, on the event loop. Here each fragment's
    depth and alias count is computed once and reused (counts grow, the work does not)."""

    def enter_document(self, node: DocumentNode, *_: Any) -> Any:
        fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        measure = _Measure(fragments)
        for definition in node.definitions:
            if isinstance(definition, OperationDefinitionNode):
                name = definition.name.value if definition.name else "anonymous"
                depth, aliases = measure.selection_set(definition.selection_set)
                if depth > MAX_DEPTH:
                    self.report_error(GraphQLError(f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}", definition))
                if aliases > MAX_ALIASES:
                    self.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {MAX_ALIASES}", definition))
        return self.BREAK


class _Measure:
    """(depth, aliases) of selection sets; fragments measured once (None while in progress:
    a cycle, which graphql-core's NoFragmentCycles reports)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int] | None] = {}

    def selection_set(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):  # introspection: not counted, as QueryDepthLimiter
                    continue
                inner_depth, inner_aliases = self.selection_set(selection.selection_set)
                depth = max(depth, inner_depth + 1 if selection.selection_set else 0)
                aliases += inner_aliases + (1 if selection.alias else 0)
            elif isinstance(selection, FragmentSpreadNode):
                inner_depth, inner_aliases = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
            elif isinstance(selection, InlineFragmentNode):
                inner_depth, inner_aliases = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        if name not in self.memo:
            self.memo[name] = None
            fragment = self.fragments.get(name)
            self.memo[name] = self.selection_set(fragment.selection_set) if fragment else (0, 0)
        return self.memo[name] or (0, 0)


class DocumentLimits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__([DocumentLimitsRule])


class TokenLimit(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


class SizedParserCache(ParserCache):
    """Strawberry's ParserCache, refusing a document over MAX_DOCUMENT_CHARS before it parses
    (here rather than in a hook of its own: every hook costs every request)."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and len(query) > MAX_DOCUMENT_CHARS:
            raise GraphQLError(too_long(query), extensions={"code": "INVALID_INPUT"})
        yield from super().on_parse()


VALIDATED: DocumentMemo[list[GraphQLError]] = DocumentMemo()


class ValidationCache(SchemaExtension):
    """Strawberry's ValidationCache, keyed by the parsed document's identity (memo.py) rather
    than by its hash, which walks the whole document on every request."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema, document, rules = context.schema._schema, context.graphql_document, context.validation_rules
        assert document is not None  # noqa: S101 - validation runs on a parsed document only
        context.pre_execution_errors = VALIDATED.get(document, (schema, rules), lambda: validate_document(schema, document, rules))
        yield


class NoNulText(SchemaExtension):
    """Refuse U+0000 in any string a request sends, in its variables or its document.

    PostgreSQL `text` cannot store it, and SQLite's C functions stop at it; graphql-core will not
    let a schema redefine `String`, so this runs after validation (and after `ValidationCache`,
    which overwrites `pre_execution_errors`), before anything executes.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            where = _nul_in_variables(context.variables) or _nul_in_document(context)
            if where:
                context.pre_execution_errors = [ApiError(f"{where}: text may not contain the NUL character (U+0000)")]
        yield


class TrustedOnly(SchemaExtension):
    """`CONTACTQL_TRUSTED_DOCUMENTS`: a key that is not admin runs only the manifest's documents
    (persisted.TrustedDocuments), over HTTP and WebSocket alike. A request that named a trusted
    document by id or hash carries its exact text here, so the text is what is checked."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        caller = context.context
        trusted = getattr(getattr(caller, "services", None), "trusted", None)
        if trusted is not None and not context.pre_execution_errors and caller.principal.scope is not Scope.ADMIN and not trusted.trusts(context.query or ""):
            context.pre_execution_errors = [
                ApiError("this server runs only its trusted documents for keys that are not admin (CONTACTQL_TRUSTED_DOCUMENTS): send one by its documentId", "FORBIDDEN")
            ]
        yield


def _nul_in_variables(variables: dict[str, Any] | None) -> str | None:
    if not variables or not _has_nul(variables) or (path := nul_path(variables)) is None:
        return None
    name, *rest = path
    return f'Variable "${name}{"".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)}"'


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


BUSY = "the database is busy (another process holds its write lock); nothing was written: try again"


class ErrorMasking(MaskErrors):
    """Unexpected errors become "Unexpected error." with code INTERNAL and a request id that the
    server log repeats next to the traceback; every other error gets a code too."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask)

    def on_operation(self) -> Iterator[None]:
        # The operation is counted here (metrics.py) rather than by an extension of its own:
        # each Strawberry extension costs ~35 µs a request (benchmarks/ab_serve.py), and this
        # one wraps the whole operation already. After the masking: the outcome has its code.
        started = time.perf_counter()
        yield from super().on_operation()
        record_operation(self.execution_context, time.perf_counter() - started)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", "-")
        original = error.original_error
        masked = super().anonymise_error(error)
        if original is not None and is_busy(original):
            # Not a fault of ContactQL's: another process kept SQLite's write lock past the busy
            # timeout. Nothing was written; the client may try again.
            log.warning("request %s: the database was busy at %s (its write lock held elsewhere)", request_id, error.path)
            masked.message = BUSY
            masked.extensions = {"code": "UNAVAILABLE", "retryAfter": 1, "requestId": request_id}
            return masked
        log.error("request %s: unexpected error at %s", request_id, error.path, exc_info=original or error)
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


def extensions(*, introspection: bool, trusted: bool = False, traced: Callable[[], SchemaExtension] | None = None) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    from contactql.limits import RateLimit

    # Order matters: DocumentLimits adds its rule before ValidationCache validates; NoNulText,
    # TrustedOnly and RateLimit look at the validated document (see their on_validate).
    # TrustedOnly only where trusted documents are configured: an extension costs every request.
    # Tracing first: the operation's span covers everything the others do.
    chosen: list[Any] = [*([traced] if traced else []), ErrorMasking, TokenLimit, SizedParserCache, DocumentLimits, ValidationCache, NoNulText, *([TrustedOnly] if trusted else []), RateLimit]
    if not introspection:
        from strawberry.extensions import DisableIntrospection

        chosen.append(DisableIntrospection)
    return chosen

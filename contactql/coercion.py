"""Variable values coerced by functions compiled once per input type (issue 23).

graphql-core's `coerce_input_value` walks generic structures for every value, checking every
field a type defines whether the value has it or not, and first walks the whole value again to
check its nesting depth: ~50 µs for each contact of a batch, a 1 000-contact document ~50 ms
on the event loop (benchmarks/coercion.py; ~8 ms here). Here each input type becomes one
function, built the first time a variable of that type arrives, that does graphql-core's work
for a value it accepts and nothing else.

The compiled path only ever *accepts*: anything it does not take as plainly valid (a wrong
type, a missing required field, an unknown field, a non-list where a list goes, a recursive
input type, a default to apply to the variable itself) gives the whole request to
graphql-core's own `get_variable_values`, so every error, its message and its path are
graphql-core's. What it accepts it returns exactly as graphql-core would: the same values, the
same keys in the same order, the same defaults; tests/unit/test_coercion.py runs both over the
same generated inputs.

graphql-core has no hook for variable coercion: `Executor.build` calls the module-level
`get_variable_values` of `graphql.execution.executor`, which `install()` replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import graphql.execution.executor as executor
from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    VariableDefinitionNode,
    get_named_type,
    is_required_input_field,
)
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import VariableValues, VariableValueSource, get_variable_values
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.utilities.coerce_input_value import coerce_default_value

Coercer = Callable[[Any], Any]


class NotPlain(Exception):
    """A value the compiled path does not take: graphql-core decides (and words the error)."""


_REQUIRED = object()  # a field's default when it has none and must be given


def _scalar(type_: GraphQLScalarType | GraphQLEnumType, nullable: bool) -> Coercer:
    coerce = type_.coerce_input_value

    def scalar(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise NotPlain
        try:
            coerced = coerce(value)
        except Exception:  # noqa: BLE001 - graphql-core takes any error as invalid; it will say which
            raise NotPlain from None
        if coerced is Undefined:
            raise NotPlain
        return coerced

    return scalar


def _list(item: Coercer, nullable: bool) -> Coercer:
    def coerce_list(value: Any) -> Any:
        if type(value) is list:
            return [item(one) for one in value]
        if value is None and nullable:
            return None
        raise NotPlain  # graphql-core takes a single value as a list of one; it decides

    return coerce_list


def _takes_text(type_: GraphQLInputType) -> bool:
    """String and ID return a str as it is: the object coercer copies one without a call."""
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return named is GraphQLString or named is GraphQLID


def _object(type_: GraphQLInputObjectType, nullable: bool, compiled: dict[tuple[str, bool | None], Coercer | None]) -> Coercer:
    fields = []  # in the type's order, which is the order graphql-core gives the coerced keys
    defaults: dict[str, Any] = {}
    for name, field in type_.fields.items():
        fields.append((name, field.out_name or name, _takes_text(field.type), _compile(field.type, compiled)))
        if is_required_input_field(field):
            defaults[name] = _REQUIRED
        else:
            default = coerce_default_value(field)  # memoised by graphql-core: the same object it uses
            if default is not Undefined:
                defaults[name] = default
    known = frozenset(type_.fields)
    out_type = type_.out_type
    converts = out_type is not GraphQLInputObjectType.out_type  # the identity unless a type sets one
    one_of = type_.is_one_of

    def coerce_object(value: Any) -> Any:
        if type(value) is not dict or not value.keys() <= known:
            if value is None and nullable:
                return None
            raise NotPlain
        coerced = {}
        for name, out_name, text, coerce in fields:
            if name in value:
                given = value[name]
                coerced[out_name] = given if text and type(given) is str else coerce(given)
            elif name in defaults:
                default = defaults[name]
                if default is _REQUIRED:
                    raise NotPlain
                coerced[out_name] = default
        if one_of and (len(value) != 1 or len(coerced) != 1 or next(iter(coerced.values())) is None):
            raise NotPlain
        if not converts:
            return coerced
        try:
            return out_type(coerced)
        except Exception:  # noqa: BLE001 - graphql-core lets it escape; on its path it still does
            raise NotPlain from None

    return coerce_object


def _compile(type_: GraphQLInputType, compiled: dict[tuple[str, bool | None], Coercer | None]) -> Coercer:
    """`compiled`: the input object types of this compilation by name and nullability, and by
    name and None while a type is being compiled (met again then, it contains itself)."""
    nullable = not isinstance(type_, GraphQLNonNull)
    if not nullable:
        type_ = type_.of_type  # type: ignore[union-attr]
    if isinstance(type_, GraphQLList):
        return _list(_compile(type_.of_type, compiled), nullable)
    if isinstance(type_, GraphQLInputObjectType):
        key = (type_.name, nullable)
        if key not in compiled:
            if (type_.name, None) in compiled:  # the type contains itself (filters): nesting is unbounded
                raise RecursionError
            compiled[type_.name, None] = None
            compiled[key] = _object(type_, nullable, compiled)
            del compiled[type_.name, None]
        return compiled[key]  # type: ignore[return-value]
    assert isinstance(type_, (GraphQLScalarType, GraphQLEnumType))
    return _scalar(type_, nullable)


def _depth(type_: GraphQLInputType) -> int:
    """The deepest a value of this (non-recursive) type can nest, as graphql-core counts it."""
    if isinstance(type_, GraphQLNonNull):
        return _depth(type_.of_type)
    if isinstance(type_, GraphQLList):
        return 1 + _depth(type_.of_type)
    if isinstance(type_, GraphQLInputObjectType):
        return 1 + max((_depth(field.type) for field in type_.fields.values()), default=0)
    return 0


# A variable's type is built anew from the document each request (`[ContactInput!]!`), so the
# key is its named type (one object per schema) and how it is wrapped. Validation only lets
# wrappings through that fit an argument, so the keys are few; the cap is a guard.
_coercers: dict[tuple[GraphQLNamedType, str], Coercer | None] = {}
_MOST_COERCERS = 1024


def coercer(type_: GraphQLInputType) -> Coercer | None:
    """The compiled coercer of a variable's type; None for a type it does not cover (recursive,
    or deeper than graphql-core's nesting limit), whose values graphql-core coerces."""
    key = (get_named_type(type_), str(type_))
    if key in _coercers:
        return _coercers[key]
    try:
        coerce: Coercer | None = _compile(type_, {})
    except RecursionError:
        coerce = None
    if coerce is not None and _depth(type_) > MAX_NESTING_DEPTH:
        coerce = None
    if len(_coercers) < _MOST_COERCERS:
        _coercers[key] = coerce
    return coerce


def coerced_variable_values(
    schema: GraphQLSchema,
    var_def_nodes: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> VariableValues | list[GraphQLError]:
    """`get_variable_values`, by the compiled coercers where every variable's value is plain."""
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    try:
        for node in var_def_nodes:
            signature = get_variable_signature(schema, node)
            if isinstance(signature, GraphQLError):
                raise NotPlain
            name = signature.name
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if node.default_value or isinstance(signature.type, GraphQLNonNull):
                    raise NotPlain  # a default to apply, or a required variable missing
                sources[name] = VariableValueSource(signature)
                continue
            coerce = coercer(signature.type)
            if coerce is None:
                raise NotPlain
            sources[name] = VariableValueSource(signature, value)
            coerced[name] = coerce(value)
    except NotPlain:
        return get_variable_values(schema, var_def_nodes, inputs, max_errors=max_errors, hide_suggestions=hide_suggestions)
    return VariableValues(sources, coerced)


def install() -> None:
    """Have graphql-core's executor coerce variables by the compiled path (idempotent)."""
    executor.get_variable_values = coerced_variable_values

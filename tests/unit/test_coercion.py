"""The compiled coercer (contactql/coercion.py) answers every variable value as graphql-core
does: the same coerced values, keys in the same order, the same defaults, and the same errors,
over generated values of every input type of the served schema — messy ones included (wrong
types, unknown and missing fields, nulls, single values for lists, 32-bit edges, exponents,
control characters, unicode, one-of with two keys) (issue 23)."""

from __future__ import annotations

import enum
import math
from typing import Any

import graphql.execution.executor as executor
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    is_input_type,
    is_required_input_field,
    parse,
    parse_type,
    type_from_ast,
)
from graphql.execution import values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactql import coercion
from contactql.schema.root import build_schema

SCHEMA: GraphQLSchema = build_schema()._schema
INPUT_TYPES = sorted(name for name, type_ in SCHEMA.type_map.items() if isinstance(type_, GraphQLInputObjectType) and not name.startswith("__"))

TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", "Åse", "né\u0301", "\x00", "\x1b[31m", "\u202e", "🙂", "a" * 300, "+4790812501", "x@example.com", "1e3", "47"]),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, -1, 47, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 10**30]),
    st.floats(allow_nan=False),
    st.sampled_from([47.0, 1e3, 1e308, -0.0, 0.5, 2.0**31, float("inf")]),
)
ANY_LEAF = st.one_of(TEXT, NUMBERS, st.booleans(), st.none())


CLEAN_NUMBERS = st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.sampled_from([47.0, 1e3, -0.0, 2.0**31 - 1]))


def leaf(type_: GraphQLScalarType | GraphQLEnumType, messy: bool) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLEnumType):
        names = st.sampled_from(sorted(type_.values))
        return st.one_of(names, st.sampled_from([s.lower() for s in type_.values]), ANY_LEAF) if messy else names
    clean = {"String": TEXT, "ID": st.one_of(TEXT, CLEAN_NUMBERS), "Int": CLEAN_NUMBERS, "Boolean": st.booleans()}.get(type_.name, TEXT)
    if not messy:
        return clean
    own = {"ID": st.one_of(TEXT, NUMBERS), "Int": NUMBERS}.get(type_.name, clean)
    return st.one_of(own, own, own, ANY_LEAF)  # mostly the right kind, often not


def value_of(type_: GraphQLInputType, messy: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type's shape; when `messy`, any part of one may be of the wrong kind."""
    wrong = st.one_of(st.none(), ANY_LEAF)
    if isinstance(type_, GraphQLNonNull):
        inner = value_of(type_.of_type, messy, depth)
        return st.one_of(inner, inner, st.none()) if messy else inner.filter(lambda v: v is not None)
    if isinstance(type_, GraphQLList):
        item = value_of(type_.of_type, messy, depth + 1)
        lists = st.lists(item, max_size=3)
        return st.one_of(lists, lists, item, wrong) if messy else st.one_of(lists, lists, st.none())
    if isinstance(type_, GraphQLInputObjectType):
        if depth > 3:
            return wrong
        fields = {name: value_of(field.type, messy, depth + 1) for name, field in type_.fields.items()}
        required = {n: fields[n] for n, f in type_.fields.items() if is_required_input_field(f)}
        optional = {n: s for n, s in fields.items() if n not in required}
        if type_.is_one_of and not messy:
            return st.sampled_from(sorted(fields)).flatmap(lambda n: st.fixed_dictionaries({n: fields[n].filter(lambda v: v is not None)}))
        unknown = st.dictionaries(st.sampled_from(["unknown", "Email", "first_name"]), ANY_LEAF, max_size=1) if messy else st.just({})
        objects = st.builds(lambda r, o, u: {**r, **o, **u}, st.fixed_dictionaries(required), st.fixed_dictionaries({}, optional=optional), st.one_of(st.just({}), st.just({}), unknown))
        return st.one_of(objects, objects, objects, wrong) if messy else st.one_of(objects, objects, objects, st.none())
    assert isinstance(type_, (GraphQLScalarType, GraphQLEnumType))
    return leaf(type_, messy)


def shape(value: Any) -> Any:
    """A value with its dict keys' order made part of equality."""
    if isinstance(value, dict):
        return ("dict", [(k, shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [shape(v) for v in value])
    if isinstance(value, float) and math.isinf(value):
        return ("inf", value > 0)
    return (type(value).__name__, value.value if isinstance(value, enum.Enum) else value)


def both(type_text: str, raw: dict[str, Any]) -> tuple[Any, Any]:
    definitions = parse(f"query Q({type_text}) {{ __typename }}").definitions[0].variable_definitions  # type: ignore[attr-defined]
    return values.get_variable_values(SCHEMA, definitions, raw), coercion.coerced_variable_values(SCHEMA, definitions, raw)


def assert_same(type_text: str, raw: dict[str, Any]) -> Any:
    slow, fast = both(type_text, raw)
    if isinstance(slow, list):
        assert isinstance(fast, list), (raw, fast)
        assert [e.message for e in fast] == [e.message for e in slow]
        return None
    assert not isinstance(fast, list), (raw, [e.message for e in fast])
    assert shape(fast.coerced) == shape(slow.coerced), raw
    assert {k: (s.signature.name, str(s.signature.type), s.value) for k, s in fast.sources.items()} == {
        k: (s.signature.name, str(s.signature.type), s.value) for k, s in slow.sources.items()
    }
    return fast.coerced


@st.composite
def variables(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(INPUT_TYPES))
    wrapping = draw(st.sampled_from(["{}", "{}!", "[{}!]!", "[{}]"]))
    type_text = wrapping.format(name)
    wrapped = type_from_ast(SCHEMA, parse_type(type_text))
    assert wrapped is not None and is_input_type(wrapped)
    given = draw(st.dictionaries(st.just("v"), value_of(wrapped, messy=draw(st.booleans())), max_size=1))
    return f"$v: {type_text}", given


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(variables())
def test_every_input_type_is_coerced_as_graphql_core_coerces_it(case: tuple[str, dict[str, Any]]) -> None:
    assert_same(*case)


CONTACT = {"email": "Kari@Example.com", "firstName": "Kari", "properties": [{"name": "city", "value": "Oslo"}], "lists": {"add": [{"name": "VIP"}]}}


@pytest.mark.parametrize(
    "contact",
    [
        {**CONTACT, "mobileCountryCode": "47"},  # a string for an Int
        {**CONTACT, "mobileCountryCode": 47.0},  # an integral float is an Int
        {**CONTACT, "mobileCountryCode": 4.7e1},
        {**CONTACT, "mobileCountryCode": 2**31},  # past 32 bits
        {**CONTACT, "mobileCountryCode": True},
        {**CONTACT, "emailOptIn": "true"},
        {**CONTACT, "emailStatus": "subscribed"},  # enum names are exact
        {**CONTACT, "emailStatus": "SUBSCRIBED"},
        {**CONTACT, "companies": "123"},  # a single value for a list
        {**CONTACT, "companies": [123, "c1"]},  # an Int ID is its decimal text
        {**CONTACT, "properties": {"name": "city", "value": "Oslo"}},
        {**CONTACT, "lists": {"add": [{"name": "A", "id": "1"}]}},  # one-of with two
        {**CONTACT, "lists": {"add": [{"name": None}]}},  # one-of with null
        {**CONTACT, "lists": {"add": [{}]}},
        {**CONTACT, "externalUrls": [{"url": "https://x.test"}]},  # ref is required
        {**CONTACT, "unknown": 1},
        {**CONTACT, "first_name": "x"},
        {**CONTACT, "firstName": "\x00\x1b\u202e🙂" * 50},
        {**CONTACT, "firstName": ["nested", ["deeper"]]},
        {**CONTACT, "address": None, "lastName": None},
        None,
        "a contact",
    ],
)
def test_the_edges_of_a_batch(contact: Any) -> None:
    assert_same("$input: UpsertContactsInput!", {"input": {"contacts": [CONTACT, contact, CONTACT], "match": {"rules": ["EMAIL"]}}})


def test_defaults_and_missing_variables() -> None:
    coerced = assert_same("$input: MatchStrategy, $other: ContactInput", {"input": {}})
    assert coerced is not None and list(coerced["input"]) == ["rules", "onMatch", "onNoMatch", "onMultipleMatches"]
    assert_same("$input: MatchStrategy = {onMatch: SKIP}", {})
    assert_same("$input: MatchStrategy!", {})
    assert_same("$input: Nope", {"input": 1})


def test_recursive_types_are_left_to_graphql_core() -> None:
    assert coercion.coercer(SCHEMA.get_type("ContactFilter")) is None  # type: ignore[arg-type]
    deep: dict[str, Any] = {"email": {"eq": "x@example.com"}}
    for _ in range(300):
        deep = {"and": [deep]}
    assert_same("$f: ContactFilter", {"f": deep})  # graphql-core's "nested too deeply"


def test_served_schemas_coerce_by_the_compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a path nothing takes: building the schema installs it, and a 1 000-contact batch is
    coerced without one call of graphql-core's coercion."""
    build_schema()
    assert executor.get_variable_values is coercion.coerced_variable_values
    calls = []
    original = values.coerce_input_value

    def counted(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(values, "coerce_input_value", counted)
    batch = {"input": {"contacts": [{**CONTACT, "email": f"c{i}@example.com"} for i in range(1000)]}}
    document = parse("query Q($input: UpsertContactsInput!) { __typename }")
    built = executor.Executor.build(SCHEMA, document, raw_variable_values=batch)  # where graphql-core coerces a request's variables
    assert not calls
    assert not isinstance(built, list) and len(built.variable_values.coerced["input"]["contacts"]) == 1000
    refused = executor.Executor.build(SCHEMA, document, raw_variable_values={"input": {"contacts": [{"email": 1}]}})
    assert calls  # a value it does not take goes to graphql-core, which words the error
    assert isinstance(refused, list) and refused[0].message == "Variable '$input' has invalid value at .contacts[0].email: String cannot represent a non string value: 1"

"""Input types given as JSON outside a request: `contactql export --filter-json` and
`--order-json`, checked and built as a GraphQL variable would be."""

from __future__ import annotations

import functools
from typing import Any

from graphql import GraphQLList, GraphQLNonNull
from graphql.utilities import coerce_input_value, validate_input_value
from strawberry.types.arguments import convert_argument

from contactql.schema.filters import ContactFilter, ContactOrder, contact_query
from contactql.schema.root import build_schema
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder as StoreContactOrder


def read_json_input(type_name: str, python_type: Any, value: Any, option: str) -> Any:
    """A value of an input type (ContactFilter, [ContactOrder!]) given as JSON outside a request
    (`contactql export --filter-json`): checked as a GraphQL variable would be, then built as
    Strawberry builds arguments. ValueError names the option and where the value is wrong."""
    schema = build_schema()
    graphql_type = schema._schema.get_type(type_name)
    assert graphql_type is not None
    input_type: Any = GraphQLList(GraphQLNonNull(graphql_type)) if isinstance(python_type, list) else graphql_type
    problems: list[str] = []
    validate_input_value(value, input_type, lambda error, path: problems.append(f"{option}: at {'.'.join(map(str, path)) or 'the top'}: {error.message}"))
    if problems:
        raise ValueError(problems[0])
    coerced = coerce_input_value(value, input_type)
    item = python_type[0] if isinstance(python_type, list) else python_type
    convert = functools.partial(convert_argument, type_=item, scalar_registry=schema.schema_converter.scalar_registry, config=schema.config)
    return [convert(v) for v in coerced] if isinstance(python_type, list) else convert(coerced)


def contacts_request(filter_json: Any, search: str | None, order_json: Any) -> tuple[ContactQuery, list[StoreContactOrder]]:
    """The query and order of `contactql export`'s JSON options."""
    filter_ = None if filter_json is None else read_json_input("ContactFilter", ContactFilter, filter_json, "--filter-json")
    order = [] if order_json is None else read_json_input("ContactOrder", [ContactOrder], order_json, "--order-json")
    return contact_query(filter_, search), [o.to_order() for o in order]

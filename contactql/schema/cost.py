"""What a request may cost, estimated from its document before anything runs.

After the conventions of IBM's GraphQL cost directives (`@cost`, `@listSize` with slicing
arguments and sized fields) and Shopify's calculated query cost:

- a field that returns an object costs 1 (`OBJECT_COST`) for each object it may return;
  scalar and enum fields cost nothing, introspection fields nothing either;
- a connection (a field with a `first` argument) returns `first` edges — the argument given,
  else its default, at most the connection's maximum — so what its `edges` select is counted
  that many times;
- a list sliced by `last` (`Contact.consents`) returns `last` items, the argument or its default;
- a list without `first` is counted at its assumed size (`ASSUMED_SIZES`, else
  `DEFAULT_LIST_SIZE`): an upper bound where ContactQL bounds it, a typical size where not;
- `totalCount` and the counts of `contactStats` cost `COUNT_COST` (a COUNT over the matching
  rows), a mutation field `MUTATION_COST` on top of what it selects;
- each condition of a `filter` and key of an `orderBy` costs `TERM_COST`, a `search`
  `SEARCH_COST`.

Fragments are costed once each (memoised by name and spread once per selection set, as
execution merges them), so the estimate is linear in the document however its fragments
nest: a chain of fragments spreading the previous one twice costs what it executes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

from contactql.schema.memo import DocumentMemo
from contactql.store.workspace.filters import MAX_CONDITIONS, MAX_DEPTH, MAX_TOTAL_VALUES, too_big

OBJECT_COST = 1
COUNT_COST = 10
MUTATION_COST = 10
DEFAULT_LIST_SIZE = 10
# Lists without `first`: (parent type, field) → items assumed.
ASSUMED_SIZES = {
    ("Contact", "externalUrls"): 3,  # at most 3
    ("Contact", "lists"): 5,
    ("Contact", "companies"): 5,
    ("Contact", "properties"): 10,
    ("Query", "properties"): 50,
    ("Query", "webhookEndpoints"): 20,  # at most 20
    ("UpsertContactPayload", "contacts"): 5,
    ("UpsertContactPayload", "invalidProperties"): 3,
    ("UpsertContactPayload", "userErrors"): 3,
    ("BatchResult", "invalidProperties"): 2,  # a page of 1 000 results stays affordable
    ("BatchResult", "errors"): 2,
    ("HistoryEntry", "changes"): 10,
    ("ContactStats", "byEmailStatus"): 9,  # a count per status at most
    ("ContactStats", "bySmsStatus"): 9,
    ("ContactStats", "byList"): 20,
    ("DuplicateGroup", "contacts"): 50,  # at most 50
}
# Fields that count rows (a COUNT over the matching contacts), like totalCount.
COUNTS = {("Query", "duplicates"), ("ContactStats", "total"), ("ContactStats", "byEmailStatus"), ("ContactStats", "bySmsStatus"), ("ContactStats", "byList")}
TERM_COST = 1  # each condition of a filter, each sort key
SEARCH_COST = 5
SIZED_FIELDS = ("edges",)
# The most a connection returns; a larger `first` is refused when it runs (INVALID_INPUT), so it
# is costed at the most rather than refused here for its cost.
MAX_FIRST = 100
MAX_FIRST_OF = {("Batch", "results"): 1000, ("Query", "duplicates"): 50}
MAX_LAST = 1000  # Contact.consents(last:)'s most; more is refused when it runs
# How deep a filter's raw value may nest (objects and lists) before it is too big: `and`, `or`
# and `not` five deep, each a list of objects holding lists of values.
MAX_DEPTH_OF_INPUT = 16


class CostEstimator:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}
        self._fragment_costs: dict[str, int] = {}
        self._in_progress: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        extra = MUTATION_COST if operation.operation is OperationType.MUTATION else 0
        return self._selection_set(operation.selection_set, root, per_field=extra)

    def _selection_set(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, per_field: int = 0) -> int:
        if selection_set is None:
            return 0
        total = 0
        spread: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent) + (0 if selection.name.value.startswith("__") else per_field)
            elif isinstance(selection, InlineFragmentNode):
                condition = self.schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
                total += self._selection_set(selection.selection_set, condition or parent, per_field)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)  # spread twice in one selection set, executed once
                total += self._fragment(selection.name.value)
        return total

    def _fragment(self, name: str) -> int:
        if name in self._fragment_costs:
            return self._fragment_costs[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._in_progress:  # unknown or a cycle: validation reports it
            return 0
        self._in_progress.add(name)
        condition = self.schema.get_type(fragment.type_condition.name.value)
        cost = 0 if condition is None else self._selection_set(fragment.selection_set, condition)
        self._in_progress.discard(name)
        self._fragment_costs[name] = cost
        return cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
            return 0
        definition = parent.fields[name]
        if name == "totalCount":
            return COUNT_COST
        counts = COUNT_COST if (parent.name, name) in COUNTS else 0
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType):
            return counts
        asks = self._arguments(node)
        if "first" in definition.args:
            first = min(self._first(node, definition.args["first"].default_value), MAX_FIRST_OF.get((parent.name, name), MAX_FIRST))
            return counts + asks + self._connection(node, named, first)
        inner = OBJECT_COST + self._selection_set(node.selection_set, named)
        if _is_list(definition.type) and "last" in definition.args:  # a list sliced by `last`: that many
            last = min(self._first(node, definition.args["last"].default_value, "last"), MAX_LAST)
            return counts + asks + last * inner
        if _is_list(definition.type):
            return counts + asks + ASSUMED_SIZES.get((parent.name, name), DEFAULT_LIST_SIZE) * inner
        return counts + asks + inner

    def _arguments(self, node: FieldNode) -> int:
        """What a field's filter, order and search add: each condition and sort key is a term
        of its SQL, a search a look-up in the search index."""
        cost = 0
        for argument in node.arguments or ():
            if argument.name.value in ("filter", "orderBy"):
                try:
                    cost += _size_of(argument.value, self.variables, 0)[0] * TERM_COST
                except _TooDeep:
                    pass  # refused before it runs (oversized_filter)
            elif argument.name.value == "search":
                cost += SEARCH_COST
        return cost

    def _connection(self, node: FieldNode, connection: GraphQLObjectType, first: int) -> int:
        """A connection object, its edges counted `first` times and the rest once."""
        return OBJECT_COST + self._connection_selections(node.selection_set, connection, first)

    def _connection_selections(self, selection_set: SelectionSetNode | None, connection: GraphQLObjectType, first: int) -> int:
        """A connection's selections, its fragments' included: `edges` counts `first` times
        wherever it is selected — inline, in an inline fragment or in a named fragment on the
        connection type (costed once per `first`, so a fragment spread in many places stays linear)."""
        cost = 0
        spread: set[str] = set()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value in SIZED_FIELDS:
                cost += first * self._field_items(selection, connection)
            elif isinstance(selection, FieldNode):
                cost += self._field(selection, connection)
            elif isinstance(selection, InlineFragmentNode):
                cost += self._connection_selections(selection.selection_set, connection, first)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                cost += self._connection_fragment(selection.name.value, connection, first)
        return cost

    def _connection_fragment(self, name: str, connection: GraphQLObjectType, first: int) -> int:
        key = f"{name}\x00{first}"
        if key in self._fragment_costs:
            return self._fragment_costs[key]
        fragment = self.fragments.get(name)
        if fragment is None or key in self._in_progress:  # unknown or a cycle: validation reports it
            return 0
        self._in_progress.add(key)
        cost = self._connection_selections(fragment.selection_set, connection, first)
        self._in_progress.discard(key)
        self._fragment_costs[key] = cost
        return cost

    def _field_items(self, node: FieldNode, parent: GraphQLObjectType) -> int:
        """The cost of one item of a list field (an edge)."""
        definition = parent.fields.get(node.name.value)
        named = get_named_type(definition.type) if definition else None
        return OBJECT_COST + self._selection_set(node.selection_set, named) if isinstance(named, GraphQLObjectType) else 0

    def _first(self, node: FieldNode, default: Any, name: str = "first") -> int:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value: Any = argument.value
                if isinstance(value, IntValueNode):
                    return max(0, int(value.value))
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value)
                    if isinstance(given, IntValueNode):  # the variable's default (`$n: Int = 500`)
                        given = int(given.value)
                    return max(0, given) if isinstance(given, int) else _default(default)
                return _default(default)
        return _default(default)


def _default(default: Any) -> int:
    return default if isinstance(default, int) else DEFAULT_LIST_SIZE


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def estimate(
    schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> int:
    """The estimated cost of running `operation` of `document` with `variables`."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return CostEstimator(schema, fragments, _with_defaults(_defaults(operation), variables)).operation(operation)


def oversized_filter(document: Any, variables: Mapping[str, Any] | None) -> str | None:
    """Why a `filter` argument of the document is too big to run, or None.

    Checked on the request as it came (literals and variables), before Strawberry turns
    arguments into input objects: that conversion costs about a millisecond per filter object,
    so a 1 MB body of 8 000 nested filters would hold the event loop for seconds before the
    store's own check (store/workspace/filters.py) saw it. Objects count as conditions, items
    of lists of scalars as listed values, as there."""
    filters = _filter_arguments(document)
    # A variable the request leaves out takes its default from the operation that declares it:
    # measured with each operation's defaults (a fragment's filter may run under any of them).
    for defaults in _operation_defaults(document) if filters else ():
        given = _with_defaults(defaults, variables)
        for node in filters:
            try:
                conditions, values = _size_of(node.value, given, 0)
            except _TooDeep:
                return f"and, or and not may be nested at most {MAX_DEPTH} deep"
            if conditions > MAX_CONDITIONS or values > MAX_TOTAL_VALUES:
                return too_big(conditions, values)
    return None


def _defaults(operation: OperationDefinitionNode) -> dict[str, ValueNode]:
    """The operation's variables' default values, as written (literals, measured as such)."""
    return {d.variable.name.value: d.default_value for d in operation.variable_definitions or () if d.default_value is not None}


def _with_defaults(defaults: Mapping[str, Any], variables: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {**defaults, **variables} if defaults and variables else defaults or variables or {}


# Found once per parsed document (memo.py): walking every node of it (graphql-core computes a
# node's `keys` on each access) was ~6 % of a single upsert's server time.
FILTERS: DocumentMemo[tuple[ArgumentNode, ...]] = DocumentMemo()


def _filter_arguments(document: Any) -> tuple[ArgumentNode, ...]:
    return FILTERS.get(document, None, lambda: tuple(node for node in _argument_nodes(document) if node.name.value == "filter"))


def _operation_defaults(document: Any) -> tuple[dict[str, ValueNode], ...]:
    """Each operation's `_defaults`, at least one (empty) mapping."""
    return tuple(_defaults(d) for d in document.definitions if isinstance(d, OperationDefinitionNode)) or ({},)


class _TooDeep(Exception):
    pass


def _argument_nodes(node: Node) -> Iterator[ArgumentNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ArgumentNode):
            yield current
            continue
        for key in current.keys:
            child = getattr(current, key, None)
            if isinstance(child, Node):
                stack.append(child)
            elif isinstance(child, tuple | list):
                stack.extend(c for c in child if isinstance(c, Node))


def _size_of(value: Any, variables: Mapping[str, Any], depth: int) -> tuple[int, int]:
    """(objects, scalars in lists) of a literal or a variable's value; past a depth no filter
    reaches, _TooDeep."""
    if depth > MAX_DEPTH_OF_INPUT:
        raise _TooDeep
    if isinstance(value, VariableNode):
        value = variables.get(value.name.value)
    if isinstance(value, ObjectValueNode):
        value = {f.name.value: f.value for f in value.fields}
    elif isinstance(value, ListValueNode):
        value = list(value.values)
    if isinstance(value, dict):
        objects, scalars = 1, 0
        for child in value.values():
            more, more_scalars = _size_of(child, variables, depth + 1)
            objects, scalars = objects + more, scalars + more_scalars
        return objects, scalars
    if isinstance(value, list):
        objects = scalars = 0
        for item in value:
            if isinstance(item, VariableNode):
                item = variables.get(item.name.value)
            if isinstance(item, dict | list | ObjectValueNode | ListValueNode):
                more, more_scalars = _size_of(item, variables, depth + 1)
                objects, scalars = objects + more, scalars + more_scalars
            else:
                scalars += 1
        return objects, scalars
    return 0, 0

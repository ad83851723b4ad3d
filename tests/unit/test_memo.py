"""What is worked out once per parsed document (contactql/schema/memo.py) is kept by the
document's identity and what else it depends on, and goes with the document."""

from __future__ import annotations

import gc

from graphql import parse

from contactql.schema.memo import DocumentMemo
from contactql.schema.root import build_schema


def test_a_value_is_made_once_per_document_and_key() -> None:
    memo: DocumentMemo[list[str]] = DocumentMemo()
    made: list[str] = []
    first, twin = parse("{ a }"), parse("{ a }")

    def make(what: str) -> list[str]:
        made.append(what)
        return [what]

    assert memo.get(first, 1, lambda: make("first")) == ["first"]
    assert memo.get(first, 1, lambda: make("again")) == ["first"]
    assert memo.get(twin, 1, lambda: make("twin")) == ["twin"], "an equal document is another document"
    assert memo.get(first, 2, lambda: make("other key")) == ["other key"]
    assert made == ["first", "twin", "other key"]
    del first
    gc.collect()
    assert len(memo) == 1 and twin in memo


async def test_one_document_is_validated_for_each_schema_it_runs_on() -> None:
    """Strawberry's parser cache is shared by every schema of the process: the same document
    object reaches a schema that shows introspection and one that does not."""
    shown, hidden = build_schema(introspection=True), build_schema(introspection=False)
    query = "{ __schema { queryType { name } } }"
    assert (await shown.execute(query)).errors is None
    refused = await hidden.execute(query)
    assert refused.errors and "introspection" in refused.errors[0].message.lower()
    assert (await shown.execute(query)).errors is None
    assert (await hidden.execute(query)).errors

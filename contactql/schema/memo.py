"""Work done once per parsed document, kept for as long as the document lives.

Strawberry's parser cache hands back the same DocumentNode for the same text, so what follows
from a document alone — its validation, its `filter` arguments — can be kept by the document's
identity. Not by its hash: graphql-core 3.3's nodes are dataclasses whose hash walks the whole
tree, 12 µs for an upsertContact document, on every request, as the key of Strawberry's
ValidationCache (an `lru_cache`). A weak reference drops an entry with its document, so a memo
holds no more entries than the parser cache keeps documents alive, plus the requests under way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class DocumentMemo(Generic[V]):
    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], Hashable, V]] = {}

    def get(self, document: Any, key: Hashable, make: Callable[[], V]) -> V:
        """`make()` for this document object and `key` (what else the value depends on), worked
        out once while both stay the same."""
        ident = id(document)
        entry = self._entries.get(ident)
        if entry is not None and entry[0]() is document and entry[1] == key:
            return entry[2]
        value = make()
        entries = self._entries

        def forget(ref: weakref.ref[Any]) -> None:
            if (current := entries.get(ident)) is not None and current[0] is ref:
                del entries[ident]

        entries[ident] = (weakref.ref(document, forget), key, value)
        return value

    def __contains__(self, document: Any) -> bool:
        entry = self._entries.get(id(document))
        return entry is not None and entry[0]() is document

    def __len__(self) -> int:
        return len(self._entries)

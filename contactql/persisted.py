"""Automatic persisted queries: Apollo's protocol, which Apollo Client's persisted-query link and
urql's persistedExchange speak.

A client first sends only the SHA-256 of its document in
`extensions.persistedQuery = {version: 1, sha256Hash}`. A document any server process of the
database has seen from the same workspace runs as if it had been sent; an unknown one is answered with the error
`PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), and the client sends the document
once with its hash. A hash that is not the document's is refused, so no entry can map a hash
to another document. Entries are per workspace: a hash only finds a document the same
workspace sent. Each process keeps its recently used documents in memory, bounded in entries
and bytes (least recently used goes first); the database keeps the newest of each workspace
(store/workspace/persisted.py). A miss costs one round trip, never a wrong answer.

Hand-written rather than a library: Strawberry has no APQ, and the protocol is the five rules
above over a dict.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from contactql.store.workspace import persisted
from contactql.supervise import Clock, utc_now

if TYPE_CHECKING:
    from contactql.store.db.database import Database

MAX_ENTRIES = 10_000
MAX_BYTES = 32 * 1024 * 1024  # of documents, in all
MAX_DOCUMENT_BYTES = 256 * 1024  # a larger one runs but is not kept
DOCUMENT_ID = "documentId"  # GraphQL over HTTP's persisted documents: the body's documentId, kept in extensions
NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """The request's persistedQuery cannot be used: `code` and a message for the client."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code


def with_document_id(data: dict[str, Any]) -> dict[str, Any]:
    """A request's `documentId` (GraphQL over HTTP's persisted documents, as GraphQL Code
    Generator's client sends it) moved into its extensions, which Strawberry hands on."""
    if DOCUMENT_ID not in data:
        return data
    extensions = data.get("extensions")
    return {**data, "extensions": {**(extensions if isinstance(extensions, dict) else {}), DOCUMENT_ID: data[DOCUMENT_ID]}}


def requested_hash(extensions: Any) -> str | None:
    """The sha256Hash a request names, checked; None when it names none."""
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise PersistedQueryError("extensions.persistedQuery must be an object such as {\"version\": 1, \"sha256Hash\": \"…\"}")
    if persisted.get("version") != 1:
        raise PersistedQueryError("extensions.persistedQuery.version: only version 1 is supported", "PERSISTED_QUERY_NOT_SUPPORTED")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise PersistedQueryError("extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits (the SHA-256 of the document)")
    return digest


class PersistedQueries:
    """The documents clients named by hash: this process's recently used ones in memory, and,
    given a database, every process's in it (store/workspace/persisted.py), so a client behind
    a load balancer sends a document once, not once per process."""

    def __init__(self, db: Database | None = None, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, clock: Clock = utc_now) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._db = db
        self._clock = clock
        self._documents: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._bytes = 0

    async def document(self, workspace_id: int, query: str | None, extensions: Any) -> str | None:
        """The document to run: `query` itself (kept under its hash when the request names
        one), or the kept document the hash names. Raises PersistedQueryError."""
        digest = requested_hash(extensions)
        if digest is None:
            return query
        key = (workspace_id, digest)
        if query is None or query == "":
            found = self._documents.get(key)
            if found is not None:
                self._documents.move_to_end(key)
                return found
            found = await self._db.read(persisted.find, workspace_id=workspace_id, sha256=digest) if self._db is not None else None
            if found is None:
                raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE)
            self._keep(key, found)
            return found
        if key in self._documents:
            if self._documents[key] != query:  # the kept one is that hash's document
                raise PersistedQueryError("extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
            return query
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
        return query  # kept by `remember` once it has run: a refused request stores nothing

    async def remember(self, workspace_id: int, query: str | None, extensions: Any) -> None:
        """Keep a document its request sent with a hash (`document` checked the pair), after the
        request ran: not one that did not parse, was invalid or was over the rate limit."""
        try:
            digest = requested_hash(extensions)
        except PersistedQueryError:
            return
        if digest is None or not query:
            return
        key = (workspace_id, digest)
        if key in self._documents:
            self._documents.move_to_end(key)
            return
        if self._keep(key, query) and self._db is not None:
            await self._db.write(persisted.store, workspace_id=workspace_id, sha256=digest, document=query, now=self._clock())

    def __len__(self) -> int:
        return len(self._documents)

    def forget(self, workspace_id: int) -> None:
        """Drop the workspace's documents from memory (an erasure deleted its stored ones: a
        document may quote the person); its clients send them again when asked."""
        for key in [key for key in self._documents if key[0] == workspace_id]:
            self._bytes -= len(self._documents.pop(key).encode())

    def _keep(self, key: tuple[int, str], query: str) -> bool:
        """Keep `query` in memory; False when it is too large to keep at all."""
        size = len(query.encode())
        if size > MAX_DOCUMENT_BYTES:
            return False
        if key not in self._documents:
            self._documents[key] = query
            self._bytes += size
        while len(self._documents) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._documents.popitem(last=False)
            self._bytes -= len(dropped.encode())
        return True


class TrustedDocuments:
    """The operations a frontend was built with (`CONTACTQL_TRUSTED_DOCUMENTS`): the manifest
    GraphQL Code Generator's client preset writes with `persistedDocuments: true`
    (`persisted-documents.json`, `{"<hash>": "<document>"}`, whatever its hash algorithm).

    With it, a key that is not admin runs only these documents: by `documentId` (the manifest's
    key, as the client preset sends it), by Apollo's `extensions.persistedQuery.sha256Hash`, or
    sent in full, text for text. Admin keys run anything (GraphiQL, scripts).
    """

    def __init__(self, documents: dict[str, str], source: str) -> None:
        self.source = source
        self.by_id = documents
        self.by_sha256 = {hashlib.sha256(text.encode()).hexdigest(): text for text in documents.values()}

    @classmethod
    def load(cls, path: str) -> TrustedDocuments:
        """Read a manifest; ValueError says what is wrong with it, in one line."""
        import json

        try:
            with open(path, encoding="utf-8") as file:
                manifest = json.load(file)
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
        if not isinstance(manifest, dict) or not manifest:
            raise ValueError(f'{path} must be a JSON object of hash → document, as GraphQL Code Generator writes it ({{"<hash>": "query … {{ … }}"}})')
        for key, text in manifest.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}: the entry {key[:80]!r} is not a document")
        return cls(manifest, path)

    def __len__(self) -> int:
        return len(self.by_id)

    def document(self, document_id: Any, query: str | None, extensions: Any) -> str | None:
        """The trusted document a request names by `documentId` or sha256Hash, or `query` as
        sent (checked later, for the key). Raises PersistedQueryError for an unknown id."""
        if document_id is not None:
            if not isinstance(document_id, str) or document_id not in self.by_id:
                raise PersistedQueryError("documentId: no trusted document has this id (CONTACTQL_TRUSTED_DOCUMENTS)", NOT_FOUND_CODE)
            return self.by_id[document_id]
        digest = requested_hash(extensions)
        if digest is not None and not query:
            found = self.by_sha256.get(digest)
            if found is None:
                raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE)
            return found
        return query

    def trusts(self, query: str) -> bool:
        return hashlib.sha256(query.encode()).hexdigest() in self.by_sha256
